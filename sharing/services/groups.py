"""Tenant groups: named sets of members that rights can be granted to."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from accounts.models import Membership, TenantGroup, User
from accounts.services.audit import event_record
from files.permissions import can_manage_groups
from mediaportal.exceptions import Conflict, Forbidden, ValidationFailed, parse_id
from sharing.selectors import group_get
from sharing.services.grants import regrants_settle


def _require_admin(membership: Membership) -> None:
    if not can_manage_groups(membership=membership):
        raise Forbidden("Only owners and admins manage groups.")


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
        regrants_settle(tenant=membership.tenant, ip=ip)  # those who left lose what they passed on
    event_record(verb="group.updated", tenant=membership.tenant, actor=membership.user, target=group, ip=ip)
    return group


@transaction.atomic
def group_delete(*, membership: Membership, group_id, ip=None) -> None:
    _require_admin(membership)
    group = group_get(membership=membership, group_id=group_id)
    event_record(verb="group.deleted", tenant=membership.tenant, actor=membership.user, target=group, ip=ip)
    group.group.delete()  # cascades to the tenant group and its grants
    regrants_settle(tenant=membership.tenant, ip=ip)
