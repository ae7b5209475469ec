"""Object permissions on files and folders, granted to members or tenant groups (django-guardian)."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction

from accounts.models import Membership, Role, User, role_at_least
from analytics.services import event_record
from files.models import File, Folder
from files.selectors import file_get_for_actor, folder_get
from mediaportal.exceptions import Conflict, Forbidden, NotFound, ValidationFailed, parse_id
from sharing.models import (
    FileGroupPermission,
    FileUserPermission,
    FolderGroupPermission,
    FolderUserPermission,
    TenantGroup,
)
from sharing.selectors import GRANTS, can_change_folder, file_rights, folder_rights

TABLES = {
    "file": (FileUserPermission, FileGroupPermission),
    "folder": (FolderUserPermission, FolderGroupPermission),
}


def grant_target(*, membership: Membership, kind: str, object_id) -> File | Folder:
    """The file or folder whose grants the member manages (needs the share right)."""
    if kind == "file":
        return file_get_for_actor(membership=membership, file_id=object_id, perm="share")
    folder = folder_get(membership=membership, folder_id=object_id)
    if not can_change_folder(membership=membership, folder=folder, perm="share"):
        raise Forbidden("You may not share this folder.")
    return folder


def _rights(membership: Membership, target: File | Folder) -> set[str]:
    if isinstance(target, File):
        return file_rights(membership=membership, file=target)
    return folder_rights(membership=membership, folder=target)


def _may_manage(membership: Membership, target: File | Folder, rows) -> bool:
    """Existing grants are changed or revoked by owners and admins, the object's owner, or their grantor."""
    if role_at_least(membership.role, Role.ADMIN):
        return True
    owner_id = target.owner_id if isinstance(target, File) else target.created_by_id
    return owner_id == membership.user_id or all(row.granted_by_id == membership.user_id for row in rows)


def _rows(target: File | Folder, principal_kind: str, holder):
    user_table, group_table = TABLES[_kind(target)]
    if principal_kind == "user":
        return user_table.objects.filter(content_object=target, user=holder)
    return group_table.objects.filter(content_object=target, group=holder)


def _lock(target: File | Folder) -> None:
    # One grant change per object at a time: two replacing the same principal's grant would
    # otherwise both delete and then collide inserting.
    list(type(target).objects.select_for_update().filter(pk=target.pk).values_list("pk", flat=True))


def _principal(*, membership: Membership, user_id=None, group_id=None) -> tuple[str, User | TenantGroup]:
    if bool(user_id) == bool(group_id):
        raise ValidationFailed("Grant to exactly one user or one group.", code="invalid_principal")
    if user_id:
        member = (
            Membership.objects.select_related("user")
            .filter(tenant_id=membership.tenant_id, user_id=parse_id(user_id, "User"))
            .first()
        )
        if member is None:
            raise ValidationFailed("That user is not a member of this tenant.", code="unknown_user")
        return "user", member.user
    group = (
        TenantGroup.objects.select_related("group")
        .filter(tenant_id=membership.tenant_id, pk=parse_id(group_id, "Group"))
        .first()
    )
    if group is None:
        raise ValidationFailed("No such group in this tenant.", code="unknown_group")
    return "group", group


def _kind(target) -> str:
    return "file" if isinstance(target, File) else "folder"


def grant_list(*, target: File | Folder) -> list[dict]:
    """Grants on the object, one entry per user or group with the rights they hold."""
    kind = _kind(target)
    user_table, group_table = TABLES[kind]
    grants: dict[str, dict] = {}
    for row in user_table.objects.filter(content_object=target).select_related("user", "permission"):
        entry = grants.setdefault(
            str(row.user_id),
            {
                "id": row.user_id,
                "user": row.user_id,
                "username": row.user.username,
                "group": None,
                "granted_by": row.granted_by_id,
                "permissions": [],
            },
        )
        entry["permissions"].append(row.permission.codename.split("_")[0])
    for row in group_table.objects.filter(content_object=target).select_related("group__tenant_group", "permission"):
        tenant_group = row.group.tenant_group
        entry = grants.setdefault(
            str(tenant_group.pk),
            {
                "id": tenant_group.pk,
                "user": None,
                "username": None,
                "group": tenant_group.pk,
                "granted_by": row.granted_by_id,
                "permissions": [],
            },
        )
        entry["permissions"].append(row.permission.codename.split("_")[0])
    for entry in grants.values():
        entry["permissions"] = [perm for perm in GRANTS if perm in entry["permissions"]]
    return list(grants.values())


@transaction.atomic
def grant_set(
    *, membership: Membership, target: File | Folder, permissions: list[str], user_id=None, group_id=None, ip=None
) -> dict:
    """Give a user or group exactly these rights on the object (replacing what they had).

    The grantor grants only rights they hold on the object themselves, never to themselves,
    and replaces a grant only if they may manage it (see `_may_manage`).
    """
    unknown = set(permissions) - set(GRANTS)
    if not permissions or unknown:
        raise ValidationFailed(f"permissions must be some of {', '.join(GRANTS)}.", code="invalid_permissions")
    kind = _kind(target)
    principal_kind, principal = _principal(membership=membership, user_id=user_id, group_id=group_id)
    if principal_kind == "user" and principal.pk == membership.user_id:
        raise Forbidden("You cannot grant rights to yourself.", code="self_grant")
    beyond = set(permissions) - _rights(membership, target)
    if beyond:
        raise Forbidden(
            f"You may only grant rights you hold yourself, not {', '.join(p for p in GRANTS if p in beyond)}.",
            code="grant_exceeds_rights",
        )
    holder = principal if principal_kind == "user" else principal.group
    _lock(target)
    existing = _rows(target, principal_kind, holder)
    if not _may_manage(membership, target, existing):
        raise Forbidden(_NOT_YOURS, code="grant_not_yours")
    existing.delete()
    table = existing.model
    codes = Permission.objects.filter(
        content_type=ContentType.objects.get_for_model(type(target)), codename__in=[f"{p}_{kind}" for p in permissions]
    )
    table.objects.bulk_create(
        table(content_object=target, permission=code, granted_by=membership.user, **{principal_kind: holder})
        for code in codes
    )
    event_record(
        verb="permission.granted",
        tenant=membership.tenant,
        actor=membership.user,
        target=target,
        ip=ip,
        data={principal_kind: str(principal.pk), "permissions": sorted(permissions)},
    )
    return next(g for g in grant_list(target=target) if str(g["id"]) == str(principal.pk))


_NOT_YOURS = "Someone else made this grant: its grantor, the owner or an admin can change it."


@transaction.atomic
def grant_revoke(*, membership: Membership, target: File | Folder, grant_id, ip=None) -> None:
    user_table, group_table = TABLES[_kind(target)]
    pk = parse_id(grant_id, "Grant")
    _lock(target)
    rows = list(user_table.objects.filter(content_object=target, user_id=pk)) + list(
        group_table.objects.filter(content_object=target, group__tenant_group__pk=pk)
    )
    if not rows:
        raise NotFound("Grant not found.")
    if not _may_manage(membership, target, rows):
        raise Forbidden(_NOT_YOURS, code="grant_not_yours")
    for table in (user_table, group_table):
        table.objects.filter(pk__in=[row.pk for row in rows if isinstance(row, table)]).delete()
    event_record(
        verb="permission.revoked",
        tenant=membership.tenant,
        actor=membership.user,
        target=target,
        ip=ip,
        data={"grant": str(pk)},
    )


def member_access_remove(*, tenant_id, user_id) -> None:
    """Forget a member's groups and direct grants in a tenant (they are leaving it).

    Otherwise they would have them again the moment they were re-added.
    """
    User.groups.through.objects.filter(user_id=user_id, group__tenant_group__tenant_id=tenant_id).delete()
    FileUserPermission.objects.filter(user_id=user_id, content_object__tenant_id=tenant_id).delete()
    FolderUserPermission.objects.filter(user_id=user_id, content_object__tenant_id=tenant_id).delete()


# --- Tenant groups ------------------------------------------------------------------


def _require_admin(membership: Membership) -> None:
    if not role_at_least(membership.role, Role.ADMIN):
        raise Forbidden("Only owners and admins manage groups.")


def group_list(*, membership: Membership):
    return TenantGroup.objects.filter(tenant_id=membership.tenant_id).select_related("group").order_by("name")


def group_get(*, membership: Membership, group_id) -> TenantGroup:
    group = group_list(membership=membership).filter(pk=parse_id(group_id, "Group")).first()
    if group is None:
        raise NotFound("Group not found.")
    return group


def _set_members(membership: Membership, group: TenantGroup, member_ids: list) -> None:
    ids = [parse_id(value, "User") for value in member_ids]
    members = list(User.objects.filter(pk__in=ids, memberships__tenant_id=membership.tenant_id))
    if len(members) != len(set(ids)):
        raise ValidationFailed("Every group member must be a member of this tenant.", code="unknown_user")
    group.group.user_set.set(members)


@transaction.atomic
def group_create(*, membership: Membership, name: str, member_ids: list | None = None, ip=None) -> TenantGroup:
    _require_admin(membership)
    name = name.strip()
    if not name:
        raise ValidationFailed("A group needs a name.", code="invalid_name")
    try:
        with transaction.atomic():
            auth_group = Group.objects.create(name=f"tenant:{membership.tenant_id}:{uuid.uuid4()}")
            group = TenantGroup.objects.create(tenant_id=membership.tenant_id, group=auth_group, name=name)
    except IntegrityError:
        raise Conflict("A group with that name exists.", code="name_conflict") from None
    _set_members(membership, group, member_ids or [])
    event_record(verb="group.created", tenant=membership.tenant, actor=membership.user, target=group, ip=ip)
    return group


@transaction.atomic
def group_update(*, membership: Membership, group_id, data: dict, ip=None) -> TenantGroup:
    _require_admin(membership)
    group = group_get(membership=membership, group_id=group_id)
    if "name" in data:
        group.name = data["name"].strip()
        try:
            with transaction.atomic():
                group.save(update_fields=["name"])
        except IntegrityError:
            raise Conflict("A group with that name exists.", code="name_conflict") from None
    if "members" in data:
        _set_members(membership, group, data["members"])
    event_record(verb="group.updated", tenant=membership.tenant, actor=membership.user, target=group, ip=ip)
    return group


@transaction.atomic
def group_delete(*, membership: Membership, group_id, ip=None) -> None:
    _require_admin(membership)
    group = group_get(membership=membership, group_id=group_id)
    event_record(verb="group.deleted", tenant=membership.tenant, actor=membership.user, target=group, ip=ip)
    group.group.delete()  # cascades to the tenant group and its grants
