"""Full-text search on PostgreSQL: two weighted vectors per file, one GIN, a vocabulary.

The vectors, their weights and the vocabulary are kept by triggers (files/sql/search/).
Query syntax is web-search style (`"exact phrase"`, `or`, `-exclude`), with the last word
also matched as a prefix so results appear while typing. Short prefixes are not expanded:
a 3-letter prefix matches so many lexemes that one query is slow at a million files.

Ranking comes in two tiers, which is what keeps a common word fast at a million files:

1. Files matching in their *head* (name A, tags and labels B, description and metadata C)
   rank first, by `ts_rank_cd` over the head vector. Heads are small and kept in the row,
   and the GIN index holds their words apart from the text's, so these are found and ranked
   cheaply however many files mention the word in their text.
2. Files matching only in their extracted text follow, ranked by the full vector. Reading a
   full vector means reading it from TOAST, so only the newest `TEXT_ONLY_RANKED` of them
   are ranked and paged through; that many text-only matches call for a filter. A phrase
   must be checked vector by vector even to be found, so its text-only matches are not
   ranked at all but listed newest first, checked only as far as the page needs.

Newest first breaks ties in both tiers. Facets and the tier sizes come from one pass over
the matches that needs no vector at all: the GIN index answers the match itself. When
nothing matches, misspelt words are corrected from the tenant's vocabulary of name and tag
words (`files_searchterm`, trigram-indexed) and the corrected query is searched instead.

Modules: `backend` (the flow), `query` (the parsed tsquery and its SQL), `ranking` (the
tiers and the page), `facets`, `suggest` ("did you mean"). Figures: docs/benchmarks.md.
"""

from __future__ import annotations

from files.search.postgres.backend import PostgresSearchBackend

__all__ = ["PostgresSearchBackend"]
