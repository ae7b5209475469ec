"""Writes for files and their versions: upload, edit, download, version history."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import Membership
from accounts.services.audit import event_record
from files import storage
from files.models import Blob, BlobTier, File, FileStatus, FileVersion, Folder, Visibility
from files.names import (
    MAX_COMMENT_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    checked_text,
    clean_name,
    clean_tags,
    numbered_name,
)
from files.permissions import can_change_file, can_change_visibility, can_create
from files.processing.sniff import Sniffed
from files.selectors import (
    file_get_for_actor,
    file_get_for_redirect,
    folder_get,
    rendition_get,
    searchable_rendition,
    type_group,
    version_get,
)
from files.services.blobs import BlobWrites, StoreBytes, blob_claim
from files.services.folders import atomic_or_conflict, folder_ensure_path, folder_lock_for_write
from files.services.idempotency import UploadOnce, once_claim, once_record, upload_fingerprint
from files.services.lifecycle import ACCESS_RECORDED_EVERY, blob_readable_or_409
from files.services.locks import content_lock
from files.services.processing import queue_processing, upload_sniff
from files.services.quota import quota_confirm
from files.services.replication import download_source
from files.uploads import HashedUpload
from mediaportal.exceptions import Conflict, Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from mediaportal.metrics import UPLOAD_BYTES, UPLOADS

log = logging.getLogger(__name__)

ON_CONFLICT = ("rename", "replace", "fail")
# Types a browser may render inline from our storage domain: passive formats only. SVG and
# HTML can run script, so they are always downloads.
INLINE_SAFE_TYPES = {
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/bmp",
    "image/avif",
    "image/tiff",
    "application/pdf",
}


def _check_upload(*, membership: Membership, upload: HashedUpload, name: str) -> Sniffed:
    """Refuse what cannot be stored (empty, too large, wrong type) before any write. The
    quota is counted when the bytes are new, at the end of the write (see `_store`)."""
    tenant = membership.tenant
    if upload.size == 0:
        raise ValidationFailed("The file is empty.", code="empty_file")
    if upload.size > tenant.max_upload_bytes:
        raise PayloadTooLarge(f"Files are limited to {tenant.max_upload_bytes} bytes in this tenant.")
    return upload_sniff(file=upload.file, name=name)


def _name_taken(*, tenant_id, folder: Folder | None, name: str, exclude_id=None) -> File | None:
    files = File.objects.filter(tenant_id=tenant_id, folder=folder, name__iexact=name, deleted_at__isnull=True)
    if exclude_id is not None:
        files = files.exclude(pk=exclude_id)
    return files.first()


def free_file_name(*, tenant_id, folder: Folder | None, name: str, exclude_id=None) -> str:
    """`name`, or `name (n).ext` with the smallest n that is free in the folder."""
    candidate, n = name, 1
    while _name_taken(tenant_id=tenant_id, folder=folder, name=candidate, exclude_id=exclude_id):
        candidate = numbered_name(name, n)
        n += 1
    return candidate


# What making a version current changes on its file (a new version touches it, see File).
VERSION_FIELDS = [
    "current_version",
    "size",
    "content_type",
    "sha256",
    "status",
    "error",
    "error_code",
    "updated_at",
    "last_accessed_at",
]


def _add_version(*, file: File, blob: Blob, actor, comment: str = "", new: bool = False) -> FileVersion:
    """Append a version and make it current; the file row must be locked by the caller, or,
    with `new`, not saved yet (it is inserted here, as version 1)."""
    if new:
        number = 1
    else:
        number = (FileVersion.objects.filter(file=file).aggregate(m=Max("number"))["m"] or 0) + 1
    version = FileVersion.objects.create(
        tenant_id=file.tenant_id, file=file, number=number, blob=blob, uploaded_by=actor, comment=comment[:500]
    )
    file.current_version = version
    file.size, file.content_type, file.sha256 = blob.size, blob.content_type, blob.sha256
    file.status, file.error, file.error_code = FileStatus.PENDING, "", ""
    if new:
        # The version row went first: Django makes foreign keys DEFERRABLE INITIALLY DEFERRED on
        # PostgreSQL, so they are checked at commit and the file is inserted once, complete.
        file.save(force_insert=True)
    else:
        file.last_accessed_at = timezone.now()
        file.save(update_fields=VERSION_FIELDS)
    queue_processing(file)
    return version


def _file_lock(file: File) -> File:
    """The file's row, locked; 404 when it was trashed or purged since it was read (a trash
    holds the row while it marks it, and the row is read again once it has committed)."""
    locked = File.objects.select_for_update().filter(pk=file.pk, deleted_at__isnull=True).first()
    if locked is None:
        raise NotFound("File not found.")
    return locked


def _store(*, membership: Membership, upload: HashedUpload, content_type: str, write, store: StoreBytes | None):
    """Run `write(claim)` in one transaction holding the upload's content lock; `write` locks
    the rows it changes, then calls `claim()` for the blob (see `blob_claim`: the dedup
    decision, the quota, the S3 write when the bytes are new, the blob's row lock).

    Locks follow the one order of files.services.locks: `write` locks its folder and file
    rows before `claim()` locks the blob, as a purge locks files before their blobs. A lost
    race is a 409 `retry`, never a 500.

    The S3 write runs while `write` inserts its rows, and the transaction waits for it: a
    failed write rolls the rows back, so none commits without its bytes; a failed database
    write leaves at most an object that the next identical upload reuses or the orphan
    sweep removes. New bytes are counted against the quota just before the commit, among
    the uploads that committed meanwhile (`quota_confirm`).
    """
    with atomic_or_conflict():
        # Before any row lock (the lock order is in files.services.locks).
        content_lock(tenant_id=membership.tenant_id, sha256=upload.sha256)
        writes = BlobWrites()

        def claim() -> Blob:
            return blob_claim(
                tenant=membership.tenant, upload=upload, content_type=content_type, writes=writes, store=store
            )

        try:
            result = write(claim)
        except BaseException:
            writes.wait(raise_errors=False)
            raise
        writes.wait()
        if writes.keys:  # new bytes: count them against the quota
            quota_confirm(tenant=membership.tenant, written=writes.keys)
        return result


def _replace(*, membership: Membership, existing: File, claim, ip: str | None) -> File:
    """An upload with `on_conflict=replace`: a new version of the file holding the name."""
    file = File.objects.select_for_update().filter(pk=existing.pk, deleted_at__isnull=True).first()
    if file is None or file.folder_id != existing.folder_id or file.name.lower() != existing.name.lower():
        raise Conflict(f"“{existing.name}” was moved, renamed or deleted meanwhile; try again.", code="retry")
    if not can_change_file(membership=membership, file=file):
        raise Forbidden("You may not replace this file.")
    version = _add_version(file=file, blob=claim(), actor=membership.user)
    event_record(
        verb="file.version_uploaded",
        tenant=membership.tenant,
        actor=membership.user,
        target=file,
        ip=ip,
        data={"version": version.number, "size": version.blob.size},
    )
    return file


def _create(*, membership: Membership, file: File, claim, ip: str | None) -> File:
    """Insert the new (unsaved) file with its first version."""
    blob = claim()
    _add_version(file=file, blob=blob, actor=membership.user, new=True)
    event_record(
        verb="file.uploaded",
        tenant=membership.tenant,
        actor=membership.user,
        target=file,
        ip=ip,
        data={"size": blob.size},
    )
    return file


@dataclass
class _NewFile:
    """What an upload asks for, checked: where, under which name, with which fields."""

    folder: Folder | None
    name: str
    description: str
    tags: list[str]
    on_conflict: str
    extension_mismatch: bool

    def fingerprint(self, upload: HashedUpload) -> str:
        return upload_fingerprint(
            kind="file",
            folder=self.folder.pk if self.folder else None,
            name=self.name,
            sha256=upload.sha256,
            description=self.description,
            tags=self.tags,
            on_conflict=self.on_conflict,
        )


def _write_new_file(claim, *, membership: Membership, new: _NewFile, ip: str | None, once, fingerprint: str) -> File:
    """`file_upload`'s writes, in its transaction after the content lock (see `_store`)."""
    if once is not None:
        earlier = once_claim(once=once, membership=membership, fingerprint=fingerprint)
        if earlier is not None:
            return file_get_for_actor(membership=membership, file_id=earlier.file_id)
    # 404 when the folder went to the trash since `folder_get`; kept out of it until commit.
    target = folder_lock_for_write(folder=new.folder)
    existing = _name_taken(tenant_id=membership.tenant_id, folder=target, name=new.name)
    if existing is not None and new.on_conflict == "fail":
        raise Conflict(f"“{new.name}” already exists in this folder.", code="name_conflict")
    if existing is not None and new.on_conflict == "replace":
        file = _replace(membership=membership, existing=existing, claim=claim, ip=ip)
    else:
        final = new.name
        if existing is not None:
            final = free_file_name(tenant_id=membership.tenant_id, folder=target, name=new.name)
        file = File(
            tenant_id=membership.tenant_id,
            folder=target,
            name=final,
            owner=membership.user,
            description=new.description,
            tags=new.tags,
            metadata={"extension_mismatch": new.extension_mismatch},
        )
        file = _create(membership=membership, file=file, claim=claim, ip=ip)
    if once is not None:
        once_record(once=once, file=file, version=file.current_version)
    return file


def file_upload(
    *,
    membership: Membership,
    upload: HashedUpload,
    folder_id=None,
    description: str = "",
    tags=None,
    on_conflict: str = "rename",
    name: str | None = None,
    ip: str | None = None,
    store: StoreBytes | None = None,
    once: UploadOnce | None = None,
    relative_path: str = "",
) -> File:
    """Store an uploaded file (deduplicated per tenant) and create its first version.

    `on_conflict` decides what happens when the folder already has the name: `rename` to
    "name (1).ext", `replace` adds a version to the existing file, `fail` is a 409.
    `store(key=, content_type=)` writes new bytes to their content address (default: a PUT
    from the upload; a direct upload copies its staged object). Every check runs before it.
    With `once` (an Idempotency-Key), a retry of an upload made with the same key returns
    that upload's file and stores nothing (`once.replayed`; files.services.idempotency).
    `relative_path` ("Trip/Day 1", from a dropped folder) puts the file in those folders
    below `folder_id`, made when missing (once the file itself is known to be acceptable).
    """
    if not can_create(membership=membership):
        raise Forbidden("Viewers cannot upload files.")
    if on_conflict not in ON_CONFLICT:
        raise ValidationFailed("on_conflict must be rename, replace or fail.", code="invalid")
    description = checked_text(description, field="description", max_length=MAX_DESCRIPTION_LENGTH)
    clean = clean_name(name or upload.name)
    sniffed = _check_upload(membership=membership, upload=upload, name=clean)
    if relative_path:
        folder = folder_ensure_path(membership=membership, path=relative_path, parent_id=folder_id, ip=ip)
    else:
        folder = folder_get(membership=membership, folder_id=folder_id) if folder_id else None
    new = _NewFile(
        folder=folder,
        name=clean,
        description=description,
        tags=clean_tags(tags),
        on_conflict=on_conflict,
        extension_mismatch=sniffed.extension_mismatch,
    )
    fingerprint = new.fingerprint(upload) if once is not None else ""
    write = partial(_write_new_file, membership=membership, new=new, ip=ip, once=once, fingerprint=fingerprint)
    for _attempt in range(3):
        try:
            file = _store(
                membership=membership, upload=upload, content_type=sniffed.content_type, write=write, store=store
            )
        except IntegrityError as exc:
            # Another upload took the same name between our check and insert: pick again.
            if "file_folder_name_unique" not in str(exc):
                raise
            continue
        _count_upload(content_type=sniffed.content_type, size=upload.size, once=once)
        return file
    raise Conflict("Could not find a free name for the file; try again.", code="name_conflict")


def _count_upload(*, content_type: str, size: int, once: UploadOnce | None) -> None:
    """Count a stored upload in the metrics (after its commit; a replayed key stored nothing)."""
    if once is None or not once.replayed:
        group = type_group(content_type)
        UPLOADS.labels(type=group).inc()
        UPLOAD_BYTES.labels(type=group).inc(size)


def file_version_upload(
    *,
    membership: Membership,
    file_id,
    upload: HashedUpload,
    comment: str = "",
    ip: str | None = None,
    once: UploadOnce | None = None,
) -> FileVersion:
    """Add a version with the uploaded bytes; with `once`, as `file_upload` does."""
    file = file_get_for_actor(membership=membership, file_id=file_id, perm="change")
    comment = checked_text(comment, field="comment", max_length=MAX_COMMENT_LENGTH)
    content_type = _check_upload(membership=membership, upload=upload, name=file.name).content_type
    fingerprint = upload_fingerprint(kind="version", file=file.pk, sha256=upload.sha256, comment=comment)

    def write(claim) -> FileVersion:
        if once is not None:
            earlier = once_claim(once=once, membership=membership, fingerprint=fingerprint)
            if earlier is not None:
                return earlier.version
        locked = _file_lock(file)
        version = _add_version(file=locked, blob=claim(), actor=membership.user, comment=comment)
        event_record(
            verb="file.version_uploaded",
            tenant=membership.tenant,
            actor=membership.user,
            target=locked,
            ip=ip,
            data={"version": version.number, "size": version.blob.size},
        )
        if once is not None:
            once_record(once=once, file=locked, version=version)
        return version

    version = _store(membership=membership, upload=upload, content_type=content_type, write=write, store=None)
    _count_upload(content_type=content_type, size=upload.size, once=once)
    return version


def file_version_restore(*, membership: Membership, file_id, number: int, ip: str | None = None) -> FileVersion:
    """Make a new version with the bytes of version `number`; history is never rewritten."""
    file = file_get_for_actor(membership=membership, file_id=file_id, perm="change")
    version_get(file=file, number=number)
    with atomic_or_conflict():
        return _version_restore(membership=membership, file=file, number=number, ip=ip)


def _version_restore(*, membership: Membership, file: File, number: int, ip: str | None) -> FileVersion:
    locked = _file_lock(file)
    # Read under the file's lock: a purge locks the file before it deletes versions, so the old
    # version stays, and it keeps its blob (a blob row goes only when no version refers to
    # it). So no lock on the blob or its content: one lock fewer for uploads to wait behind.
    old = version_get(file=locked, number=number)
    # Its processing reads the bytes: an archived version is retrieved first.
    blob_readable_or_409(blob=old.blob, file=locked, version=number)
    version = _add_version(file=locked, blob=old.blob, actor=membership.user, comment=f"Restored from version {number}")
    event_record(
        verb="file.version_restored",
        tenant=membership.tenant,
        actor=membership.user,
        target=locked,
        ip=ip,
        data={"from": number, "version": version.number},
    )
    return version


def file_versions_absorb(*, membership: Membership, file: File, sources: list[File]) -> None:
    """Add the current contents of `sources` to `file`'s history, oldest first, then its own
    content again on top: history is append-only, so the absorbed contents become earlier
    versions below the current one. Run inside the caller's transaction; rights are theirs
    to check."""
    locked = _file_lock(file)
    current = locked.current_version
    # Its processing reads the bytes again: an archived content is retrieved first.
    blob_readable_or_409(blob=current.blob, file=locked, version=current.number)
    for source in sorted(sources, key=lambda f: (f.created_at, str(f.pk))):
        _add_version(
            file=locked, blob=source.current_version.blob, actor=membership.user, comment=f"From {source.name}"
        )
    _add_version(file=locked, blob=current.blob, actor=membership.user, comment=f"Kept over {len(sources)} copies")


def file_update(*, membership: Membership, file_id, data: dict, ip: str | None = None) -> File:
    """Rename, move, retag, describe or change the visibility of a file."""
    with atomic_or_conflict(unique="file_folder_name_unique", detail="A file of that name already exists there."):
        return _file_update(membership=membership, file_id=file_id, data=data, ip=ip)


def _file_update(*, membership: Membership, file_id, data: dict, ip: str | None) -> File:
    file = file_get_for_actor(membership=membership, file_id=file_id, perm="change")
    folder = None
    if "folder" in data and data["folder"]:
        # The target before the file, as uploads lock them: 404 when it was trashed meanwhile.
        folder = folder_lock_for_write(folder=folder_get(membership=membership, folder_id=data["folder"]))
    file = _file_lock(file)
    changed: list[str] = []
    if "folder" in data and folder != file.folder:
        # Under its new folder the file falls under that folder's grants: only someone who may
        # share it may put it there.
        if not can_change_file(membership=membership, file=file, perm="share"):
            raise Forbidden("Moving a file to another folder needs the share right on it.", code="move_not_allowed")
        file.folder = folder
        changed.append("folder")
    if "name" in data:
        name = clean_name(data["name"])
        if name != file.name:
            file.name = name
            changed.append("name")
    if {"folder", "name"} & set(changed) and _name_taken(
        tenant_id=file.tenant_id, folder=file.folder, name=file.name, exclude_id=file.pk
    ):
        raise Conflict(f"“{file.name}” already exists in that folder.", code="name_conflict")
    if "description" in data and data["description"] != file.description:
        file.description = data["description"]
        changed.append("description")
    if "tags" in data:
        tags = clean_tags(data["tags"])
        if tags != file.tags:
            file.tags = tags
            changed.append("tags")
    if "visibility" in data and data["visibility"] != file.visibility:
        if data["visibility"] not in Visibility.values:
            raise ValidationFailed("visibility must be private, tenant or public.", code="invalid")
        if not can_change_visibility(membership=membership, file=file, visibility=data["visibility"]):
            raise Forbidden(_visibility_refusal(membership, data["visibility"]), code="visibility_not_allowed")
        file.visibility = data["visibility"]
        changed.append("visibility")
    if changed:
        file.save(update_fields=[*changed, "updated_at"])
        event_record(
            verb="file.updated",
            tenant=membership.tenant,
            actor=membership.user,
            target=file,
            ip=ip,
            data={"fields": changed},
        )
    return file


def _visibility_refusal(membership: Membership, visibility: str) -> str:
    if visibility != Visibility.PUBLIC:
        return "Changing who can see a file needs the share right on it."
    if membership.tenant.public_files == "nobody":
        return "This tenant does not allow public files; share a link instead."
    return "Only the file's owner or an admin may make it public (and only with the share right)."


def file_download_url(
    *, membership: Membership, file_id, version: int | None = None, inline: bool = False, ip: str | None = None
) -> str:
    """A presigned URL (≤ 5 minutes) for the file's bytes, recording the access."""
    file = file_get_for_redirect(membership=membership, file_id=file_id)
    blob = version_get(file=file, number=version).blob if version is not None else file.current_version.blob
    return blob_download_url(file=file, blob=blob, actor=membership.user, inline=inline, ip=ip, version=version)


def blob_download_url(
    *, file: File, blob: Blob, actor=None, inline: bool = False, ip: str | None = None, version: int | None = None
) -> str:
    """Sign a download of `blob` under the file's name and record the access (any caller
    that has already decided the download is allowed: members, public links); 409 while
    the bytes are archived or being retrieved."""
    blob_readable_or_409(blob=blob, file=file, version=version)
    inline = inline and blob.content_type in INLINE_SAFE_TYPES
    # Checked before signing, so a signed URL handed out again (files.presign) is only ever
    # handed out for a primary object that was just found there.
    role = download_source(blob=blob)
    url = storage.presigned_get(
        key=blob.storage_key, filename=file.name, content_type=blob.content_type, inline=inline, role=role
    )
    now = timezone.now()
    with transaction.atomic():
        if file.last_accessed_at is None or now - file.last_accessed_at >= ACCESS_RECORDED_EVERY:
            File.objects.filter(pk=file.pk).update(last_accessed_at=now)
        event_record(
            verb="file.downloaded",
            tenant=file.tenant,
            actor=actor,
            target=file,
            ip=ip,
            data={"version": version} if version else {},
        )
    return url


def rendition_urls(*, file: File, kinds: tuple[str, ...] | None = None) -> dict[str, str]:
    """Presigned URLs of the current version's WebP renditions, of `kinds` only when given
    (uses prefetched rows when there are, see files.selectors.webp_renditions)."""
    blob = file.current_version.blob
    renditions = getattr(blob, "webp_renditions", None)
    if renditions is None:
        renditions = blob.renditions.filter(format="webp")
    return {
        r.kind: storage.presigned_get(
            key=r.storage_key, filename=f"{r.kind}.webp", content_type="image/webp", inline=True
        )
        for r in renditions
        if r.format == "webp" and (kinds is None or r.kind in kinds)
    }


def rendition_sources(*, renditions) -> dict[str, dict[str, dict]]:
    """Presigned URLs and widths of renditions, by kind and format: what a `<picture>` with
    WebP sources and a JPEG fallback needs."""
    sources: dict[str, dict[str, dict]] = {}
    for r in renditions:
        url = storage.presigned_get(
            key=r.storage_key, filename=f"{r.kind}.{r.format}", content_type=f"image/{r.format}", inline=True
        )
        sources.setdefault(r.kind, {})[r.format] = {"url": url, "width": r.width, "height": r.height}
    return sources


def searchable_pdf_url(*, file: File) -> str | None:
    """A presigned URL (≤ 5 minutes) of the scan with its OCR text as a layer; None without one."""
    rendition = searchable_rendition(file=file)
    if rendition is None:
        return None
    stem = file.name[:-4] if file.name.lower().endswith(".pdf") else file.name
    return storage.presigned_get(
        key=rendition.storage_key, filename=f"{stem} (searchable).pdf", content_type="application/pdf", inline=False
    )


def file_view_url(*, file: File) -> str | None:
    """A presigned URL (≤ 5 minutes) showing the current version inline, for the file page's
    PDF viewer; None for types a browser may not render from our storage.

    No access is recorded: like the renditions, this is the page's preview, shown on every
    visit; the Download button is what records an access.
    """
    blob = file.current_version.blob if file.current_version_id else None
    if blob is None or blob.content_type not in INLINE_SAFE_TYPES or blob.tier != BlobTier.HOT:
        return None
    return storage.presigned_get(
        key=blob.storage_key,
        filename=file.name,
        content_type=blob.content_type,
        inline=True,
        role=download_source(blob=blob),
    )


def rendition_url(*, membership: Membership, file_id, kind: str, fmt: str = "webp") -> str:
    file = file_get_for_redirect(membership=membership, file_id=file_id)
    rendition = rendition_get(file=file, kind=kind, fmt=fmt)
    stem = file.name.rsplit(".", 1)[0]
    return storage.presigned_get(
        key=rendition.storage_key, filename=f"{stem} ({kind}).{fmt}", content_type=f"image/{fmt}", inline=True
    )


@transaction.atomic
def file_reprocess(*, membership: Membership, file_id, ip: str | None = None) -> File:
    """Run processing again for the current version (after a fix, or a failure); 409 while
    its bytes are archived (processing reads them)."""
    file = file_get_for_actor(membership=membership, file_id=file_id, perm="change")
    if file.current_version is not None:
        blob_readable_or_409(blob=file.current_version.blob, file=file)
    File.objects.filter(pk=file.pk).update(
        status=FileStatus.PENDING, error="", error_code="", updated_at=timezone.now()
    )
    event_record(verb="file.reprocessed", tenant=membership.tenant, actor=membership.user, target=file, ip=ip)
    queue_processing(file)
    return file
