"""Search behind a small interface, so another engine can replace PostgreSQL's.

`search(membership=..., query=..., filters=..., offset=..., limit=...)` returns a
`SearchPage`. Results are always intersected with what the member may see
(`sharing.selectors.file_ids_visible_to`, through `files.selectors.file_list`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from files.models import File


@dataclass
class SearchHit:
    file: File
    rank: float
    highlight: str


@dataclass
class SearchPage:
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]]
    has_more: bool
    suggestion: str | None = None
    extra: dict = field(default_factory=dict)


def search(**kwargs) -> SearchPage:
    from files.search.postgres import search as postgres_search

    return postgres_search(**kwargs)
