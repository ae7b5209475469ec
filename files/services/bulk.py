"""Acting on many files at once: move, tag, trash, download as one ZIP.

Each file goes through the service that acts on one file, with that service's checks
(files.permissions through `file_get_for_actor`), in a transaction of its own: a file the
member may not change is refused and reported, and the others proceed. The portal's bulk
bar and the admin's actions call these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Membership
from accounts.services.audit import event_record
from files.models import File
from files.names import clean_tags
from files.selectors import file_list, folder_get
from files.services.files import file_reprocess, file_update
from files.services.lifecycle import files_readable_or_409
from files.services.trash import file_trash
from mediaportal.exceptions import ApplicationError, ValidationFailed, parse_id


@dataclass
class BulkResult:
    """What a bulk action did: the files it changed and, per refused file, why."""

    done: list[File] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    def summary(self, verb: str) -> str:
        """`3 files moved; 1 refused: “a.jpg” (You may not change this file.)`"""
        done = f"{len(self.done)} file{'s' if len(self.done) != 1 else ''} {verb}"
        if not self.refused:
            return f"{done}."
        shown = "; ".join(f"“{name}” ({reason})" for name, reason in self.refused[:5])
        more = f" and {len(self.refused) - 5} more" if len(self.refused) > 5 else ""
        return f"{done}; {len(self.refused)} refused: {shown}{more}."


def files_selected(
    *, membership: Membership, file_ids: Iterable = (), folder_id=None, whole_folder: bool = False
) -> QuerySet[File]:
    """The visible live files a bulk action acts on: the chosen ids, or with `whole_folder`
    every file directly in the folder (the root when `folder_id` is None), loaded or not."""
    files = file_list(
        membership=membership, filters={"folder": str(folder_id) if folder_id else "root"} if whole_folder else {}
    )
    if not whole_folder:
        files = files.filter(id__in=[parse_id(pk, "File") for pk in file_ids])
    return files.order_by("name", "id")


def bulk_bounded(files: QuerySet[File], *, limit: int | None = None) -> list[File]:
    """The files, or a clear refusal when there are more than one action may take."""
    limit = limit or settings.PORTAL_BULK_MAX_FILES
    chosen = list(files[: limit + 1])
    if len(chosen) > limit:
        raise ValidationFailed(f"At most {limit:,} files at once; choose fewer.", code="too_many_files")
    if not chosen:
        raise ValidationFailed("Choose files first.", code="nothing_selected")
    return chosen


def _each(files: Iterable[File], act: Callable[[File], object]) -> BulkResult:
    result = BulkResult()
    for file in files:
        try:
            act(file)
        except ApplicationError as exc:
            result.refused.append((file.name, exc.detail))
        else:
            result.done.append(file)
    return result


def files_bulk_move(*, membership: Membership, files: Iterable[File], folder_id, ip: str | None = None) -> BulkResult:
    """Move each file to the folder (None: the root)."""
    if folder_id:
        folder_get(membership=membership, folder_id=folder_id)  # a foreign or trashed target is a 404 for all
    return _each(files, lambda f: file_update(membership=membership, file_id=f.pk, data={"folder": folder_id}, ip=ip))


def files_bulk_tag(*, membership: Membership, files: Iterable[File], tags, ip: str | None = None) -> BulkResult:
    """Add the tags to each file's own."""
    added = clean_tags(tags)
    if not added:
        raise ValidationFailed("Give at least one tag.", code="invalid")
    return _each(
        files, lambda f: file_update(membership=membership, file_id=f.pk, data={"tags": [*f.tags, *added]}, ip=ip)
    )


def files_bulk_trash(*, membership: Membership, files: Iterable[File], ip: str | None = None) -> BulkResult:
    """Move each file to the trash."""
    return _each(files, lambda f: file_trash(membership=membership, file_id=f.pk, ip=ip))


def files_bulk_reprocess(*, membership: Membership, files: Iterable[File], ip: str | None = None) -> BulkResult:
    """Process each file's current version again."""
    return _each(files, lambda f: file_reprocess(membership=membership, file_id=f.pk, ip=ip))


@transaction.atomic
def files_zip_download(*, membership: Membership, files: list[File], ip: str | None = None) -> list[File]:
    """Check the ZIP's bounds and record the download of each file; the caller streams
    `files` (files.zipstream) once this returns. Every file here is one the member sees.
    409 naming the archived ones when some are: a ZIP that silently lacked them would look
    complete."""
    files = [f for f in files if f.current_version_id is not None]
    total = sum(f.size for f in files)
    if len(files) > settings.PORTAL_ZIP_MAX_FILES:
        raise ValidationFailed(
            f"A ZIP holds at most {settings.PORTAL_ZIP_MAX_FILES:,} files; choose fewer.", code="zip_too_large"
        )
    if total > settings.PORTAL_ZIP_MAX_BYTES:
        raise ValidationFailed(
            f"A ZIP holds at most {settings.PORTAL_ZIP_MAX_BYTES:,} bytes and these files have {total:,}; "
            "choose fewer.",
            code="zip_too_large",
        )
    files_readable_or_409(files)
    File.objects.filter(pk__in=[f.pk for f in files]).update(last_accessed_at=timezone.now())
    for file in files:
        event_record(
            verb="file.downloaded",
            tenant=membership.tenant,
            actor=membership.user,
            target=file,
            ip=ip,
            data={"zip": True},
        )
    return files
