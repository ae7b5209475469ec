"""Writes for folders: create, rename, move. Paths are materialised, so a rename or move
rewrites the subtree's paths in one UPDATE."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Value
from django.db.models.functions import Concat, Substr

from accounts.models import Membership
from accounts.services.audit import event_record
from files.models import Folder
from files.names import clean_name
from files.permissions import can_change_folder, can_create, subtree_holds_files_beyond
from files.selectors import folder_get
from mediaportal.exceptions import Conflict, Forbidden, NotFound, ValidationFailed

# PostgreSQL's deadlock_detected and serialization_failure: the other transaction went ahead.
RETRYABLE_SQLSTATES = {"40P01", "40001"}


def _sqlstate(exc: Exception) -> str | None:
    cause = exc.__cause__
    return getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)


@contextmanager
def atomic_or_conflict(*, unique: str | None = None, detail: str = "") -> Iterator[None]:
    """A transaction whose lost races are a 409 instead of a 500: the name constraint `unique`
    (another request took the name between our check and our write) is `name_conflict`, a
    deadlock or serialization failure is `retry`. Without `unique`, integrity errors pass."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        if unique is None or unique not in str(exc):
            raise
        raise Conflict(detail, code="name_conflict") from None
    except OperationalError as exc:
        if _sqlstate(exc) not in RETRYABLE_SQLSTATES:
            raise
        raise Conflict("The change collided with another one made at the same time; try again.", code="retry") from None


def _chain_paths(path: str) -> list[str]:
    """The live paths from the root down to `path`: "/A/B/" gives "/A/", "/A/B/"."""
    names = path.strip("/").split("/")
    return [f"/{'/'.join(names[: i + 1])}/" for i in range(len(names))]


def folder_lock_for_write(*, folder: Folder | None) -> Folder | None:
    """`folder` read again with it and every folder above it locked FOR KEY SHARE until the
    transaction ends, for a write that puts something into it; 404 when it is trashed.

    A trash or a move locks its folder FOR UPDATE before it looks for what is inside, which
    this waits for (or makes wait), so a new subfolder or file can't land in a folder
    trashed meanwhile, where its commit would succeed (foreign keys are checked at commit)
    and leave it live. The whole chain, because trashing /A/ takes only A's row lock before
    it marks /A/B/. KEY SHARE, not SHARE: the path rewrites below a moved or trashed folder
    don't wait for it, and writes into the same folder don't wait for each other.
    """
    if folder is None:
        return None
    for _attempt in range(3):
        if not folder.path.startswith("/"):
            raise NotFound("Folder not found.")  # in the trash already
        ids = [
            folder.pk,
            *Folder.objects.filter(
                tenant_id=folder.tenant_id, path__in=_chain_paths(folder.path), deleted_at__isnull=True
            )
            .exclude(pk=folder.pk)
            .values_list("pk", flat=True),
        ]
        # Root first, so two writers lock a shared chain in the same order. By id, not by path
        # or deleted_at: a row changed while we waited would silently drop out of the result.
        table = Folder._meta.db_table
        locked = list(
            Folder.objects.raw(
                f"SELECT * FROM {table} WHERE id = ANY(%s) ORDER BY length(path), id FOR KEY SHARE",  # noqa: S608
                [ids],
            )
        )
        current = next((f for f in locked if f.pk == folder.pk), None)
        if current is None or current.deleted_at is not None:
            raise NotFound("Folder not found.")  # trashed or purged while we waited
        chain = _chain_paths(current.path)
        if sum(1 for f in locked if f.deleted_at is None and f.path in chain) == len(chain):
            return current
        folder = current  # moved while we waited: lock its new chain
    raise Conflict("The folder was moved while this change was made; try again.", code="retry")


def folder_path(parent: Folder | None, name: str) -> str:
    return f"{parent.path if parent else '/'}{name}/"


def sibling_taken(*, tenant_id, parent: Folder | None, name: str, exclude_id=None) -> bool:
    siblings = Folder.objects.filter(tenant_id=tenant_id, parent=parent, name__iexact=name, deleted_at__isnull=True)
    if exclude_id is not None:
        siblings = siblings.exclude(pk=exclude_id)
    return siblings.exists()


def rewrite_subtree_paths(*, folder: Folder, old_path: str) -> None:
    """Give every live folder below `folder` the new prefix.

    Trashed subtrees have paths of their own (see Folder), so this never reaches them; a
    restore computes its path from the parent it goes back to.
    """
    if old_path == folder.path:
        return
    Folder.objects.filter(tenant_id=folder.tenant_id, path__startswith=old_path, deleted_at__isnull=True).exclude(
        pk=folder.pk
    ).update(path=Concat(Value(folder.path), Substr("path", len(old_path) + 1)))


def folder_create(*, membership: Membership, name: str, parent_id=None, ip: str | None = None) -> Folder:
    if not can_create(membership=membership):
        raise Forbidden("Viewers cannot create folders.")
    parent = folder_get(membership=membership, folder_id=parent_id) if parent_id else None
    name = clean_name(name, kind="folder")
    taken = f"A folder named “{name}” already exists here."
    with atomic_or_conflict(unique="folder_sibling_name_unique", detail=taken):
        parent = folder_lock_for_write(folder=parent)
        if sibling_taken(tenant_id=membership.tenant_id, parent=parent, name=name):
            raise Conflict(taken, code="name_conflict")
        folder = Folder.objects.create(
            tenant_id=membership.tenant_id,
            parent=parent,
            name=name,
            path=folder_path(parent, name),
            created_by=membership.user,
        )
        event_record(verb="folder.created", tenant=membership.tenant, actor=membership.user, target=folder, ip=ip)
    return folder


def folder_update(*, membership: Membership, folder_id, data: dict, ip: str | None = None) -> Folder:
    """Rename (`name`) and/or move (`parent`: a folder id, or None for the root)."""
    with atomic_or_conflict(unique="folder_sibling_name_unique", detail="A folder of that name already exists there."):
        return _folder_update(membership=membership, folder_id=folder_id, data=data, ip=ip)


def _lock_for_update(*, folder: Folder, parent: Folder | None, moving: bool) -> tuple[Folder, Folder | None]:
    """The folder and its new parent, locked and read again; 404 when either went to the trash,
    400 `invalid_move` into its own subtree, 409 `retry` when it was moved meanwhile."""
    # First what is above the folder and above its new parent (see folder_lock_for_write): a
    # trash of either chain then waits for the move, or the move sees the trash, before the
    # move holds a row that trash would mark.
    ends = [f for f in (folder, parent if moving else None) if f is not None]
    above = {f.pk: f.parent_id for f in ends}
    for upper in sorted({f.parent for f in ends if f.parent_id is not None}, key=str):
        folder_lock_for_write(folder=upper)
    # Lock the folder and its new parent together, in id order: two moves of folders into each
    # other then queue up instead of deadlocking on each other's row, and the loser re-reads
    # the winner's paths below (so moving B into A after A went into B is the 400 it should be).
    ids = sorted({folder.pk} | ({parent.pk} if moving and parent is not None else set()))
    locked = {f.pk: f for f in Folder.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
    if any(locked.get(pk) is None or locked[pk].deleted_at is not None for pk in ids):
        raise NotFound("Folder not found.")  # trashed or purged meanwhile
    folder = locked[folder.pk]
    if moving:
        parent = locked[parent.pk] if parent is not None else None
        if parent is not None and parent.path.startswith(folder.path):
            raise ValidationFailed(
                "A folder cannot be moved into itself or one of its subfolders.", code="invalid_move"
            )
    if any(locked[pk].parent_id != parent_id for pk, parent_id in above.items()):
        # Moved since we locked what was above it, so its new chain may be being trashed.
        raise Conflict("The folder was moved while this change was made; try again.", code="retry")
    return folder, parent


def _folder_update(*, membership: Membership, folder_id, data: dict, ip: str | None) -> Folder:
    folder = folder_get(membership=membership, folder_id=folder_id)
    if not can_change_folder(membership=membership, folder=folder):
        raise Forbidden("You may not change this folder.")
    moving = "parent" in data
    parent = folder.parent
    if moving:
        parent = folder_get(membership=membership, folder_id=data["parent"]) if data["parent"] else None
    folder, parent = _lock_for_update(folder=folder, parent=parent, moving=moving)
    old_path = folder.path
    changed = []
    if moving and (parent.pk if parent else None) != folder.parent_id:
        if subtree_holds_files_beyond(membership=membership, folder=folder, perm="share"):
            raise Conflict(
                "This folder holds files you may not share, and moving it would give others access to them. "
                "Their owner or an admin can move it, or move those files out first.",
                code="folder_holds_protected_files",
            )
        folder.parent = parent
        changed.append("parent")
    if "name" in data:
        name = clean_name(data["name"], kind="folder")
        if name != folder.name:
            folder.name = name
            changed.append("name")
    if not changed:
        return folder
    if sibling_taken(tenant_id=folder.tenant_id, parent=folder.parent, name=folder.name, exclude_id=folder.pk):
        raise Conflict(f"A folder named “{folder.name}” already exists there.", code="name_conflict")
    folder.path = folder_path(folder.parent, folder.name)
    folder.save(update_fields=[*changed, "path", "updated_at"])
    rewrite_subtree_paths(folder=folder, old_path=old_path)
    event_record(
        verb="folder.moved" if "parent" in changed else "folder.renamed",
        tenant=membership.tenant,
        actor=membership.user,
        target=folder,
        ip=ip,
        data={"from": old_path, "to": folder.path},
    )
    return folder


# A folder upload's structure is at most this deep below the folder it is dropped into.
MAX_RELATIVE_DEPTH = 32


def relative_path_names(path: str) -> list[str]:
    """The folder names of a relative path ("Trip/Day 1" → ["Trip", "Day 1"]), each cleaned
    like a folder name; 400 `invalid_path` for ".." or a path too deep."""
    parts = [part for part in (path or "").replace("\\", "/").split("/") if part.strip() not in ("", ".")]
    if any(part.strip() == ".." for part in parts):
        raise ValidationFailed("relative_path may not contain “..”.", code="invalid_path")
    if len(parts) > MAX_RELATIVE_DEPTH:
        raise ValidationFailed(f"relative_path is at most {MAX_RELATIVE_DEPTH} folders deep.", code="invalid_path")
    return [clean_name(part, kind="folder") for part in parts]


def folder_ensure_path(*, membership: Membership, path: str, parent_id=None, ip: str | None = None) -> Folder | None:
    """The folder at `path` below `parent_id` (the root when None), creating the folders
    that are missing; returns the parent itself for an empty path.

    Many uploads of one dropped folder arrive at once and all want the same new folders:
    each missing folder is inserted in a transaction of its own, and an insert that loses
    the race on the sibling-name constraint (it waits for the winner's commit) reads the
    winner's folder instead of failing.
    """
    names = relative_path_names(path)
    parent = folder_get(membership=membership, folder_id=parent_id) if parent_id else None
    if names and not can_create(membership=membership):
        raise Forbidden("Viewers cannot create folders.")
    for name in names:
        parent = _child_folder(membership=membership, parent=parent, name=name, ip=ip)
    return parent


def _child_folder(*, membership: Membership, parent: Folder | None, name: str, ip: str | None) -> Folder:
    for _attempt in range(3):
        existing = Folder.objects.filter(
            tenant_id=membership.tenant_id, parent=parent, name__iexact=name, deleted_at__isnull=True
        ).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                locked = folder_lock_for_write(folder=parent)
                folder = Folder.objects.create(
                    tenant_id=membership.tenant_id,
                    parent=locked,
                    name=name,
                    path=folder_path(locked, name),
                    created_by=membership.user,
                )
                event_record(
                    verb="folder.created", tenant=membership.tenant, actor=membership.user, target=folder, ip=ip
                )
            return folder
        except IntegrityError as exc:
            if "folder_sibling_name_unique" not in str(exc):
                raise
    raise Conflict("The folder was changed while this upload made it; try again.", code="retry")
