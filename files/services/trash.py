"""The trash: deleting moves things here; restore puts them back; purge deletes for good."""

from __future__ import annotations

import functools
import logging
import uuid
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Membership, Tenant
from accounts.services.audit import event_record
from files.models import File, FileVersion, Folder, trashed_path_prefix
from files.names import numbered_name
from files.permissions import can_change_folder, files_protected_from_purge, subtree_holds_files_beyond
from files.selectors import file_get_for_actor, folder_get, trash_files, trash_folders
from files.services.blobs import blob_release_if_unused
from files.services.file_events import file_event_publish
from files.services.files import free_file_name
from files.services.folders import atomic_or_conflict, folder_lock_for_write, folder_path, sibling_taken
from files.services.quota import usage_settle
from mediaportal.exceptions import Conflict, Forbidden, NotFound, ValidationFailed, parse_id

log = logging.getLogger(__name__)


# --- Moving to the trash ----------------------------------------------------------


@transaction.atomic
def file_trash(*, membership: Membership, file_id, ip: str | None = None) -> File:
    file = file_get_for_actor(membership=membership, file_id=file_id, perm="delete")
    now = timezone.now()
    File.objects.filter(pk=file.pk).update(deleted_at=now, deleted_by=membership.user, trashed_via=None)
    event_record(verb="file.trashed", tenant=membership.tenant, actor=membership.user, target=file, ip=ip)
    return file


@transaction.atomic
def folder_trash(*, membership: Membership, folder_id, ip: str | None = None) -> Folder:
    """Trash the folder with everything live below it, remembered as one trash entry.

    All or nothing: a folder holding files the actor may not delete (someone else's, maybe
    private) is refused with 409, rather than trashing those files or leaving them behind
    in a trashed folder.
    """
    folder = folder_get(membership=membership, folder_id=folder_id)
    if not can_change_folder(membership=membership, folder=folder, perm="delete"):
        raise Forbidden("You may not delete this folder.")
    folder = Folder.objects.select_for_update().get(pk=folder.pk)
    now = timezone.now()
    tenant_id = folder.tenant_id
    inside = File.objects.filter(tenant_id=tenant_id, folder__path__startswith=folder.path, deleted_at__isnull=True)
    if subtree_holds_files_beyond(membership=membership, folder=folder, perm="delete"):
        raise Conflict(
            "This folder holds files you may not delete. Their owner or an admin can move or delete them first.",
            code="folder_holds_protected_files",
        )
    # Files first: they are found through their folders' live paths, which change below.
    inside.update(deleted_at=now, deleted_by=membership.user, trashed_via=folder)
    # The subtree leaves the live namespace (see Folder): its paths get this entry's id in front.
    in_trash = Concat(Value(trashed_path_prefix(folder.pk)), F("path"))
    subtree = Folder.objects.filter(tenant_id=tenant_id, path__startswith=folder.path, deleted_at__isnull=True)
    subtree.exclude(pk=folder.pk).update(deleted_at=now, deleted_by=membership.user, trashed_via=folder, path=in_trash)
    Folder.objects.filter(pk=folder.pk).update(
        deleted_at=now, deleted_by=membership.user, trashed_via=None, path=in_trash
    )
    event_record(verb="folder.trashed", tenant=membership.tenant, actor=membership.user, target=folder, ip=ip)
    return folder


# --- Listing ----------------------------------------------------------------------


def trash_entries(*, membership: Membership, limit: int, after: tuple | None = None) -> list[dict]:
    """Trash entries, newest first, `limit` of them after the cursor (deleted_at, id)."""
    files = trash_files(membership=membership).select_related("folder", "deleted_by")
    folders = trash_folders(membership=membership).select_related("deleted_by")
    if after is not None:
        deleted_at, item_id = after
        keyset = Q(deleted_at__lt=deleted_at) | Q(deleted_at=deleted_at, id__lt=item_id)
        files, folders = files.filter(keyset), folders.filter(keyset)
    entries = [
        {
            "id": f.id,
            "kind": "file",
            "name": f.name,
            "deleted_at": f.deleted_at,
            "original_path": (f.folder.display_path if f.folder else "/") + f.name,
            "size": f.size,
            "deleted_by": f.deleted_by,
        }
        for f in files.order_by("-deleted_at", "-id")[:limit]
    ] + [
        {
            "id": d.id,
            "kind": "folder",
            "name": d.name,
            "deleted_at": d.deleted_at,
            "original_path": d.display_path,
            "size": None,
            "deleted_by": d.deleted_by,
        }
        for d in folders.order_by("-deleted_at", "-id")[:limit]
    ]
    entries.sort(key=lambda e: (e["deleted_at"], e["id"]), reverse=True)
    return entries[:limit]


def trash_cursor(entry: dict) -> str:
    """The cursor of the entries after `entry` (see `trash_cursor_parse`)."""
    return f"{entry['deleted_at'].isoformat()}_{entry['id']}"


def trash_cursor_parse(raw: str | None) -> tuple[datetime, uuid.UUID] | None:
    """`<deleted_at>_<id>` as `trash_cursor` wrote it; anything else is a 400 `invalid_cursor`."""
    if not raw:
        return None
    stamp, _, item_id = raw.partition("_")
    try:
        # parse_datetime returns None for what isn't a date, and raises on an impossible one.
        # A "+" of the offset arrives as a space when the cursor was not URL-encoded.
        moment = parse_datetime(stamp.replace(" ", "+"))
        item_uuid = uuid.UUID(item_id)
    except ValueError:
        raise ValidationFailed("Invalid cursor.", code="invalid_cursor") from None
    if moment is None:
        raise ValidationFailed("Invalid cursor.", code="invalid_cursor")
    return (timezone.make_aware(moment, UTC) if timezone.is_naive(moment) else moment), item_uuid


def trash_purge_date(*, tenant: Tenant, deleted_at: datetime) -> datetime:
    """When the daily sweep purges an entry (`trash_purge_expired`)."""
    return deleted_at + timedelta(days=tenant.trash_retention_days)


def _trash_item(*, membership: Membership, item_id) -> File | Folder:
    pk = parse_id(item_id, "Trash entry")
    item = (
        trash_files(membership=membership).select_related("folder").filter(pk=pk).first()
        or trash_folders(membership=membership).select_related("parent").filter(pk=pk).first()
    )
    if item is None:
        raise NotFound("Not in the trash.")
    return item


# --- Restoring --------------------------------------------------------------------


def trash_restore(*, membership: Membership, item_id, ip: str | None = None) -> File | Folder:
    """Put an entry back where it was; into the root if that folder is gone, renamed on a clash.

    An upload or folder taking the name between our check and our write is a 409
    `name_conflict` (try again: the next free name is then found), not a 500.
    """
    item = _trash_item(membership=membership, item_id=item_id)
    if isinstance(item, File):
        unique, detail, restore = "file_folder_name_unique", "A file of that name was just added there.", _restore_file
    else:
        unique, detail, restore = (
            "folder_sibling_name_unique",
            "A folder of that name was just added there.",
            _restore_folder,
        )
    with atomic_or_conflict(unique=unique, detail=detail):
        restored = restore(item)
        event_record(
            verb=f"{restored._meta.model_name}.restored",
            tenant=membership.tenant,
            actor=membership.user,
            target=restored,
            ip=ip,
        )
        if isinstance(restored, File):
            file_event_publish(event="file.restored", file=restored, **{"from": "trash"})
    return restored


def _live_or_root(folder: Folder | None) -> Folder | None:
    """`folder` and every folder above it locked against being trashed until commit (see
    `folder_lock_for_write`), or None, the root, when it is in the trash or gone.

    Taken before the entry's own lock, the order a trash of that folder takes them in: a
    restore into a folder being trashed waits for the trash and then goes to the root,
    instead of landing live in a folder whose trash commits after it.
    """
    if folder is None or folder.deleted_at is not None:
        return None
    try:
        return folder_lock_for_write(folder=folder)
    except NotFound:
        return None


def _restore_file(file: File) -> File:
    folder = _live_or_root(file.folder)
    file = _locked_entry(File.objects, file.pk)
    file.folder = folder
    file.name = free_file_name(tenant_id=file.tenant_id, folder=file.folder, name=file.name)
    file.deleted_at = file.deleted_by = file.trashed_via = None
    file.last_accessed_at = timezone.now()  # a restore touches it (see File)
    file.save(
        update_fields=["folder", "name", "deleted_at", "deleted_by", "trashed_via", "updated_at", "last_accessed_at"]
    )
    return file


def _restore_folder(folder: Folder) -> Folder:
    parent = _live_or_root(folder.parent)
    folder = _locked_entry(Folder.objects, folder.pk)
    old_path = folder.path
    folder.parent = parent
    base, n = folder.name, 1
    while sibling_taken(tenant_id=folder.tenant_id, parent=folder.parent, name=folder.name, exclude_id=folder.pk):
        folder.name = numbered_name(base, n, kind="folder")
        n += 1
    folder.path = folder_path(folder.parent, folder.name)
    folder.deleted_at = folder.deleted_by = None
    folder.save(update_fields=["parent", "name", "path", "deleted_at", "deleted_by", "updated_at"])
    # Exactly what went to the trash with it comes back, under the new path. Subfolders
    # trashed on their own before stay in the trash, with their own prefix.
    Folder.objects.filter(trashed_via=folder).update(
        path=Concat(Value(folder.path), Substr("path", len(old_path) + 1)),
        deleted_at=None,
        deleted_by=None,
        trashed_via=None,
    )
    File.objects.filter(trashed_via=folder).update(
        deleted_at=None, deleted_by=None, trashed_via=None, last_accessed_at=timezone.now()
    )
    return folder


def _locked_entry(items, pk):
    """The trash entry `pk`, locked; 404 if a concurrent restore or purge got there first."""
    item = items.select_for_update(of=("self",)).filter(pk=pk, deleted_at__isnull=False, trashed_via__isnull=True)
    item = item.first()
    if item is None:
        raise NotFound("Not in the trash.")
    return item


# --- Purging ----------------------------------------------------------------------


def _purge_files(files) -> int:
    """Delete files with their versions, and the blobs (and S3 objects) nobody else uses.

    Files are locked in id order, then blobs released in id order, so two purges of
    overlapping files (the trash emptied while the sweep runs) cannot deadlock; a caller
    purges everything of its transaction in one call, or the order holds per call only.
    Each released blob adds a usage row; they are folded after the commit (`usage_settle`).
    """
    file_ids = list(files.order_by("pk").select_for_update(of=("self",)).values_list("pk", flat=True))
    if not file_ids:
        return 0
    blob_tenants = dict(FileVersion.objects.filter(file_id__in=file_ids).values_list("blob_id", "tenant_id"))
    File.objects.filter(pk__in=file_ids).update(current_version=None)
    FileVersion.objects.filter(file_id__in=file_ids).delete()
    File.objects.filter(pk__in=file_ids).delete()
    released = [blob_id for blob_id in sorted(blob_tenants) if blob_release_if_unused(blob_id=blob_id)]
    for tenant_id in {blob_tenants[blob_id] for blob_id in released}:
        transaction.on_commit(functools.partial(usage_settle, tenant_id=tenant_id), robust=True)
    return len(file_ids)


def _protected_files(*, membership: Membership, folder_ids):
    """The files trashed with the folder entries that the member may not purge."""
    files = File.objects.filter(tenant_id=membership.tenant_id, trashed_via_id__in=folder_ids)
    return files_protected_from_purge(membership=membership, files=files)


def _ensure_purgeable(*, membership: Membership, folder: Folder) -> None:
    if _protected_files(membership=membership, folder_ids=[folder.pk]).exists():
        raise Conflict(
            "This folder holds files you may not delete. Their owner or an admin can restore and move them first.",
            code="folder_holds_protected_files",
        )


def _purge_folder(folder: Folder) -> int:
    count = _purge_files(File.objects.filter(trashed_via=folder))
    _delete_folder_entries([folder.pk], tenant_id=folder.tenant_id)
    return count


def _lock_folder_entries(folders) -> list:
    """Ids of those of `folders` still in the trash as entries, locked in id order (folders
    are locked before files and blobs, as everywhere)."""
    still = folders.filter(deleted_at__isnull=False, trashed_via__isnull=True).order_by("pk")
    return list(still.select_for_update(of=("self",)).values_list("pk", flat=True))


def _delete_folder_entries(entry_ids: list, *, tenant_id) -> None:
    """Delete folder entries and what was trashed with them, addressed by id, never by path.

    A subfolder trashed on its own before is an entry of its own: it is detached first
    (keeping the path it had, so it still shows and restores where it was), or the delete
    would cascade through `parent` and its files would fall out as nameless root entries.
    Files trashed on their own inside the purged folders stay in the trash as their own
    entries (their folder becomes empty).
    """
    doomed = Folder.objects.filter(Q(pk__in=entry_ids) | Q(trashed_via_id__in=entry_ids), tenant_id=tenant_id)
    doomed_ids = list(doomed.values_list("pk", flat=True))
    Folder.objects.filter(tenant_id=tenant_id, parent_id__in=doomed_ids).exclude(pk__in=doomed_ids).update(parent=None)
    Folder.objects.filter(pk__in=doomed_ids).delete()


def trash_purge(*, membership: Membership, item_id, ip: str | None = None) -> None:
    item = _trash_item(membership=membership, item_id=item_id)
    with atomic_or_conflict():
        item = _locked_entry(type(item).objects.all(), item.pk)
        if isinstance(item, File):
            _purge_files(File.objects.filter(pk=item.pk))
        else:
            _ensure_purgeable(membership=membership, folder=item)
            _purge_folder(item)
        event_record(
            verb=f"{item._meta.model_name}.purged",
            tenant=membership.tenant,
            actor=membership.user,
            ip=ip,
            data={"id": str(item.pk), "name": item.name},
        )


def trash_empty(*, membership: Membership, ip: str | None = None) -> int:
    """Purge every entry the member may purge; returns how many files went.

    A folder entry holding files the member may not delete (someone else's, trashed with it
    by an admin) is left in the trash, whole, rather than refusing the lot: the rest of the
    trash is emptied as asked, and what stays is listed, where purging it says why not.
    All files go in one purge, so locks are taken in one order (see _purge_files).
    """
    with atomic_or_conflict():
        entry_ids = _lock_folder_entries(trash_folders(membership=membership))
        protected = set(
            _protected_files(membership=membership, folder_ids=entry_ids).values_list("trashed_via_id", flat=True)
        )
        entry_ids = [pk for pk in entry_ids if pk not in protected]
        purged = _purge_files(File.objects.filter(trashed_via_id__in=entry_ids) | trash_files(membership=membership))
        _delete_folder_entries(entry_ids, tenant_id=membership.tenant_id)
        event_record(
            verb="trash.emptied", tenant=membership.tenant, actor=membership.user, ip=ip, data={"files": purged}
        )
    return purged


@transaction.atomic
def file_delete_permanently(*, membership: Membership, file_id, ip: str | None = None) -> None:
    """`DELETE …?permanent=true`: skip the trash."""
    file = file_get_for_actor(membership=membership, file_id=file_id, perm="delete")
    _purge_files(File.objects.filter(pk=file.pk))
    event_record(
        verb="file.purged",
        tenant=membership.tenant,
        actor=membership.user,
        ip=ip,
        data={"id": str(file.pk), "name": file.name},
    )


@transaction.atomic
def folder_delete_permanently(*, membership: Membership, folder_id, ip: str | None = None) -> None:
    folder = folder_trash(membership=membership, folder_id=folder_id, ip=ip)
    _purge_folder(Folder.objects.get(pk=folder.pk))


def trash_purge_expired(*, now=None) -> int:
    """Purge what has been in the trash longer than each tenant's retention (the daily sweep)."""
    now = now or timezone.now()
    purged = 0
    for tenant in Tenant.objects.all().only("id", "trash_retention_days"):
        cutoff = now - timedelta(days=tenant.trash_retention_days)
        with transaction.atomic():
            # One purge per tenant, so its locks go in one order (see _purge_files).
            entry_ids = _lock_folder_entries(Folder.objects.filter(tenant=tenant, deleted_at__lt=cutoff))
            expired = Q(trashed_via_id__in=entry_ids) | Q(trashed_via__isnull=True, deleted_at__lt=cutoff)
            purged += _purge_files(File.objects.filter(expired, tenant=tenant))
            _delete_folder_entries(entry_ids, tenant_id=tenant.id)
    if purged:
        log.info("trash sweep purged %d files", purged)
    return purged
