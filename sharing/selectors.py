"""Who may see and change what. Every list, search, download and export asks here."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.models import Membership, Role, role_at_least
from files.models import File, Visibility


def file_ids_visible_to(*, membership: Membership, perm: str = "view") -> QuerySet:
    """Ids of the live files in the member's tenant that they may `perm` (an id subquery).

    Owners and admins may do anything in their tenant. Others see files with visibility
    `tenant` or `public` and their own; editors change their own.
    """
    files = File.objects.filter(tenant_id=membership.tenant_id, deleted_at__isnull=True)
    if role_at_least(membership.role, Role.ADMIN):
        return files.values("id")
    if perm == "view":
        files = files.filter(Q(visibility__in=[Visibility.TENANT, Visibility.PUBLIC]) | Q(owner_id=membership.user_id))
    elif membership.role == Role.EDITOR:
        files = files.filter(owner_id=membership.user_id)
    else:
        files = files.none()
    return files.values("id")


def can_change_file(*, membership: Membership, file: File) -> bool:
    """Owners and admins change anything; editors change their own files."""
    if role_at_least(membership.role, Role.ADMIN):
        return True
    return membership.role == Role.EDITOR and file.owner_id == membership.user_id


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
