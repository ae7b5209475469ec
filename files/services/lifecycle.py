"""The archive tier: untouched blobs move to the archive bucket, and reads refuse them until
they are retrieved (files.services.retrieval brings them back).

What is archived
----------------
A blob goes when every version that refers to it may go (dedup: one hot reference keeps it
hot; trashed files count like live ones):
- a current version, once its file was not touched (`File.last_accessed_at`, else its
  `created_at`) for the tenant's `archive_after_days` (null: current versions stay hot) and
  is not waiting for processing;
- a noncurrent version, once the next version was added more than `noncurrent_archive_days`
  ago and its file was not touched since then either.
`--older-than-days` replaces both thresholds.

How a blob is archived
----------------------
Its object is copied to the archive bucket (same key, S3_ARCHIVE_STORAGE_CLASS) outside any
lock; then one transaction per batch holds the content locks and the blob rows, looks again
(still hot, still eligible) and sets `tier=archive`, `archived_at`, one `file.archived` event
per file. A blob that stopped being a candidate meanwhile loses the archive copy just made,
unless another sweep archived it (the copy is then that sweep's).

The primary object is deleted only ARCHIVE_PRIMARY_GRACE_SECONDS later (`archive_primaries_
release`, a task with that countdown, and each sweep for what a lost task left): a download
that read the tier just before the commit holds a presigned URL valid for S3_PRESIGN_SECONDS
(files.presign hands URLs out again for a fifth of that, which only shortens what is left of
them), and a ZIP started before may still be streaming. The delete happens under the content
lock, after reading the row again: still `archive`, archived long enough, and the archive
copy is there. Renditions always stay in the primary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts.models import Tenant
from accounts.services.audit import event_record_many
from files import storage
from files.models import Blob, BlobTier, File
from files.services.file_events import files_event_publish
from files.services.locks import content_lock, content_locks
from files.storage.transfer import ObjectCorrupt, ObjectMissing, object_transfer
from mediaportal.exceptions import Conflict

log = logging.getLogger(__name__)

ARCHIVE_SWEEP_BATCH = 500
# A download moves a file's last access only when the one recorded is older than this: the
# rules count idle days, and a file downloaded over and over (a shared logo) would otherwise
# write its row on every download.
ACCESS_RECORDED_EVERY = timedelta(minutes=5)
# Copies to the archive run side by side: each is one S3 request that waits on the network.
_COPY_THREADS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="archive-copy")


# --- Refusing reads of what is not hot ----------------------------------------------------


def retrieve_hint(*, file: File, version: int | None = None) -> dict:
    """How the API retrieves the file's bytes (of `version`, when given)."""
    url = reverse("file-retrieve", kwargs={"tenant_slug": file.tenant.slug, "file_id": file.pk})
    return {"method": "POST", "url": url, **({"body": {"version": version}} if version else {})}


class FileArchived(Conflict):
    """A read of bytes in the archive tier: `one` file (with how to retrieve it), or `several`
    in a ZIP. `files` are the archived ones, for pages of their own to name."""

    default_code = "file_archived"

    def __init__(self, detail: str, *, files: list[File], extra: dict) -> None:
        super().__init__(detail, extra=extra)
        self.files = files

    @classmethod
    def one(cls, file: File, *, version: int | None = None) -> FileArchived:
        hint = retrieve_hint(file=file, version=version)
        which = f"Version {version} of “{file.name}”" if version else f"“{file.name}”"
        how = f"POST {hint['url']}" + (f' with {{"version": {version}}}' if version else "")
        detail = f"{which} is archived. Retrieve it first ({how}); it can be downloaded once it is back."
        return cls(detail, files=[file], extra={"retrieve": hint})

    @classmethod
    def several(cls, files: list[File]) -> FileArchived:
        shown = ", ".join(f"“{f.name}”" for f in files[:10]) + (" and more" if len(files) > 10 else "")
        one = len(files) == 1
        detail = f"{len(files)} of these files {'is' if one else 'are'} archived: {shown}. "
        detail += f"Retrieve {'it' if one else 'them'} first, then download the files together."
        return cls(detail, files=files, extra={"archived": [str(f.pk) for f in files]})


class FileRetrieving(Conflict):
    default_code = "file_retrieving"

    def __init__(self, *, files: list[File]) -> None:
        names = ", ".join(f"“{f.name}”" for f in files[:10])
        verb = "is" if len(files) == 1 else "are"
        super().__init__(f"{names} {verb} being retrieved from the archive; try again once it is back.")
        self.files = files


def blob_readable_or_409(*, blob: Blob, file: File, version: int | None = None) -> None:
    """409 `file_archived` (with where to retrieve it) or `file_retrieving` unless the blob's
    bytes are in the primary bucket: what every download checks before it signs a URL."""
    if blob.tier == BlobTier.ARCHIVE:
        raise FileArchived.one(file, version=version)
    if blob.tier == BlobTier.RETRIEVING:
        raise FileRetrieving(files=[file])


def files_readable_or_409(files: list[File]) -> None:
    """The same for a ZIP of `files` (current versions, blobs selected with them): refused
    whole, naming the files, rather than a ZIP that silently lacks some."""
    archived = [f for f in files if f.current_version and f.current_version.blob.tier == BlobTier.ARCHIVE]
    if archived:
        raise FileArchived.several(archived)
    retrieving = [f for f in files if f.current_version and f.current_version.blob.tier == BlobTier.RETRIEVING]
    if retrieving:
        raise FileRetrieving(files=retrieving)


def files_touch(*, file_ids) -> None:
    """Record that the files' bytes were read (a ZIP of them): the sweep leaves them hot."""
    File.objects.filter(pk__in=list(file_ids)).update(last_accessed_at=timezone.now())


# --- Which blobs may go -------------------------------------------------------------------

# A version that keeps its blob hot: any whose condition is not TRUE (NULL thresholds
# included). `{blob}` is the blob id's expression.
_ELIGIBLE = """
    EXISTS (SELECT 1 FROM files_fileversion v WHERE v.blob_id = {blob})
    AND NOT EXISTS (
        SELECT 1 FROM files_fileversion v JOIN files_file f ON f.id = v.file_id
        WHERE v.blob_id = {blob} AND (
            COALESCE(f.last_accessed_at, f.created_at) < CASE WHEN f.current_version_id = v.id
                THEN %(current)s::timestamptz ELSE %(noncurrent)s::timestamptz END
            AND CASE WHEN f.current_version_id = v.id
                THEN f.status NOT IN ('pending', 'processing')
                ELSE (SELECT min(n.created_at) FROM files_fileversion n
                      WHERE n.file_id = v.file_id AND n.number > v.number) < %(noncurrent)s::timestamptz
            END
        ) IS NOT TRUE
    )"""
# One batch: the next hot blobs of the tenant by id, each with whether it may go. The
# keyset on the id makes a run's batches cover every blob once whatever gets archived.
_WINDOW = f"""
    SELECT w.id, w.sha256, w.storage_key, w.content_type, w.size, {_ELIGIBLE.format(blob="w.id")} AS eligible
    FROM (
        SELECT id, sha256, storage_key, content_type, size FROM files_blob
        WHERE tenant_id = %(tenant)s AND tier = 'hot' AND integrity_lost_at IS NULL AND id > %(after)s
        ORDER BY id LIMIT %(batch)s
    ) AS w
    ORDER BY w.id"""
_STILL_ELIGIBLE = f"""
    SELECT b.id FROM files_blob b
    WHERE b.id = ANY(%(ids)s) AND b.tier = 'hot' AND {_ELIGIBLE.format(blob="b.id")}"""


@dataclass(frozen=True)
class Cutoffs:
    """Versions untouched since before these may go; `current` None: current ones never."""

    current: datetime | None
    noncurrent: datetime

    @classmethod
    def of(cls, tenant: Tenant, *, older_than_days: int | None, now: datetime) -> Cutoffs:
        if older_than_days is not None:
            cutoff = now - timedelta(days=older_than_days)
            return cls(current=cutoff, noncurrent=cutoff)
        days = tenant.archive_after_days
        return cls(
            current=None if days is None else now - timedelta(days=days),
            noncurrent=now - timedelta(days=tenant.noncurrent_archive_days),
        )

    def params(self) -> dict:
        return {"current": self.current, "noncurrent": self.noncurrent}


@dataclass
class _Candidate:
    id: int
    sha256: str
    storage_key: str
    content_type: str
    size: int


@dataclass
class SweepSummary:
    """What a sweep did (with `dry_run`: would do)."""

    examined: int = 0  # hot blobs looked at
    archived: int = 0  # blobs moved to the archive
    files: int = 0  # files whose bytes (a version's, at least) moved
    bytes: int = 0
    released: int = 0  # primary objects deleted once their grace was over
    failed: list[str] = field(default_factory=list)  # "<sha256 prefix>: why", blobs left hot
    dry_run: bool = False


def _window(*, tenant: Tenant, after: int, batch: int, cutoffs: Cutoffs) -> list[tuple[_Candidate, bool]]:
    with connection.cursor() as cursor:
        cursor.execute(_WINDOW, {"tenant": tenant.pk, "after": after, "batch": batch, **cutoffs.params()})
        return [(_Candidate(*row[:5]), row[5]) for row in cursor.fetchall()]


def _still_eligible(ids: list[int], cutoffs: Cutoffs) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(_STILL_ELIGIBLE, {"ids": ids, **cutoffs.params()})
        return {row[0] for row in cursor.fetchall()}


def _files_of(blob_ids) -> list[File]:
    """Every file (trashed ones too) with a version on one of the blobs."""
    return list(File.objects.filter(versions__blob_id__in=list(blob_ids)).distinct().only("id", "name", "tenant_id"))


def _current_files_of(blob_ids) -> list[File]:
    """The live files whose current version is on one of the blobs."""
    return list(
        File.objects.filter(current_version__blob_id__in=list(blob_ids), deleted_at__isnull=True).select_related(
            "folder"
        )
    )


def archive_sweep_total(*, tenant: Tenant | None = None) -> int:
    """How many blobs a sweep looks at (its progress bar's end)."""
    blobs = Blob.objects.filter(tier=BlobTier.HOT, integrity_lost_at__isnull=True)
    return (blobs.filter(tenant=tenant) if tenant else blobs).count()


def archive_sweep(
    *,
    tenant: Tenant | None = None,
    older_than_days: int | None = None,
    dry_run: bool = False,
    batch: int = ARCHIVE_SWEEP_BATCH,
    progress: Callable[[int, str], None] | None = None,
    now: datetime | None = None,
) -> SweepSummary:
    """Move to the archive the blobs nobody touched long enough (see the module's docstring),
    every tenant's or one's; `progress(examined, note)` after each batch.

    Safe to run again and beside another run: what one archived is no longer a candidate,
    and a run stopped half-way leaves only blobs still hot for the next. With `dry_run`
    nothing changes; the summary counts what would move.
    """
    now = now or timezone.now()
    summary = SweepSummary(dry_run=dry_run)
    if not dry_run:
        summary.released = archive_primaries_release(tenant=tenant)
        retrievals_requeue(tenant=tenant)
    tenants = [tenant] if tenant is not None else list(Tenant.objects.order_by("pk"))
    for each in tenants:
        cutoffs = Cutoffs.of(each, older_than_days=older_than_days, now=now)
        after = 0
        while rows := _window(tenant=each, after=after, batch=batch, cutoffs=cutoffs):
            after = rows[-1][0].id
            candidates = [candidate for candidate, eligible in rows if eligible]
            summary.examined += len(rows)
            if candidates:
                _sweep_batch(tenant=each, candidates=candidates, cutoffs=cutoffs, summary=summary)
            if progress:
                progress(len(rows), each.slug)
    log.info(
        "archive sweep%s: %d blobs examined, %d archived (%d files, %d bytes), %d primaries released, %d failed",
        " (dry run)" if dry_run else "",
        summary.examined,
        summary.archived,
        summary.files,
        summary.bytes,
        summary.released,
        len(summary.failed),
    )
    return summary


def _sweep_batch(*, tenant: Tenant, candidates: list[_Candidate], cutoffs: Cutoffs, summary: SweepSummary) -> None:
    if summary.dry_run:
        summary.archived += len(candidates)
        summary.bytes += sum(c.size for c in candidates)
        summary.files += len(_files_of(c.id for c in candidates))
        return
    copied, outage = _copy_to_archive(tenant=tenant, candidates=candidates, failed=summary.failed)
    if copied:
        archived, files = _archive_commit(tenant=tenant, copied=copied, cutoffs=cutoffs)
        summary.archived += len(archived)
        summary.bytes += sum(c.size for c in archived)
        summary.files += files
    if outage is not None:
        # The copies made are settled above; the rest waits for the next run.
        raise outage


def _copy_to_archive(
    *, tenant: Tenant, candidates: list[_Candidate], failed: list[str]
) -> tuple[list[_Candidate], storage.StorageUnavailable | None]:
    """Copy each candidate's object into the archive bucket; the ones that made it, and the
    outage that stopped others, if any."""

    def copy(candidate: _Candidate) -> None:
        object_transfer(
            key=candidate.storage_key,
            source="primary",
            target="archive",
            sha256=candidate.sha256,
            content_type=candidate.content_type,
            tenant_id=tenant.pk,
        )

    futures = [(candidate, _COPY_THREADS.submit(copy, candidate)) for candidate in candidates]
    copied, outage = [], None
    for candidate, future in futures:
        exc = future.exception()
        if exc is None:
            copied.append(candidate)
        elif isinstance(exc, ObjectMissing | ObjectCorrupt | storage.ObjectChanged):
            # Purged meanwhile (its row is gone: nothing to say), or damaged or lost: the
            # scrub's to repair; the blob stays hot meanwhile.
            if Blob.objects.filter(pk=candidate.id).exists():
                failed.append(f"{candidate.sha256[:12]}: primary object {type(exc).__name__}")
                log.warning("archive sweep: %s not archived: %r", candidate.storage_key, exc)
        elif isinstance(exc, storage.StorageUnavailable):
            outage = exc
        else:
            raise exc
    return copied, outage


def _archive_commit(*, tenant: Tenant, copied: list[_Candidate], cutoffs: Cutoffs) -> tuple[list[_Candidate], int]:
    """Under the content locks and the rows, archive those of `copied` still hot and eligible;
    the others lose the copy made for them (unless archived by someone else meanwhile)."""
    by_id = {c.id: c for c in copied}
    with transaction.atomic():
        content_locks(tenant_id=tenant.pk, sha256s=[c.sha256 for c in copied])
        tiers = dict(
            Blob.objects.select_for_update().filter(pk__in=list(by_id)).order_by("pk").values_list("pk", "tier")
        )
        still = _still_eligible(list(by_id), cutoffs)
        for blob_id, candidate in by_id.items():
            if blob_id not in still and tiers.get(blob_id, BlobTier.HOT) == BlobTier.HOT:
                # Touched, given a new version or purged since: the copy is nobody's.
                storage.object_delete(candidate.storage_key, role="archive")
        now = timezone.now()
        Blob.objects.filter(pk__in=still).update(tier=BlobTier.ARCHIVE, archived_at=now, retrieval_started_at=None)
        files = _files_of(still)
        event_record_many(verb="file.archived", tenant=tenant, targets=files, data={"tier": BlobTier.ARCHIVE})
        # Webhooks hear of live files whose current bytes moved (at most one event per file of
        # the batch), not of trashed files or old versions.
        files_event_publish(event="file.archived", files=_current_files_of(still))
        if still:
            ids = sorted(still)
            transaction.on_commit(lambda: _queue_release(ids), robust=True)
    return [by_id[blob_id] for blob_id in sorted(still)], len(files)


# --- Deleting the primary copy after the grace ----------------------------------------------


def archive_grace() -> timedelta:
    """How long an archived blob's primary object is kept (see the module's docstring)."""
    return timedelta(seconds=max(settings.ARCHIVE_PRIMARY_GRACE_SECONDS, settings.S3_PRESIGN_SECONDS + 60))


def _queue_release(blob_ids: list[int]) -> None:
    # By name, once the archiving committed; a lost message leaves the object to the next sweep.
    countdown = archive_grace().total_seconds() + 5
    current_app.send_task("files.archive_release_primary", args=[blob_ids], countdown=countdown)


def archive_primaries_release(*, tenant: Tenant | None = None, blob_ids: list[int] | None = None) -> int:
    """Delete the primary objects of blobs archived longer than the grace ago: of `blob_ids`,
    or every such object the primary bucket still lists (of the tenant, or of all); returns
    how many."""
    cutoff = timezone.now() - archive_grace()
    archived = Blob.objects.filter(tier=BlobTier.ARCHIVE, archived_at__lte=cutoff)
    if blob_ids is not None:
        return sum(_release(blob, cutoff) for blob in archived.filter(pk__in=blob_ids))
    tenant_ids = archived.filter(tenant=tenant) if tenant else archived
    released = 0
    for tenant_id in tenant_ids.values_list("tenant_id", flat=True).distinct().order_by():
        listed: list[str] = []
        for obj in storage.object_keys(f"{storage.TENANTS_PREFIX}{tenant_id}/blobs/"):
            listed.append(obj["Key"].rsplit("/", 1)[-1])
            if len(listed) >= 1000:
                released += _release_listed(archived, tenant_id, listed, cutoff)
                listed = []
        released += _release_listed(archived, tenant_id, listed, cutoff)
    return released


def _release_listed(archived, tenant_id, shas: list[str], cutoff: datetime) -> int:
    return sum(_release(blob, cutoff) for blob in archived.filter(tenant_id=tenant_id, sha256__in=shas))


def _release(blob: Blob, cutoff: datetime) -> int:
    with transaction.atomic():
        content_lock(tenant_id=blob.tenant_id, sha256=blob.sha256)
        row = Blob.objects.select_for_update().filter(pk=blob.pk, tier=BlobTier.ARCHIVE, archived_at__lte=cutoff)
        row = row.first()
        if row is None:
            return 0  # retrieved, being retrieved or purged meanwhile
        head = storage.object_head(row.storage_key, "archive")
        if head is None or head["ContentLength"] != row.size:
            # The archive copy is not there: the primary one is the only one, so the blob is hot.
            log.error("archived blob %s has no archive copy; back to hot", row.storage_key)
            Blob.objects.filter(pk=row.pk).update(tier=BlobTier.HOT, archived_at=None)
            return 0
        storage.object_delete(row.storage_key, role="primary")
    return 1


def archive_copy_drop(*, tenant_id, sha256: str, key: str) -> None:
    """After a blob became hot again (retrieved, or uploaded anew): delete its archive copy,
    unless it was archived again meanwhile. Under the content lock, after reading the row."""
    try:
        with transaction.atomic():
            content_lock(tenant_id=tenant_id, sha256=sha256)
            row = Blob.objects.filter(tenant_id=tenant_id, sha256=sha256).values_list("tier", flat=True).first()
            if row is None or row == BlobTier.HOT:
                storage.object_delete(key, role="archive")
    except storage.StorageUnavailable:
        log.warning("archive copy %s of a hot blob left in place: storage unavailable", key)


def retrievals_requeue(*, tenant: Tenant | None = None, older_than: timedelta = timedelta(days=1)) -> int:
    """Queue the retrieval task again for blobs retrieving for longer than a restore takes
    (a Glacier one: hours), whose task was lost; returns how many."""
    stale = Blob.objects.filter(
        tier=BlobTier.RETRIEVING, retrieval_started_at__lt=timezone.now() - older_than
    ).values_list("pk", flat=True)
    queued = []
    for blob_id in (stale.filter(tenant=tenant) if tenant else stale)[:10_000]:
        try:
            current_app.send_task("files.retrieve_blob", args=[blob_id])
        except KombuOperationalError as exc:
            log.warning("could not queue stale retrievals (%s); the next sweep tries again", exc)
            break
        queued.append(blob_id)
    Blob.objects.filter(pk__in=queued).update(retrieval_started_at=timezone.now())
    return len(queued)
