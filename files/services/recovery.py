"""Stored blobs that no database row claims, brought back as files.

After a restore from a backup, or from the bucket's manifests, the bucket may hold blobs
the restored database does not know: uploads made after the backup or the last manifest.
Their objects carry their tenant and SHA-256 (object metadata), so each becomes a file in
a top-level "Recovered" folder of its tenant, private (its owners and admins see it), and
is processed again for its renditions. Nothing acknowledged is lost, and the orphan sweep
finds a row for every such object afterwards instead of deleting it.
"""

from __future__ import annotations

import logging
import mimetypes
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from accounts.services.audit import event_record
from files import storage
from files.models import Blob, BlobTier, File, FileStatus, FileVersion, Folder, Visibility
from files.services.files import free_file_name
from files.services.locks import content_lock
from files.services.processing import queue_processing
from files.storage.transfer import ObjectMissing, object_copy_from

log = logging.getLogger(__name__)

RECOVERED_FOLDER = "Recovered"
SHA256 = re.compile(r"[0-9a-f]{64}")
# Where a blob found in several buckets is read from, best first.
ROLE_ORDER = ("primary", "archive", "replica")


@dataclass
class Unclaimed:
    """A blob object no Blob row claims, and the buckets it was found in."""

    tenant_id: str
    sha256: str
    key: str
    size: int
    roles: list[str] = field(default_factory=list)


def _claimed(tenant_id, shas: list[str]) -> set[str]:
    return set(Blob.objects.filter(tenant_id=tenant_id, sha256__in=shas).values_list("sha256", flat=True))


def _listed(tenant_id, role: str) -> Iterator[list[dict]]:
    """The tenant's blob objects in one bucket, a listing page at a time."""
    page: list[dict] = []
    for obj in storage.object_keys(f"{storage.TENANTS_PREFIX}{tenant_id}/blobs/", role):
        page.append(obj)
        if len(page) >= 1000:
            yield page
            page = []
    if page:
        yield page


def unclaimed_blob_objects(*, tenant_id, roles: Iterable[str] = ROLE_ORDER) -> list[Unclaimed]:
    """The tenant's blob objects (in any of `roles`' buckets) that no Blob row claims."""
    found: dict[str, Unclaimed] = {}
    for role in roles:
        for page in _listed(tenant_id, role):
            by_sha = {obj["Key"].rsplit("/", 1)[-1]: obj for obj in page}
            by_sha = {sha: obj for sha, obj in by_sha.items() if SHA256.fullmatch(sha)}
            for sha in by_sha.keys() - _claimed(tenant_id, list(by_sha)):
                obj = by_sha[sha]
                entry = found.setdefault(sha, Unclaimed(str(tenant_id), sha, obj["Key"], obj["Size"]))
                entry.roles.append(role)
    return sorted(found.values(), key=lambda entry: entry.key)


def _recovered_folder(tenant_id) -> Folder:
    folder = Folder.objects.filter(
        tenant_id=tenant_id, parent=None, name__iexact=RECOVERED_FOLDER, deleted_at__isnull=True
    ).first()
    return folder or Folder.objects.create(tenant_id=tenant_id, name=RECOVERED_FOLDER, path=f"/{RECOVERED_FOLDER}/")


def _where(entry: Unclaimed) -> tuple[str, dict]:
    """Make sure the primary or the archive holds the object (a replica-only one is copied
    to the primary, verified); returns that role and the object's headers."""
    for role in ("primary", "archive"):
        if role in entry.roles and (head := storage.object_head(entry.key, role)) is not None:
            return role, head
    try:
        head = object_copy_from(
            entry.key, source="replica", target="primary", tenant_id=entry.tenant_id, sha256=entry.sha256
        )
    except ObjectMissing:
        # Listed a moment ago: a replica that no longer answers for it is one we can't read.
        raise storage.StorageUnavailable() from None
    return "primary", head


def _described(head: dict) -> str:
    stored = head.get("LastModified")
    when = f" (stored {stored:%Y-%m-%d %H:%M} UTC)" if stored else ""
    return f"Recovered from storage: no database row named these bytes{when}."


def _blob_row(entry: Unclaimed, *, role: str, head: dict) -> Blob:
    archived = role == "archive"
    return Blob.objects.create(
        tenant_id=entry.tenant_id,
        sha256=entry.sha256,
        size=head["ContentLength"],
        content_type=head.get("ContentType") or "application/octet-stream",
        storage_key=entry.key,
        tier=BlobTier.ARCHIVE if archived else BlobTier.HOT,
        archived_at=timezone.now() if archived else None,
        replicated_at=timezone.now() if "replica" in entry.roles else None,
    )


def recovered_file_create(entry: Unclaimed) -> File | None:
    """The file for one unclaimed blob object (None when its metadata names another tenant
    or other bytes, or a row claimed it meanwhile)."""
    role, head = _where(entry)
    metadata = head.get("Metadata", {})
    if (
        metadata.get("sha256", entry.sha256) != entry.sha256
        or metadata.get("tenant", entry.tenant_id) != entry.tenant_id
    ):
        log.warning("recovery: %s carries another's metadata (%s); left alone", entry.key, metadata)
        return None
    with transaction.atomic():
        content_lock(tenant_id=entry.tenant_id, sha256=entry.sha256)
        if Blob.objects.filter(tenant_id=entry.tenant_id, sha256=entry.sha256).exists():
            return None
        blob = _blob_row(entry, role=role, head=head)
        folder = _recovered_folder(entry.tenant_id)
        extension = mimetypes.guess_extension(blob.content_type) or ""
        name = f"recovered-{entry.sha256[:12]}{extension}"
        file = File(
            tenant_id=entry.tenant_id,
            folder=folder,
            name=free_file_name(tenant_id=entry.tenant_id, folder=folder, name=name),
            size=blob.size,
            content_type=blob.content_type,
            sha256=blob.sha256,
            visibility=Visibility.PRIVATE,
            status=FileStatus.PENDING,
            description=_described(head),
            created_at=head.get("LastModified") or timezone.now(),
        )
        # The version first: foreign keys are checked at commit (DEFERRABLE INITIALLY DEFERRED).
        file.current_version = FileVersion.objects.create(
            tenant_id=entry.tenant_id, file=file, number=1, blob=blob, comment="recovered from storage"
        )
        file.save(force_insert=True)
        event_record(verb="file.recovered", tenant=folder.tenant, target=file, data={"sha256": entry.sha256})
        if blob.tier == BlobTier.HOT:  # an archived one cannot be read before it is retrieved
            queue_processing(file)
    return file


def recovered_files_create(*, entries: Iterable[Unclaimed], progress=None) -> tuple[int, list[str]]:
    """A file for each unclaimed object; returns how many were made and the keys that
    could not be (logged)."""
    made, failed = 0, []
    for entry in entries:
        try:
            made += recovered_file_create(entry) is not None
        except Exception as exc:  # noqa: BLE001 - one object's trouble is reported, the others go on
            log.warning("recovery: %s not recovered: %r", entry.key, exc)
            failed.append(entry.key)
        if progress:
            progress(entry.key)
    return made, failed
