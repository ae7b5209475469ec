"""The bucket describes itself: per tenant, a manifest object of everything the database
knows about the tenant's stored files, from which `restore_from_bucket` rebuilds them the
day the database and its backups are gone.

`tenants/<tenant>/manifest.json`, written hourly to the primary bucket and to the replica:
the tenant and its settings, members (usernames, e-mails, roles), groups, folders, blobs
(SHA-256, size, type, tier), renditions, and files (names, folders, owners, tags,
descriptions, labels, metadata, trash state, versions). It is JSON laid out one record
per line, so it is written and read as a stream, whatever the tenant's size:

    {"format": "mediaportal-tenant-manifest", "version": 1, "tenant": {...}, "counts": {...},
    "members":[
    {...},
    {...}
    ],
    "folders":[
    ...
    ]}

Extracted text (search's body text) is not in it: a restored file that had some is
processed again. Grants and share links are not either.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO

from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models import Case, Value, When

from accounts.models import Membership, Tenant, TenantGroup
from files import storage
from files.models import Blob, File, FileVersion, Folder, Rendition
from mediaportal.maintenance import maintenance_state

log = logging.getLogger(__name__)

FORMAT = "mediaportal-tenant-manifest"
MANIFEST_NAME = "manifest.json"
SECTIONS = ("members", "groups", "folders", "blobs", "renditions", "files")
# Rows read from each server-side cursor at a time, and bytes kept in memory before the
# manifest spills to a temporary file.
CHUNK = 2000
SPOOL_BYTES = 8 * 1024 * 1024
ROLES = ("primary", "replica")

TENANT_FIELDS = (
    "slug", "name", "quota_bytes", "max_upload_bytes", "archive_after_days", "noncurrent_archive_days",
    "trash_retention_days", "share_max_days", "search_config", "public_files", "created_at",
)  # fmt: skip


def manifest_key(tenant_id) -> str:
    return f"{storage.TENANTS_PREFIX}{tenant_id}/{MANIFEST_NAME}"


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _tenant(tenant: Tenant) -> dict:
    return {"id": str(tenant.pk), **{name: getattr(tenant, name) for name in TENANT_FIELDS}}


def _members(tenant: Tenant) -> Iterator[dict]:
    rows = Membership.objects.filter(tenant=tenant).order_by("user__username")
    fields = ("user_id", "user__username", "user__email", "user__first_name", "user__last_name",
              "user__is_active", "user__date_joined", "role", "created_at")  # fmt: skip
    for user_id, username, email, first, last, active, joined, role, since in rows.values_list(*fields).iterator(
        chunk_size=CHUNK
    ):
        yield {"user_id": str(user_id), "username": username, "email": email, "first_name": first,
               "last_name": last, "is_active": active, "date_joined": joined, "role": role, "since": since}  # fmt: skip


def _groups(tenant: Tenant) -> Iterator[dict]:
    for group in TenantGroup.objects.filter(tenant=tenant).order_by("pk").select_related("group"):
        members = Group.objects.filter(pk=group.group_id).values_list("user__username", flat=True)
        yield {
            "id": str(group.pk),
            "name": group.name,
            "created_at": group.created_at,
            "members": sorted(name for name in members if name),
        }


def _folders(tenant: Tenant) -> Iterator[dict]:
    fields = ("id", "parent_id", "name", "path", "created_at", "created_by__username", "deleted_at",
              "deleted_by__username", "trashed_via_id")  # fmt: skip
    names = ("id", "parent", "name", "path", "created_at", "created_by", "deleted_at", "deleted_by", "trashed_via")
    for row in Folder.objects.filter(tenant=tenant).order_by("id").values_list(*fields).iterator(chunk_size=CHUNK):
        yield dict(zip(names, row, strict=True))


def _blobs(tenant: Tenant) -> Iterator[dict]:
    fields = ("sha256", "size", "content_type", "tier", "created_at", "archived_at")
    for row in Blob.objects.filter(tenant=tenant).order_by("sha256").values_list(*fields).iterator(chunk_size=CHUNK):
        yield dict(zip(fields, row, strict=True))


def _renditions(tenant: Tenant) -> Iterator[dict]:
    fields = ("blob__sha256", "kind", "format", "width", "height", "size", "sha256", "storage_key", "created_at")
    names = ("blob", "kind", "format", "width", "height", "size", "sha256", "key", "created_at")
    rows = Rendition.objects.filter(tenant=tenant).order_by("blob__sha256", "kind", "format").values_list(*fields)
    for row in rows.iterator(chunk_size=CHUNK):
        yield dict(zip(names, row, strict=True))


FILE_FIELDS = (
    "id", "name", "folder_id", "owner__username", "visibility", "description", "tags", "labels", "metadata",
    "status", "error_code", "created_at", "updated_at", "last_accessed_at", "deleted_at", "deleted_by__username",
    "trashed_via_id", "current_version__number", "has_text",
)  # fmt: skip
FILE_NAMES = (
    "id", "name", "folder", "owner", "visibility", "description", "tags", "labels", "metadata", "status",
    "error_code", "created_at", "updated_at", "last_accessed_at", "deleted_at", "deleted_by", "trashed_via",
    "current", "text",
)  # fmt: skip
VERSION_FIELDS = ("file_id", "number", "blob__sha256", "blob__size", "blob__content_type", "created_at",
                  "uploaded_by__username", "comment")  # fmt: skip
VERSION_NAMES = ("number", "sha256", "size", "content_type", "created_at", "uploaded_by", "comment")


def _files(tenant: Tenant) -> Iterator[dict]:
    """Files with their versions: two cursors ordered by file id, merged as they go."""
    files = (
        File.objects.filter(tenant=tenant)
        .annotate(has_text=Case(When(content_text="", then=Value(False)), default=Value(True)))
        .order_by("id")
        .values_list(*FILE_FIELDS)
    )
    versions = (
        FileVersion.objects.filter(tenant=tenant).order_by("file_id", "number").values_list(*VERSION_FIELDS)
    ).iterator(chunk_size=CHUNK)
    pending = next(versions, None)
    for row in files.iterator(chunk_size=CHUNK):
        record = dict(zip(FILE_NAMES, row, strict=True))
        record["versions"] = []
        while pending is not None and pending[0] < row[0]:
            pending = next(versions, None)  # a version of a file the first cursor did not see
        while pending is not None and pending[0] == row[0]:
            record["versions"].append(dict(zip(VERSION_NAMES, pending[1:], strict=True)))
            pending = next(versions, None)
        yield record


def _counts(tenant: Tenant) -> dict[str, int]:
    return {
        "members": Membership.objects.filter(tenant=tenant).count(),
        "folders": Folder.objects.filter(tenant=tenant).count(),
        "blobs": Blob.objects.filter(tenant=tenant).count(),
        "files": File.objects.filter(tenant=tenant).count(),
        "versions": FileVersion.objects.filter(tenant=tenant).count(),
        "renditions": Rendition.objects.filter(tenant=tenant).count(),
    }


def manifest_build(*, tenant: Tenant, out: IO[bytes]) -> str:
    """Write the tenant's manifest to `out`, from one snapshot of the database; returns
    its SHA-256. The same data gives the same bytes (everything in a fixed order)."""
    digest = hashlib.sha256()

    def write(text: str) -> None:
        data = text.encode()
        digest.update(data)
        out.write(data)

    sections = {"members": _members, "groups": _groups, "folders": _folders, "blobs": _blobs,
                "renditions": _renditions, "files": _files}  # fmt: skip
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:  # inside a caller's transaction, that one's snapshot rules
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        header = {"format": FORMAT, "version": 1, "tenant": _tenant(tenant), "counts": _counts(tenant)}
        write(_json(header)[:-1] + ",\n")
        for index, name in enumerate(SECTIONS):
            write(f'"{name}":[\n')
            first = True
            for record in sections[name](tenant):
                write(("" if first else ",\n") + _json(record))
                first = False
            write(("" if first else "\n") + ("],\n" if index < len(SECTIONS) - 1 else "]}\n"))
    return digest.hexdigest()


def manifest_write(*, tenant: Tenant) -> list[str]:
    """Write the tenant's manifest to the primary bucket and the replica; returns the roles
    written (a role whose object holds these very bytes already is skipped)."""
    key = manifest_key(tenant.pk)
    written = []
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        sha256 = manifest_build(tenant=tenant, out=spool)
        for role in ROLES:
            head = storage.object_head(key, role)
            if head is not None and head.get("Metadata", {}).get("sha256") == sha256:
                continue
            spool.seek(0)
            storage.object_put(
                key=key, body=spool, sha256=sha256, content_type="application/json", tenant_id=tenant.pk, role=role
            )
            written.append(role)
    return written


def manifests_write(*, tenant_ids: Iterable | None = None) -> dict[str, int]:
    """Write every tenant's manifest (or those of `tenant_ids`); returns how many tenants
    were written, unchanged, or failed (a bucket away: logged, the next run writes them)."""
    outcome = {"written": 0, "unchanged": 0, "failed": 0}
    if maintenance_state() is not None:
        log.warning("bucket manifests skipped: the site is in maintenance")
        return outcome
    tenants = Tenant.objects.order_by("pk")
    if tenant_ids is not None:
        tenants = tenants.filter(pk__in=list(tenant_ids))
    for tenant in tenants.iterator():
        try:
            roles = manifest_write(tenant=tenant)
        except storage.StorageUnavailable:
            log.warning("bucket manifest of tenant %s not written: storage unavailable", tenant.pk)
            outcome["failed"] += 1
            continue
        outcome["written" if roles else "unchanged"] += 1
        if roles:
            log.info("bucket manifest of tenant %s written to %s", tenant.pk, ", ".join(roles))
    return outcome


# --- Reading ------------------------------------------------------------------------


def manifest_records(lines: Iterable[bytes]) -> Iterator[tuple[str, dict]]:
    """The manifest's header as ("header", {...}), then ("<section>", record) for each
    record, read a line at a time."""
    section = None
    for number, raw in enumerate(lines):
        line = raw.decode().strip()
        if number == 0:
            header = json.loads(line.rstrip(",") + "}")
            if header.get("format") != FORMAT:
                raise ValueError("not a MediaPortal tenant manifest")
            yield "header", header
        elif line.endswith(":["):
            section = json.loads(line[:-2])
        elif line in ("]", "],", "]}"):
            section = None
        elif line:
            if section is None:
                raise ValueError(f"line {number + 1} of the manifest is outside a section")
            yield section, json.loads(line.rstrip(","))
