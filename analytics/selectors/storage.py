"""The storage figures: measured from the files' tables for a snapshot
(`storage_measure`, analytics.services.snapshots writes them hourly), read back from the
latest snapshot for the endpoints and the dashboard.

Each measured figure is one aggregate over the tenant's rows, never a loop over files:
blobs (physical bytes, tiers, replicas), renditions, the files with all their versions
(logical bytes and the breakdowns by owner, top-level folder and content type, in one pass
with grouping sets), tags and labels.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db import connection
from django.db.models.functions import TruncDate

from accounts.models import Membership, Tenant
from analytics.models import StorageSnapshot
from analytics.selectors.access import owners_and_admins
from files.models import BlobTier, Folder
from files.selectors import type_group
from files.services.quota import tenant_usage_bytes
from mediaportal.exceptions import ValidationFailed

HISTORY_FIELDS = (
    "files",
    "logical_bytes",
    "physical_bytes",
    "rendition_bytes",
    "hot_bytes",
    "archive_bytes",
    "replicated_bytes",
    "quota_bytes",
)


_BLOBS = """
SELECT coalesce(sum(size), 0)::bigint,
    coalesce(sum(size) FILTER (WHERE tier = %(hot)s), 0)::bigint,
    coalesce(sum(size) FILTER (WHERE tier <> %(hot)s), 0)::bigint,
    coalesce(sum(size) FILTER (WHERE replicated_at IS NOT NULL), 0)::bigint
FROM files_blob WHERE tenant_id = %(tenant)s
"""
_RENDITIONS = """
SELECT coalesce(sum(size), 0)::bigint, coalesce(sum(size) FILTER (WHERE replicated_at IS NOT NULL), 0)::bigint
FROM files_rendition WHERE tenant_id = %(tenant)s
"""
# Every file with the bytes of all its versions; then, in one pass over those, the totals
# and the breakdowns. Trashed files count in the totals and by owner (they still hold
# storage), not by folder or type: those describe what the folders hold.
_FILES = """
WITH per_file AS (
    SELECT f.id, u.username AS owner, f.content_type, f.deleted_at IS NULL AS live,
        CASE WHEN fo.path LIKE '/%%' THEN '/' || split_part(fo.path, '/', 2) || '/' ELSE '/' END AS top,
        sum(b.size)::bigint AS bytes
    FROM files_file f
    JOIN files_fileversion v ON v.file_id = f.id
    JOIN files_blob b ON b.id = v.blob_id
    LEFT JOIN files_folder fo ON fo.id = f.folder_id
    LEFT JOIN accounts_user u ON u.id = f.owner_id
    WHERE f.tenant_id = %(tenant)s
    GROUP BY f.id, u.username, fo.path
)
SELECT GROUPING(owner, top, content_type) AS grouping, owner, top, content_type,
    count(*), coalesce(sum(bytes), 0)::bigint,
    count(*) FILTER (WHERE live), coalesce(sum(bytes) FILTER (WHERE live), 0)::bigint
FROM per_file
GROUP BY GROUPING SETS ((), (owner), (top), (content_type))
"""
# GROUPING(owner, top, content_type) of each set: bit set = column not grouped.
_TOTAL, _BY_OWNER, _BY_TOP, _BY_TYPE = 7, 3, 5, 6
_TAGS = """
SELECT tag, count(DISTINCT f.id) FROM files_file f, unnest(f.tags) AS tag
WHERE f.tenant_id = %(tenant)s AND f.deleted_at IS NULL GROUP BY tag
"""
_LABELS = """
SELECT label ->> 'name', count(DISTINCT f.id)
FROM files_file f, jsonb_array_elements(CASE WHEN jsonb_typeof(f.labels) = 'array' THEN f.labels END) AS label
WHERE f.tenant_id = %(tenant)s AND f.deleted_at IS NULL AND label ->> 'name' IS NOT NULL GROUP BY 1
"""


def _rows(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _largest(rows: list[dict]) -> list[dict]:
    rows.sort(key=lambda row: (-row["bytes"], row.get("path") or row.get("user") or ""))
    return rows[: settings.ANALYTICS_BREAKDOWN_MAX_ROWS]


def _breakdowns(tenant_id) -> dict:
    """files, logical_bytes, by_user, by_folder, by_type of the tenant's files."""
    by_user, tops, by_type = [], {}, []
    totals = {"files": 0, "logical_bytes": 0}
    for grouping, owner, top, content_type, files, total, live_files, live_bytes in _rows(
        _FILES, {"tenant": tenant_id}
    ):
        if grouping == _TOTAL:
            totals = {"files": files, "logical_bytes": total}
        elif grouping == _BY_OWNER:
            by_user.append({"user": owner, "bytes": total, "files": files})
        elif grouping == _BY_TOP and live_files:
            tops[top] = {"bytes": live_bytes, "files": live_files}
        elif grouping == _BY_TYPE and live_files:
            by_type.append(
                {
                    "type": type_group(content_type),
                    "content_type": content_type,
                    "files": live_files,
                    "bytes": live_bytes,
                }
            )
    folder_ids = dict(
        Folder.objects.filter(tenant_id=tenant_id, parent=None, deleted_at=None, path__in=list(tops)).values_list(
            "path", "id"
        )
    )
    by_folder = [
        {"folder": str(folder_ids[path]) if path in folder_ids else None, "path": path, **counts}
        for path, counts in tops.items()
        if path == "/" or path in folder_ids
    ]
    by_type.sort(key=lambda row: (-row["bytes"], row["content_type"]))
    return {**totals, "by_user": _largest(by_user), "by_folder": _largest(by_folder), "by_type": by_type}


def storage_measure(*, tenant: Tenant) -> dict:
    """The figures of a snapshot of `tenant`, as of now (the fields of StorageSnapshot)."""
    params = {"tenant": tenant.id, "hot": BlobTier.HOT}
    physical, hot, archive, blobs_replicated = _rows(_BLOBS, params)[0]
    renditions, renditions_replicated = _rows(_RENDITIONS, params)[0]
    categories = {
        "labels": dict(sorted(_rows(_LABELS, params), key=lambda row: (-row[1], row[0]))),
        "tags": dict(sorted(_rows(_TAGS, params), key=lambda row: (-row[1], row[0]))),
    }
    return {
        **_breakdowns(tenant.id),
        "physical_bytes": physical,
        "rendition_bytes": renditions,
        "hot_bytes": hot,
        "archive_bytes": archive,
        "replicated_bytes": blobs_replicated + renditions_replicated,
        "quota_bytes": tenant.quota_bytes,
        "categories": categories,
    }


def _snapshot_figures(membership: Membership) -> dict:
    """The latest snapshot's figures with `as_of`; measured now when there is none yet."""
    snapshot = StorageSnapshot.objects.filter(tenant_id=membership.tenant_id).order_by("-hour").first()
    if snapshot is None:
        return {**storage_measure(tenant=membership.tenant), "as_of": None}
    figures = {field: getattr(snapshot, field) for field in HISTORY_FIELDS}
    return {
        **figures,
        "by_user": snapshot.by_user,
        "by_folder": snapshot.by_folder,
        "by_type": snapshot.by_type,
        "categories": snapshot.categories,
        "as_of": snapshot.taken_at,
    }


def storage_summary(*, membership: Membership) -> dict:
    """DESIGN 5.1 `analytics/storage/`: the latest snapshot, with the quota and its use as
    they are now (what the quota check counts)."""
    owners_and_admins(membership)
    figures = _snapshot_figures(membership)
    stored = figures["physical_bytes"] + figures["rendition_bytes"]
    return {
        "logical_bytes": figures["logical_bytes"],
        "physical_bytes": figures["physical_bytes"],
        "dedup_saved_bytes": max(figures["logical_bytes"] - figures["physical_bytes"], 0),
        "rendition_bytes": figures["rendition_bytes"],
        "hot_bytes": figures["hot_bytes"],
        "archive_bytes": figures["archive_bytes"],
        "replicated_bytes": figures["replicated_bytes"],
        # Of the stored bytes (originals and renditions), the share with a copy in the replica.
        "replica_coverage": round(figures["replicated_bytes"] / stored, 4) if stored else 1.0,
        "quota_bytes": membership.tenant.quota_bytes,
        "used_bytes": tenant_usage_bytes(tenant=membership.tenant),
        "files": figures["files"],
        "by_user": figures["by_user"],
        "by_folder": figures["by_folder"],
        "as_of": figures["as_of"],
    }


def file_types(*, membership: Membership) -> dict:
    """DESIGN 5.1 `analytics/file-types/`: files and bytes (all versions) per content type
    of the live files, with the files list's `type` group of each."""
    owners_and_admins(membership)
    figures = _snapshot_figures(membership)
    return {"results": figures["by_type"], "as_of": figures["as_of"]}


def categories(*, membership: Membership) -> dict:
    """DESIGN 5.1 `analytics/categories/`: live files per label and per tag, most first."""
    owners_and_admins(membership)
    figures = _snapshot_figures(membership)
    found = figures["categories"] or {}
    return {
        "labels": _most_first(found.get("labels")),
        "tags": _most_first(found.get("tags")),
        "as_of": figures["as_of"],
    }


def _most_first(counts: dict | None) -> dict:
    """Most files first, then by name (jsonb keeps its keys in an order of its own)."""
    return dict(sorted((counts or {}).items(), key=lambda item: (-item[1], item[0])))


def storage_history(*, membership: Membership, days: int = 30) -> dict:
    """The last snapshot of each of the last `days` days (UTC), oldest first: a chart's points."""
    owners_and_admins(membership)
    if not 1 <= days <= settings.ANALYTICS_USAGE_MAX_DAYS:
        raise ValidationFailed(f"days must be between 1 and {settings.ANALYTICS_USAGE_MAX_DAYS}.", code="invalid_range")
    first = datetime.now(UTC).date() - timedelta(days=days - 1)
    rows = (
        StorageSnapshot.objects.filter(
            tenant_id=membership.tenant_id, hour__gte=datetime.combine(first, time.min, tzinfo=UTC)
        )
        .annotate(date=TruncDate("hour", tzinfo=UTC))
        .order_by("date", "-hour")
        .distinct("date")
        .values("date", "taken_at", *HISTORY_FIELDS)
    )
    return {"results": [{**row, "date": row["date"].isoformat()} for row in rows]}
