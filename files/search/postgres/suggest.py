"""The "did you mean" correction, from the tenant's vocabulary of name and tag words.

The vocabulary (`files_searchterm`, kept by a trigger, trigram-indexed) holds the words of
every name the tenant ever had, the member's or not; a word is only offered when a file
the member may see has it in its name or tags now, so a suggestion never tells of a file
the member cannot see.
"""

from __future__ import annotations

import uuid

from django.contrib.postgres.search import SearchQuery
from django.db import connection, transaction
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

from files.models import File
from files.search.postgres.query import condition

SUGGEST_THRESHOLD = 0.3
SUGGEST_CANDIDATES = 5
SUGGEST_HOLDERS_CHECKED = 50


def correction(files: QuerySet[File], tenant_id: uuid.UUID, config: str, text: str) -> str | None:
    """`text` with each unknown word replaced by the most similar word of the names and tags
    of `files`, or None when no word could be corrected.

    `files` are those the member may see, as filtered. The caller searches for the
    correction and offers it only if it finds files.
    """
    words = text.lower().split()
    corrected, changed = [], False
    with transaction.atomic(), connection.cursor() as cursor:
        # `%` is the indexable form of similarity() >= threshold: the trigram GIN on
        # (tenant_id, term) finds the candidates among this tenant's words only.
        cursor.execute("SET LOCAL pg_trgm.similarity_threshold = %s", [SUGGEST_THRESHOLD])
        for word in words:
            cursor.execute(
                """
                SELECT term, term = mp_unaccent(%s) FROM files_searchterm
                WHERE tenant_id = %s AND term %% mp_unaccent(%s)
                ORDER BY term = mp_unaccent(%s) DESC, similarity(term, mp_unaccent(%s)) DESC, term
                LIMIT %s
                """,
                [word, tenant_id, word, word, word, SUGGEST_CANDIDATES],
            )
            # The closest word that a file the member may see has; the word itself (first
            # when the vocabulary has it) needs no correction.
            visible = (row for row in cursor.fetchall() if _visible_term(files, tenant_id, config, row[0]))
            term, exact = next(visible, (None, True))
            corrected.append(word if exact else term)
            changed = changed or not exact
    return " ".join(corrected) if changed else None


def _visible_term(files: QuerySet[File], tenant_id: uuid.UUID, config: str, term: str) -> bool:
    """Whether `term` is a word of the name or tags of one of `files`, as the vocabulary has it.

    The head vector's index finds the few files whose head holds the word's stem; their
    names and tags are then split into words the way the vocabulary's trigger does.
    The holders are a subquery, so they are written with the ORM, which renames the table
    there: raw SQL naming `files_file` in it would test the outer query's row instead (a
    correlated subquery that scans every file and sees only 50 arbitrary files of the tenant).
    """
    holders = (
        files.order_by()
        .annotate(tenant_text=Cast("tenant_id", output_field=TextField()))
        .filter(tenant_text=str(tenant_id), search_head=SearchQuery(term, config=config, search_type="plain"))
    )
    words_sql = """%s = ANY(tsvector_to_array(to_tsvector('mp_simple',
        regexp_replace(coalesce(files_file.name, ''), '[._\\-]+', ' ', 'g') || ' ' || array_to_string(files_file.tags, ' '))))"""
    return (
        File.objects.filter(pk__in=holders.values("pk")[:SUGGEST_HOLDERS_CHECKED])
        .filter(condition(words_sql, [term]))
        .exists()
    )
