"""Object permissions on files and folders, granted to members or tenant groups (django-guardian)."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from accounts.models import Membership, Tenant, TenantGroup
from accounts.services.audit import event_record
from files.models import File, Folder
from files.permissions import GRANTS, can_manage_grants, can_share, is_root_for, rights_on
from files.selectors import file_get_for_actor, folder_get
from mediaportal.exceptions import Forbidden, NotFound, ValidationFailed, parse_id
from sharing.selectors import GRANT_TABLES, grant_kind, grant_list

_NOT_YOURS = "Someone else made this grant: its grantor, the owner or an admin can change it."


def grant_target(*, membership: Membership, kind: str, object_id) -> File | Folder:
    """The file or folder whose grants the member manages (needs the share right)."""
    if kind == "file":
        return file_get_for_actor(membership=membership, file_id=object_id, perm="share")
    folder = folder_get(membership=membership, folder_id=object_id)
    if not can_share(membership=membership, target=folder):
        raise Forbidden("You may not share this folder.")
    return folder


def _rows(target: File | Folder, principal: Membership | TenantGroup):
    user_table, group_table = GRANT_TABLES[grant_kind(target)]
    if isinstance(principal, Membership):
        return user_table.objects.filter(content_object=target, user_id=principal.user_id)
    return group_table.objects.filter(content_object=target, group_id=principal.group_id)


def _lock(target: File | Folder) -> None:
    # One grant change per object at a time: two replacing the same principal's grant would
    # otherwise both delete and then collide inserting.
    list(type(target).objects.select_for_update().filter(pk=target.pk).values_list("pk", flat=True))


def _principal(*, membership: Membership, user_id=None, group_id=None) -> Membership | TenantGroup:
    """The grantee: a member of the tenant (their membership), or one of its groups."""
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
        return member
    group = (
        TenantGroup.objects.select_related("group")
        .filter(tenant_id=membership.tenant_id, pk=parse_id(group_id, "Group"))
        .first()
    )
    if group is None:
        raise ValidationFailed("No such group in this tenant.", code="unknown_group")
    return group


def _new_rows(
    *, target: File | Folder, principal: Membership | TenantGroup, permissions: list[str], by: Membership, regrant: bool
) -> list:
    user_table, group_table = GRANT_TABLES[grant_kind(target)]
    codes = Permission.objects.filter(
        content_type=ContentType.objects.get_for_model(type(target)),
        codename__in=[f"{perm}_{grant_kind(target)}" for perm in permissions],
    )
    made = {"content_object": target, "granted_by": by.user, "grantor": by if regrant else None}
    if isinstance(principal, Membership):
        return [user_table(**made, permission=code, user=principal.user, membership=principal) for code in codes]
    return [group_table(**made, permission=code, group=principal.group) for code in codes]


def _check_grantable(*, membership: Membership, target: File | Folder, principal, permissions: list[str]) -> bool:
    """Refuse what the member may not grant; True when it is a re-grant (see files.permissions).

    Nobody grants to themselves, not even through a group they belong to, unless they may
    give anything here anyway; and what a member who is not a root passes on is only what
    roots gave them, so re-grants never chain and end with the rights they came from.
    """
    root = is_root_for(membership=membership, target=target)
    if isinstance(principal, Membership) and principal.user_id == membership.user_id:
        raise Forbidden("You cannot grant rights to yourself.", code="self_grant")
    if (
        not root
        and isinstance(principal, TenantGroup)
        and principal.group.user_set.filter(pk=membership.user_id).exists()
    ):
        raise Forbidden("You cannot grant rights to a group you belong to.", code="self_grant")
    held = rights_on(membership=membership, target=target, root_made_only=not root)
    beyond = set(permissions) - held if "share" in held else set(permissions)
    if beyond:
        raise Forbidden(
            f"You may only grant rights you hold yourself, not {', '.join(p for p in GRANTS if p in beyond)}.",
            code="grant_exceeds_rights",
        )
    return not root


@transaction.atomic
def grant_set(
    *, membership: Membership, target: File | Folder, permissions: list[str], user_id=None, group_id=None, ip=None
) -> dict:
    """Give a user or group exactly these rights on the object (replacing what they had).

    The grantor grants only rights they hold on the object themselves, never to themselves,
    and replaces a grant only if they may manage it (`can_manage_grants`).
    """
    unknown = set(permissions) - set(GRANTS)
    if not permissions or unknown:
        raise ValidationFailed(f"permissions must be some of {', '.join(GRANTS)}.", code="invalid_permissions")
    principal = _principal(membership=membership, user_id=user_id, group_id=group_id)
    regrant = _check_grantable(membership=membership, target=target, principal=principal, permissions=permissions)
    _lock(target)
    existing = _rows(target, principal)
    if not can_manage_grants(membership=membership, target=target, rows=existing):
        raise Forbidden(_NOT_YOURS, code="grant_not_yours")
    existing.delete()
    rows = _new_rows(target=target, principal=principal, permissions=permissions, by=membership, regrant=regrant)
    existing.model.objects.bulk_create(rows)
    regrants_settle(tenant=membership.tenant, ip=ip)
    principal_kind, principal_id = (
        ("user", principal.user_id) if isinstance(principal, Membership) else ("group", principal.pk)
    )
    event_record(
        verb="permission.granted",
        tenant=membership.tenant,
        actor=membership.user,
        target=target,
        ip=ip,
        data={principal_kind: str(principal_id), "permissions": sorted(permissions)},
    )
    return next(g for g in grant_list(target=target) if str(g["id"]) == str(principal_id))


@transaction.atomic
def grant_revoke(*, membership: Membership, target: File | Folder, grant_id, ip=None) -> None:
    user_table, group_table = GRANT_TABLES[grant_kind(target)]
    pk = parse_id(grant_id, "Grant")
    _lock(target)
    rows = list(user_table.objects.filter(content_object=target, user_id=pk)) + list(
        group_table.objects.filter(content_object=target, group__tenant_group__pk=pk)
    )
    if not rows:
        raise NotFound("Grant not found.")
    if not can_manage_grants(membership=membership, target=target, rows=rows):
        raise Forbidden(_NOT_YOURS, code="grant_not_yours")
    for table in (user_table, group_table):
        table.objects.filter(pk__in=[row.pk for row in rows if isinstance(row, table)]).delete()
    regrants_settle(tenant=membership.tenant, ip=ip)
    event_record(
        verb="permission.revoked",
        tenant=membership.tenant,
        actor=membership.user,
        target=target,
        ip=ip,
        data={"grant": str(pk)},
    )


def regrants_settle(*, tenant: Tenant, ip: str | None = None) -> int:
    """Delete the tenant's re-grants that their grantor no longer holds from a root; returns
    how many. Run after every change that can take rights away (a grant replaced or revoked,
    a group's members or the group itself); a grantor who leaves the tenant takes their
    re-grants along by the foreign key."""
    held: dict[tuple, set[str]] = {}
    lapsed = 0
    for table in (table for tables in GRANT_TABLES.values() for table in tables):
        regrants = table.objects.filter(
            grantor__isnull=False, content_object__tenant_id=tenant.pk, content_object__deleted_at__isnull=True
        ).select_related("grantor__tenant", "content_object", "permission")
        for row in regrants:
            key = (row.grantor_id, type(row.content_object), row.content_object_id)
            if key not in held:
                held[key] = rights_on(membership=row.grantor, target=row.content_object, root_made_only=True)
            if row.permission.codename.split("_")[0] not in held[key] or "share" not in held[key]:
                row.delete()
                lapsed += 1
    if lapsed:
        event_record(verb="permission.lapsed", tenant=tenant, ip=ip, data={"grants": lapsed})
    return lapsed
