"""The search interface: what a search backend answers, and the page it answers with."""

from __future__ import annotations

import abc
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from accounts.models import Membership
from files.models import File


@dataclass
class SearchHit:
    file: File
    rank: float
    highlight: str
    # Where the highlighted words were found: "text" (name, description or extracted text),
    # "ocr" (text recognised in the picture or scan).
    matched_in: list[str] = field(default_factory=list)


@dataclass
class SearchPage:
    """One page of results; `facets` is {} when they were not asked for."""

    hits: list[SearchHit]
    facets: dict[str, dict[str, int]]
    has_more: bool
    suggestion: str | None = None


class SearchBackend(abc.ABC):
    """A search engine over a tenant's files, chosen by `settings.SEARCH_BACKEND`.

    The setting is configured like a cache: `{"BACKEND": "<dotted path of a subclass>",
    "OPTIONS": {...}}`, the options being the constructor's keyword arguments. One instance
    serves a whole process (`files.search.get_search_backend()`), so it keeps no per-request
    state.

    Whatever the engine, a member only ever learns of files they may see: hits, facet counts
    and suggestions all come from within `files.selectors.file_list(membership=...,
    filters=...)`, which applies `files.permissions.file_ids_visible_to`.
    """

    def __init__(self, **options: Any) -> None:
        if options:
            raise TypeError(f"{type(self).__name__} takes no options, got {', '.join(sorted(options))}")

    @abc.abstractmethod
    def search(
        self,
        *,
        membership: Membership,
        query: str = "",
        filters: Mapping[str, Any] | None = None,
        offset: int = 0,
        limit: int = 20,
        facets: bool = True,
    ) -> SearchPage:
        """The files matching `query` and `filters`, best first; all of them, newest first, without words.

        Query syntax is web-search style (`"exact phrase"`, `or`, `-exclude`). With `facets`,
        the page counts the matches by type, tag, label and year. When nothing matches, the
        page holds the results of `suggest()`'s correction, if it finds any, with
        `suggestion` set to it.
        """

    @abc.abstractmethod
    def suggest(self, *, membership: Membership, query: str, filters: Mapping[str, Any] | None = None) -> str | None:
        """The "did you mean" correction: `query` with its misspelt words corrected, or None.

        A correction only uses words of files the member may see (within `filters`).
        """

    @abc.abstractmethod
    def reindex(
        self,
        *,
        tenant_id: uuid.UUID | str | None = None,
        batch_size: int = 2000,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Rebuild the index of one tenant's files (all tenants' without `tenant_id`); returns the count.

        Work goes in batches of `batch_size`, each reported to `progress` as it is done.
        """
