"""Search behind a small interface, so another engine can replace PostgreSQL's.

`search(membership=..., query=..., filters=..., offset=..., limit=..., facets=True)`
returns a `SearchPage` (with `facets` {} when not asked for). Results are always intersected with what the member may see
(`files.permissions.file_ids_visible_to`, through `files.selectors.file_list`).
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


def reindex(*, tenant_id=None, batch_size: int = 2000, progress=None) -> int:
    """Recompute search vectors (one tenant, or all) in id-ordered batches; returns the count.

    Writing a column the vectors are made from fires the triggers that recompute them and
    that collect the words "did you mean" suggests, which start afresh here so words of
    renamed and purged files go.
    """
    from django.db import connection, transaction

    from files.models import SearchTerm

    files = File.objects.all() if tenant_id is None else File.objects.filter(tenant_id=tenant_id)
    (SearchTerm.objects.all() if tenant_id is None else SearchTerm.objects.filter(tenant_id=tenant_id)).delete()
    done, last_id = 0, None
    while True:
        batch = files.order_by("id") if last_id is None else files.filter(id__gt=last_id).order_by("id")
        ids = list(batch.values_list("id", flat=True)[:batch_size])
        if not ids:
            return done
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE files_file SET name = name WHERE id = ANY(%s)", [ids])
        done, last_id = done + len(ids), ids[-1]
        if progress:
            progress(len(ids))
