"""Who may do what with files, folders, the trash, share links, grants and the audit trail.

Every rule lives here, and every caller (API, portal, search, sharing, analytics, tasks)
asks here. Visibility is an id subquery (`file_ids_visible_to`) that lists, searches and
exports filter by, so nothing is checked row by row in Python.

The roles: owners and admins may do anything in their tenant. Editors create, and change,
delete and share their own files and folders and what they were granted. Viewers read.
Everyone sees files whose visibility is `tenant` or `public`, their own, and what was
granted to them or their groups, on the file or on a folder above it.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Length, Substr

from accounts.models import Membership, PublicFiles, Role, role_at_least
from files.models import (
    File,
    FileGroupPermission,
    FileUserPermission,
    Folder,
    FolderGroupPermission,
    FolderUserPermission,
    Visibility,
)

# Grant names in the API, and the permission codenames they stand for.
GRANTS = ("view", "change", "delete", "share")
# A grant of any of these also lets its holder see the object.
IMPLIES_VIEW = GRANTS


def sees_all(membership: Membership) -> bool:
    """Owners and admins: every file, folder, trash entry, link and grant of the tenant."""
    return role_at_least(membership.role, Role.ADMIN)


def can_create(*, membership: Membership) -> bool:
    """Upload files and make folders."""
    return role_at_least(membership.role, Role.EDITOR)


# --- Grants, as subqueries ------------------------------------------------------------


def _codes(kind: str, perms: tuple[str, ...]) -> list[str]:
    return [f"{perm}_{kind}" for perm in perms]


def _groups(membership: Membership) -> QuerySet:
    """The member's groups in their tenant (auth groups, as a subquery)."""
    return Group.objects.filter(user=membership.user_id, tenant_group__tenant_id=membership.tenant_id)


def _managers(tenant_id) -> QuerySet:
    """Ids of the tenant's owners and admins (a subquery)."""
    return Membership.objects.filter(tenant_id=tenant_id, role__in=[Role.OWNER, Role.ADMIN]).values("user_id")


def _reach(*, tenant_id, owned_by) -> Q:
    """Which folder grants reach an item below their folder owned (or created) by `owned_by`.

    A grant made by an owner or admin reaches everything under the folder; anyone else's
    only what they own there themselves, so passing a folder on never shows more than the
    grantor could see on their own account (the folder may hold others' private files).
    """
    return Q(granted_by__isnull=True) | Q(granted_by_id=owned_by) | Q(granted_by__in=_managers(tenant_id))


def _effective(*, root_made_only: bool = False) -> Q:
    """Which grant rows count. A grant made by someone who may give anything on the object
    (its owner, an owner or admin of the tenant) has no `grantor`; a re-grant names its
    grantor's membership, lasts only while they stay an editor or more (and a member: the
    foreign key cascades), and is deleted when the rights it came from end
    (sharing.services.grants). `root_made_only`: only the former, which are what a re-grant
    may pass on, so re-grants never chain."""
    if root_made_only:
        return Q(grantor__isnull=True)
    return Q(grantor__isnull=True) | Q(grantor__role__in=[Role.EDITOR, Role.ADMIN, Role.OWNER])


def _live_folder_grants(grants: QuerySet, tenant_id) -> QuerySet:
    # A grant on a trashed folder covers nothing until the folder is restored.
    return grants.filter(content_object__tenant_id=tenant_id, content_object__deleted_at__isnull=True)


def _granted(membership: Membership, perms: tuple[str, ...], *, root_made_only: bool = False) -> Q:
    """Files granted to the member (or one of their groups), directly or through a folder above them."""
    user, groups, effective = membership.user_id, _groups(membership), _effective(root_made_only=root_made_only)
    direct = FileUserPermission.objects.filter(effective, user_id=user, permission__codename__in=_codes("file", perms))
    direct_group = FileGroupPermission.objects.filter(
        effective, group__in=groups, permission__codename__in=_codes("file", perms)
    )

    def covering(folder_perms):
        # A folder grant covers everything under the folder, now and later: the file's folder
        # path starts with the granted folder's path.
        folder_perms = _live_folder_grants(folder_perms, membership.tenant_id).filter(
            effective,
            _reach(tenant_id=membership.tenant_id, owned_by=OuterRef("owner_id")),
            permission__codename__in=_codes("folder", perms),
        )
        return Exists(
            folder_perms.annotate(prefix=Substr(OuterRef("folder__path"), 1, Length("content_object__path"))).filter(
                content_object__path=F("prefix")
            )
        )

    return (
        Q(id__in=direct.values("content_object_id"))
        | Q(id__in=direct_group.values("content_object_id"))
        | Q(folder__isnull=False) & covering(FolderUserPermission.objects.filter(user_id=user))
        | Q(folder__isnull=False) & covering(FolderGroupPermission.objects.filter(group__in=groups))
    )


# --- Files ------------------------------------------------------------------------------


def file_ids_visible_to(*, membership: Membership, perm: str = "view", root_made_only: bool = False) -> QuerySet:
    """Ids of the live files in the member's tenant that they may `perm` (an id subquery);
    `root_made_only` leaves re-grants out (see `_effective`)."""
    files = File.objects.filter(tenant_id=membership.tenant_id, deleted_at__isnull=True)
    if sees_all(membership):
        return files.values("id")
    if perm == "view":
        files = files.filter(
            Q(visibility__in=[Visibility.TENANT, Visibility.PUBLIC])
            | Q(owner_id=membership.user_id)
            | _granted(membership, IMPLIES_VIEW, root_made_only=root_made_only)
        )
    elif membership.role == Role.EDITOR:
        files = files.filter(
            Q(owner_id=membership.user_id) | _granted(membership, (perm,), root_made_only=root_made_only)
        )
    else:
        files = files.none()
    return files.values("id")


def visible_files(files: QuerySet[File], *, membership: Membership, perm: str = "view") -> QuerySet[File]:
    """`files` narrowed to those of `file_ids_visible_to`. Owners and admins may see every live
    file of the tenant, which is filtered on the rows themselves: the id subquery cost a
    file's fetch a third of its time in Python and planning."""
    if sees_all(membership):
        return files.filter(tenant_id=membership.tenant_id, deleted_at__isnull=True)
    return files.filter(tenant_id=membership.tenant_id, id__in=file_ids_visible_to(membership=membership, perm=perm))


def can_change_file(*, membership: Membership, file: File, perm: str = "change", root_made_only: bool = False) -> bool:
    """Whether the member may `perm` (change, delete, share) a file they can see."""
    if sees_all(membership):
        return True
    if membership.role != Role.EDITOR:
        return False
    visible = file_ids_visible_to(membership=membership, perm=perm, root_made_only=root_made_only)
    return file.owner_id == membership.user_id or visible.filter(id=file.pk).exists()


def file_rights(*, membership: Membership, file: File, root_made_only: bool = False) -> set[str]:
    """What the member may do to a file, as grant names (`root_made_only`: see `_effective`)."""
    held = {
        perm
        for perm in GRANTS[1:]
        if can_change_file(membership=membership, file=file, perm=perm, root_made_only=root_made_only)
    }
    seen = file_ids_visible_to(membership=membership, root_made_only=root_made_only).filter(id=file.pk).exists()
    return held | ({"view"} if seen or not root_made_only else set())


def can_change_visibility(*, membership: Membership, file: File, visibility: str) -> bool:
    """Whether the member may set the file's visibility: who sees a file is shared by it, so
    any change needs the share right; making it public (anyone, no link to revoke, no
    expiry) also needs the tenant's `public_files` setting to allow the member."""
    if not can_change_file(membership=membership, file=file, perm="share"):
        return False
    if visibility != Visibility.PUBLIC:
        return True
    allowed = membership.tenant.public_files
    if allowed == PublicFiles.NOBODY:
        return False
    return sees_all(membership) or (allowed == PublicFiles.FILE_OWNERS and file.owner_id == membership.user_id)


def can_read_file_activity(*, membership: Membership, file: File) -> bool:
    """Whether the member may read the audit events of one file: those who may read the whole
    trail, and the file's owner (what happened to their own file)."""
    return sees_all(membership) or file.owner_id == membership.user_id


def publicly_visible() -> Q:
    """Files anyone may see without an account (`/p/<id>`)."""
    return Q(visibility=Visibility.PUBLIC, deleted_at__isnull=True)


# --- Folders ----------------------------------------------------------------------------


def _ancestor_paths(path: str) -> list[str]:
    """The folder's own path and those above it: "/A/B/" gives ["/A/", "/A/B/"]."""
    return [path[: i + 1] for i, char in enumerate(path) if char == "/" and i > 0]


def folder_rights(*, membership: Membership, folder: Folder, root_made_only: bool = False) -> set[str]:
    """What the member may do to a live folder, as grant names.

    An editor may do anything to the folders they created, and what they (or their groups)
    were granted on the folder or a folder above it (`root_made_only`: see `_effective`).
    """
    if sees_all(membership) or (membership.role == Role.EDITOR and folder.created_by_id == membership.user_id):
        return set(GRANTS)
    if membership.role != Role.EDITOR:
        return {"view"}
    held = {"view"}
    for grants in (
        FolderUserPermission.objects.filter(user_id=membership.user_id),
        FolderGroupPermission.objects.filter(group__in=_groups(membership)),
    ):
        # A grant on the folder itself always applies (its grantor held those rights on it);
        # one on a folder above reaches this one as it would reach a file.
        codenames = (
            _live_folder_grants(grants, membership.tenant_id)
            .filter(_effective(root_made_only=root_made_only), content_object__path__in=_ancestor_paths(folder.path))
            .filter(
                Q(content_object_id=folder.pk) | _reach(tenant_id=membership.tenant_id, owned_by=folder.created_by_id)
            )
            .values_list("permission__codename", flat=True)
        )
        held.update(codename.split("_")[0] for codename in codenames)
    return held


def can_change_folder(*, membership: Membership, folder: Folder, perm: str = "change") -> bool:
    """Whether the member may `perm` (change, delete, share) the folder itself."""
    return perm in folder_rights(membership=membership, folder=folder)


def subtree_holds_files_beyond(*, membership: Membership, folder: Folder, perm: str) -> bool:
    """Whether the folder or a folder below it holds live files the member may not `perm`.

    Trashing a folder needs `delete` on everything in it, or it would trash others' files.
    Moving one needs `share`: under its new parent the files fall under that folder's grants,
    so a move would give people rights on them that only a member who may share them could
    give.
    """
    inside = File.objects.filter(
        tenant_id=membership.tenant_id, folder__path__startswith=folder.path, deleted_at__isnull=True
    )
    return inside.exclude(id__in=file_ids_visible_to(membership=membership, perm=perm)).exists()


# --- The trash --------------------------------------------------------------------------


def trash_files_visible(*, membership: Membership, files: QuerySet[File]) -> QuerySet[File]:
    """The trashed files the member may see, restore and purge: owners and admins all of
    them, anyone else their own."""
    return files if sees_all(membership) else files.filter(owner_id=membership.user_id)


def trash_folders_visible(*, membership: Membership, folders: QuerySet[Folder]) -> QuerySet[Folder]:
    return folders if sees_all(membership) else folders.filter(created_by_id=membership.user_id)


def files_protected_from_purge(*, membership: Membership, files: QuerySet[File]) -> QuerySet[File]:
    """Those of `files` (trashed with a folder) that the member may not purge.

    The rule of trashing a folder, for what is already in the trash: owners and admins
    purge anything; anyone else what they own and what they trashed themselves (they passed
    the delete check then). Grants count for nothing here, since a grant on a trashed
    folder covers nothing until the folder is restored.
    """
    if sees_all(membership):
        return files.none()
    return files.exclude(Q(owner_id=membership.user_id) | Q(deleted_by_id=membership.user_id))


# --- Share links, grants, groups and the audit trail --------------------------------------


def share_links_visible(*, membership: Membership, links: QuerySet) -> QuerySet:
    """The share links the member may list, edit and revoke: owners and admins all of the
    tenant's, anyone else those they created."""
    return links if sees_all(membership) else links.filter(created_by_id=membership.user_id)


def can_share(*, membership: Membership, target: File | Folder) -> bool:
    """Whether the member may publish the file or folder by a link, or grant rights on it.

    Asked again each time a link is used, with its creator's membership: a link is its
    creator's to give, and stops working once they may no longer share its target.
    """
    if isinstance(target, File):
        return can_change_file(membership=membership, file=target, perm="share")
    return can_change_folder(membership=membership, folder=target, perm="share")


def is_root_for(*, membership: Membership, target: File | Folder) -> bool:
    """Whether the member may give any right on the object: its owner (a folder's creator), or
    an owner or admin of the tenant. Anyone else passes on rights that roots gave them."""
    owner_id = target.owner_id if isinstance(target, File) else target.created_by_id
    return sees_all(membership) or owner_id == membership.user_id


def rights_on(*, membership: Membership, target: File | Folder, root_made_only: bool = False) -> set[str]:
    """The rights the member holds on the object; with `root_made_only`, those that came from
    roots: what a member who is not one may pass on (see `_effective`)."""
    if isinstance(target, File):
        return file_rights(membership=membership, file=target, root_made_only=root_made_only)
    return folder_rights(membership=membership, folder=target, root_made_only=root_made_only)


def can_manage_grants(*, membership: Membership, target: File | Folder, rows) -> bool:
    """Whether the member may change or revoke the existing grant `rows` on the object:
    owners and admins, the object's owner (a folder's creator), or whoever made them all."""
    if sees_all(membership):
        return True
    owner_id = target.owner_id if isinstance(target, File) else target.created_by_id
    return owner_id == membership.user_id or all(row.granted_by_id == membership.user_id for row in rows)


def can_manage_groups(*, membership: Membership) -> bool:
    return sees_all(membership)


def can_read_audit_trail(*, membership: Membership) -> bool:
    return sees_all(membership)


def can_export(*, membership: Membership) -> bool:
    """Tenant exports hold every file of the tenant, private ones included: owners and admins
    make, list and download them."""
    return sees_all(membership)


def can_list_integrity_lost(*, membership: Membership) -> bool:
    """List the files whose stored bytes have no intact copy left (`integrity=lost`)."""
    return sees_all(membership)


def can_read_analytics(*, membership: Membership) -> bool:
    """Storage, usage, cost and alerts of the whole tenant, every member's files included."""
    return sees_all(membership)


def can_manage_webhooks(*, membership: Membership) -> bool:
    """Webhooks send the tenant's events (file names, share activity) to outside URLs."""
    return sees_all(membership)
