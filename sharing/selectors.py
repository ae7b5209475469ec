"""Who may see and change what. Every list, search, download and export asks here."""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Length, Substr

from accounts.models import Membership, Role, role_at_least
from files.models import File, Visibility

# Grant names in the API, and the permission codenames they stand for.
GRANTS = ("view", "change", "delete", "share")
# A grant of any of these also lets its holder see the object.
IMPLIES_VIEW = GRANTS


def _codes(kind: str, perms: tuple[str, ...]) -> list[str]:
    return [f"{perm}_{kind}" for perm in perms]


def _granted(membership: Membership, perms: tuple[str, ...]) -> Q:
    """Files granted to the member (or one of their groups), directly or through a folder above them."""
    from sharing.models import FileGroupPermission, FileUserPermission, FolderGroupPermission, FolderUserPermission

    user, groups = membership.user_id, membership.user.groups.filter(tenant_group__tenant_id=membership.tenant_id)
    direct = FileUserPermission.objects.filter(user_id=user, permission__codename__in=_codes("file", perms))
    direct_group = FileGroupPermission.objects.filter(group__in=groups, permission__codename__in=_codes("file", perms))

    def covering(folder_perms):
        # A folder grant covers everything under the folder, now and later: the file's folder
        # path starts with the granted folder's path.
        return Exists(
            folder_perms.filter(permission__codename__in=_codes("folder", perms))
            .annotate(prefix=Substr(OuterRef("folder__path"), 1, Length("content_object__path")))
            .filter(
                content_object__path=F("prefix"),
                content_object__tenant_id=membership.tenant_id,
                # A trashed folder's grant covers nothing until the folder is restored.
                content_object__deleted_at__isnull=True,
            )
        )

    return (
        Q(id__in=direct.values("content_object_id"))
        | Q(id__in=direct_group.values("content_object_id"))
        | Q(folder__isnull=False) & covering(FolderUserPermission.objects.filter(user_id=user))
        | Q(folder__isnull=False) & covering(FolderGroupPermission.objects.filter(group__in=groups))
    )


def file_ids_visible_to(*, membership: Membership, perm: str = "view") -> QuerySet:
    """Ids of the live files in the member's tenant that they may `perm` (an id subquery).

    Owners and admins may do anything in their tenant. Others see files with visibility
    `tenant` or `public`, their own, and what was granted to them or their groups (on the
    file or a folder above it); editors change, delete and share their own files and what
    they were granted; viewers only ever read.
    """
    files = File.objects.filter(tenant_id=membership.tenant_id, deleted_at__isnull=True)
    if role_at_least(membership.role, Role.ADMIN):
        return files.values("id")
    if perm == "view":
        files = files.filter(
            Q(visibility__in=[Visibility.TENANT, Visibility.PUBLIC])
            | Q(owner_id=membership.user_id)
            | _granted(membership, IMPLIES_VIEW)
        )
    elif membership.role == Role.EDITOR:
        files = files.filter(Q(owner_id=membership.user_id) | _granted(membership, (perm,)))
    else:
        files = files.none()
    return files.values("id")


def can_change_file(*, membership: Membership, file: File, perm: str = "change") -> bool:
    """Owners and admins change anything; editors their own files and what they were granted."""
    if role_at_least(membership.role, Role.ADMIN):
        return True
    if membership.role != Role.EDITOR:
        return False
    return (
        file.owner_id == membership.user_id
        or file_ids_visible_to(membership=membership, perm=perm).filter(id=file.pk).exists()
    )


def can_create(*, membership: Membership) -> bool:
    return role_at_least(membership.role, Role.EDITOR)


def can_change_folder(*, membership: Membership, folder) -> bool:
    if role_at_least(membership.role, Role.ADMIN):
        return True
    return membership.role == Role.EDITOR and folder.created_by_id == membership.user_id


def public_file_get(*, file_id) -> File:
    """A live file anyone may see because its visibility is `public`; 404 otherwise."""
    from django.http import Http404

    file = (
        File.objects.select_related("tenant", "current_version__blob")
        .prefetch_related("current_version__blob__renditions")
        .filter(pk=file_id, visibility=Visibility.PUBLIC, deleted_at__isnull=True, current_version__isnull=False)
        .first()
    )
    if file is None:
        raise Http404
    return file
