"""The bytes of a tenant export: a ZIP of every live file at its folder path, plus
`manifest.json` at the root describing each file and its versions.

Written straight into a stream (an S3 multipart upload, files.storage.streaming): one
member at a time, each read from S3 in 1 MiB chunks; the manifest is spooled to a temporary
file as the members go and added last, so memory stays flat whatever the tenant holds.

Archived files: their bytes are read from the archive bucket when it can serve them now
(the embedded SeaweedFS always can; on AWS, a restored or instant-retrieval object), else
from the replica region when it holds a copy. A cold Glacier object is not restored for an
export (hours and a fee per object, for the whole tenant at once): it is listed in the
manifest with `"archived": true` and no member; retrieving the folder and exporting again
includes it. A file whose bytes no role holds is listed with `"missing": true`.
"""

from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from dataclasses import dataclass

from django.db.models import F, Prefetch, Sum
from django.utils import timezone

from accounts.models import Tenant
from files import storage
from files.models import Blob, BlobTier, File, FileVersion, Folder
from files.zipstream import member_write, safe_name, unique_name

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
# Files read from the database at a time (with their versions).
BATCH = 200
# The manifest stays in memory up to this size, then spills to a temporary file.
MANIFEST_SPOOL_BYTES = 8 * 1024 * 1024
READ_CHUNK = 1024 * 1024
# Where a blob's bytes may be, in the order they are tried, by tier. A hot blob is looked
# for in the archive too (and an archived one in the primary): a sweep or a retrieval may
# move it while the export runs.
ROLES_BY_TIER = {
    BlobTier.HOT: ("primary", "archive", "replica"),
    BlobTier.ARCHIVE: ("archive", "primary", "replica"),
    BlobTier.RETRIEVING: ("archive", "primary", "replica"),
}


@dataclass
class ArchiveSummary:
    files: int = 0
    bytes_included: int = 0
    archived: int = 0
    missing: int = 0


def archive_expected_bytes(*, tenant: Tenant) -> int:
    """About what the ZIP will weigh: the bytes of the live files' current versions."""
    total = _live_files(tenant).aggregate(total=Sum("current_version__blob__size"))["total"]
    return total or 0


def archive_write(*, tenant: Tenant, out, created_at) -> ArchiveSummary:
    """Write the export's ZIP of `tenant` into the writable stream `out`."""
    summary = ArchiveSummary()
    taken = {MANIFEST_NAME}
    with (
        zipfile.ZipFile(out, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive,
        tempfile.SpooledTemporaryFile(max_size=MANIFEST_SPOOL_BYTES) as manifest,
    ):
        directories = _folder_directories(tenant, taken)
        for directory in directories.values():
            archive.mkdir(directory)
        manifest.write(b'{"files": [')
        files = _live_files(tenant).iterator(chunk_size=BATCH)
        for n, file in enumerate(files):
            entry = _file_write(archive, file, directories.get(file.folder_id, ""), taken, summary)
            manifest.write((b", " if n else b"") + json.dumps(entry, ensure_ascii=False).encode())
        manifest.write(b"], " + json.dumps(_manifest_tail(tenant, created_at, directories))[1:].encode())
        size = manifest.tell()
        manifest.seek(0)
        chunks = iter(lambda: manifest.read(READ_CHUNK), b"")
        for _ in member_write(
            archive, MANIFEST_NAME, modified=timezone.localtime(created_at), size=size, chunks=chunks, compress=True
        ):
            pass
    return summary


def _live_files(tenant: Tenant):
    versions = FileVersion.objects.select_related("blob", "uploaded_by").order_by("number")
    return (
        File.objects.filter(tenant=tenant, deleted_at__isnull=True, current_version__isnull=False)
        .select_related("folder", "current_version__blob")
        .prefetch_related(Prefetch("versions", queryset=versions))
        .order_by(F("folder__path").asc(nulls_first=True), "name", "id")
    )


def _folder_directories(tenant: Tenant, taken: set[str]) -> dict:
    """Every live folder's directory in the ZIP ("Photos/2024/"), by folder id; parents come
    before their children (a path sorts after its prefix)."""
    directories: dict = {}
    folders = Folder.objects.filter(tenant=tenant, deleted_at__isnull=True, path__startswith="/").order_by("path")
    for folder in folders.only("id", "parent_id", "name", "path"):
        parent = directories.get(folder.parent_id, "") if folder.parent_id else ""
        if folder.parent_id and folder.parent_id not in directories:
            continue  # under a folder that is not live: unreachable, as in the portal
        directories[folder.pk] = unique_name(parent, safe_name(folder.name), taken, kind="folder") + "/"
    return directories


def _file_write(archive: zipfile.ZipFile, file: File, directory: str, taken: set[str], summary) -> dict:
    """Add one file's current bytes at its path; returns its manifest entry."""
    blob = file.current_version.blob
    path = unique_name(directory, safe_name(file.name), taken)
    entry = _manifest_entry(file, path)
    summary.files += 1
    opened, why_not = _open(blob)
    if opened is None:
        entry[why_not] = True
        setattr(summary, why_not, getattr(summary, why_not) + 1)
        return entry
    try:
        modified = timezone.localtime(file.current_version.created_at)
        for _ in member_write(archive, path, modified=modified, size=opened.size, chunks=opened.chunks):
            pass
    finally:
        opened.close()
    summary.bytes_included += opened.size
    return entry


def _open(blob: Blob) -> tuple[storage.OpenedObject | None, str]:
    """The blob's bytes from the first role that can serve them now; else None and why:
    "archived" (cold, not restored) or "missing"."""
    cold = False
    for role in ROLES_BY_TIER.get(blob.tier, ROLES_BY_TIER[BlobTier.HOT]):
        try:
            opened = storage.object_open(blob.storage_key, chunk_size=READ_CHUNK, role=role)
        except storage.ObjectArchived:
            cold = True
            continue
        if opened is not None:
            return opened, ""
    if not cold:
        log.warning("export: no role holds %s", blob.storage_key)
    return None, "archived" if cold else "missing"


def _manifest_entry(file: File, path: str) -> dict:
    current = file.current_version
    return {
        "path": path,
        "id": str(file.pk),
        "name": file.name,
        "folder": file.folder.path if file.folder_id and file.folder else "/",
        "sha256": current.blob.sha256,
        "size": current.blob.size,
        "content_type": file.content_type,
        "tags": file.tags,
        "description": file.description,
        "labels": file.labels,
        "metadata": file.metadata,
        "created_at": file.created_at.isoformat(),
        "version": current.number,
        "versions": [
            {
                "number": version.number,
                "sha256": version.blob.sha256,
                "size": version.blob.size,
                "created_at": version.created_at.isoformat(),
                "uploaded_by": version.uploaded_by.username if version.uploaded_by else None,
                "comment": version.comment,
            }
            for version in file.versions.all()
        ],
    }


def _manifest_tail(tenant: Tenant, created_at, directories: dict) -> dict:
    """The manifest's keys after `files` (a dict whose JSON is appended without its "{")."""
    return {
        "folders": sorted(directories.values()),
        "tenant": {"id": str(tenant.pk), "slug": tenant.slug, "name": tenant.name},
        "created_at": created_at.isoformat(),
        "format": MANIFEST_FORMAT,
    }
