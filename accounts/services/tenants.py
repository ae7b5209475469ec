"""Tenants, their settings and members, and the first start."""

from __future__ import annotations

import re
import secrets
from decimal import Decimal

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from accounts.models import Membership, PublicFiles, Role, Tenant, User, role_at_least
from accounts.services.audit import event_record
from accounts.services.mfa import mfa_enabled
from mediaportal.exceptions import Conflict, Forbidden, ValidationFailed

RESERVED_SLUGS = {"api", "admin", "static", "media", "new", "settings", "me"}
# A slug a client chooses (the API documents this pattern): slugify() output, one separator at a time.
SLUG_RE = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")


# --- Tenants ----------------------------------------------------------------------


def _unique_slug(base: str) -> str:
    base = slugify(base)[:40].strip("-") or "team"
    if base in RESERVED_SLUGS:
        base = f"{base}-team"
    slug, n = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def tenant_create(*, actor: User, name: str, slug: str = "", ip: str | None = None) -> Tenant:
    """Create a tenant with `actor` as its owner."""
    name = name.strip()
    if not name:
        raise ValidationFailed("A tenant needs a name.", code="invalid_name")
    if slug:
        slug = slug.strip().lower()
        if not SLUG_RE.match(slug):
            raise ValidationFailed("Slugs are lower-case letters, digits and hyphens.", code="invalid_slug")
        # The site's own paths hold the reserved ones.
        if slug in RESERVED_SLUGS or Tenant.objects.filter(slug=slug).exists():
            raise Conflict("That slug is taken.", code="slug_taken")
    else:
        slug = _unique_slug(name)
    with transaction.atomic():
        try:
            tenant = Tenant.objects.create(slug=slug, name=name[:120])
        except IntegrityError:
            raise Conflict("That slug is taken.", code="slug_taken") from None
        Membership.objects.create(tenant=tenant, user=actor, role=Role.OWNER)
        event_record(verb="tenant.created", tenant=tenant, actor=actor, target=tenant, ip=ip)
    return tenant


TENANT_SETTINGS = (
    "name",
    "require_mfa",
    "max_upload_bytes",
    "archive_after_days",
    "noncurrent_archive_days",
    "trash_retention_days",
    "share_max_days",
    "search_config",
    "public_files",
    "monthly_budget",
    "ocr_enabled",
)


# Bounds of the numeric settings (inclusive), kept here so every caller (API, admin) keeps them.
# `archive_after_days` may also be None: current versions are never archived.
SETTING_BOUNDS = {
    "archive_after_days": (1, 36500),
    "noncurrent_archive_days": (0, 36500),
    "trash_retention_days": (1, 3650),
    "share_max_days": (1, 3650),
}
# A monthly budget is null (none) or an amount of the storage currency, in cents.
BUDGET_MAX = Decimal("9999999999.99")
SEARCH_CONFIGS = ("simple", "english", "french", "german", "spanish", "italian", "portuguese", "dutch")


def _check_settings(data: dict) -> None:
    bounds = {**SETTING_BOUNDS, "max_upload_bytes": (1, settings.PLATFORM_MAX_UPLOAD_BYTES)}
    for field, (low, high) in bounds.items():
        if field == "archive_after_days" and field in data and data[field] is None:
            continue
        if field in data and not (isinstance(data[field], int) and low <= data[field] <= high):
            raise ValidationFailed(f"{field} must be between {low} and {high}.", code="invalid_limit")
    if "name" in data and not str(data["name"]).strip():
        raise ValidationFailed("A tenant needs a name.", code="invalid_name")
    if "search_config" in data and data["search_config"] not in SEARCH_CONFIGS:
        raise ValidationFailed(f"search_config must be one of {', '.join(SEARCH_CONFIGS)}.", code="invalid")
    if "public_files" in data and data["public_files"] not in PublicFiles.values:
        raise ValidationFailed(f"public_files must be one of {', '.join(PublicFiles.values)}.", code="invalid")
    if "monthly_budget" in data:
        _check_budget(data["monthly_budget"])


def _check_budget(budget) -> None:
    if budget is None:
        return
    if not (
        isinstance(budget, Decimal)
        and budget.is_finite()
        and Decimal(0) <= budget <= BUDGET_MAX
        and budget == budget.quantize(Decimal("0.01"))
    ):
        raise ValidationFailed(
            f"monthly_budget must be null or an amount from 0 to {BUDGET_MAX} with at most two decimals.",
            code="invalid_budget",
        )


@transaction.atomic
def tenant_update(*, membership: Membership, data: dict, ip: str | None = None) -> Tenant:
    """Owners and admins change the tenant's name and settings."""
    if not role_at_least(membership.role, Role.ADMIN):
        raise Forbidden("Only owners and admins can change tenant settings.")
    tenant = membership.tenant
    _check_settings(data)
    if data.get("require_mfa") and not tenant.require_mfa and not mfa_enabled(user=membership.user):
        # Whoever turns it on must not be the first one it locks out.
        raise Conflict(
            "Turn on two-factor authentication for your own account before requiring it of the team.",
            code="mfa_not_enabled",
        )
    changed = [field for field in TENANT_SETTINGS if field in data and getattr(tenant, field) != data[field]]
    for field in changed:
        setattr(tenant, field, data[field])
    if changed:
        tenant.save(update_fields=changed)
        if "search_config" in changed:
            # Vectors are built with the tenant's language: rebuild them in the background.
            tenant_id = str(tenant.pk)
            transaction.on_commit(lambda: current_app.send_task("files.reindex_tenant", args=[tenant_id]))
        event_record(
            verb="tenant.updated", tenant=tenant, actor=membership.user, target=tenant, ip=ip, data={"fields": changed}
        )
    return tenant


def staff_membership(*, user: User, tenant: Tenant) -> Membership:
    """The platform staff's standing in a tenant, for the admin site: an owner's rights, so the
    admin calls the same services as the API and keeps every rule they keep. Never saved."""
    return Membership(tenant=tenant, user=user, role=Role.OWNER)


@transaction.atomic
def tenant_quota_set(*, actor: User, tenant: Tenant, quota_bytes: int, ip: str | None = None) -> Tenant:
    """Set how many bytes the tenant may store: the platform's decision (the admin site), which
    members read but cannot change."""
    if quota_bytes < 0:
        raise ValidationFailed("quota_bytes cannot be negative.", code="invalid_limit")
    old = Tenant.objects.filter(pk=tenant.pk).values_list("quota_bytes", flat=True).get()
    Tenant.objects.filter(pk=tenant.pk).update(quota_bytes=quota_bytes)
    tenant.quota_bytes = quota_bytes
    event_record(
        verb="tenant.quota_changed",
        tenant=tenant,
        actor=actor,
        target=tenant,
        ip=ip,
        data={"from": old, "to": quota_bytes},
    )
    return tenant


@transaction.atomic
def tenant_delete(*, actor: User, tenant: Tenant, ip: str | None = None) -> None:
    """Delete a tenant with everything in it (platform staff, from the admin).

    Its rows go now; its stored objects are left to the orphan sweep, which deletes what is
    under the prefix of a tenant recorded as deleted (`DeletedTenant`, written whichever way
    a tenant is deleted).
    """
    event_record(verb="tenant.deleted", actor=actor, ip=ip, data={"id": str(tenant.pk), "slug": tenant.slug})
    tenant.delete()


# --- Members ----------------------------------------------------------------------


def _owner_count(tenant: Tenant) -> int:
    return Membership.objects.filter(tenant=tenant, role=Role.OWNER).count()


def member_manager_check(actor: Membership, role_involved: str) -> None:
    """Refuse (403) unless `actor` may give, change or take away `role_involved`; invitations
    keep the same rule."""
    if not role_at_least(actor.role, Role.ADMIN):
        raise Forbidden("Only owners and admins can manage members.")
    # Admins manage editors and viewers (and other admins); owners are the owners' business.
    if role_involved == Role.OWNER and actor.role != Role.OWNER:
        raise Forbidden("Only an owner can grant, change or remove the owner role.")


@transaction.atomic
def member_add(*, actor: Membership, username: str, role: str, ip: str | None = None) -> Membership:
    """Add an existing user, named by their exact username, to the actor's tenant.

    Never by e-mail: an address anyone may have registered unverified would let the wrong
    account in, and answering by address would tell anyone which addresses have accounts.
    """
    member_manager_check(actor, role)
    user = User.objects.filter(username__iexact=username.strip(), is_active=True).first()
    if user is None:
        raise ValidationFailed("No user has that username.", code="unknown_user")
    membership, created = Membership.objects.get_or_create(tenant=actor.tenant, user=user, defaults={"role": role})
    if not created:
        raise Conflict(f"{user.username} is already a member.", code="already_member")
    event_record(verb="member.added", tenant=actor.tenant, actor=actor.user, target=user, ip=ip, data={"role": role})
    return membership


@transaction.atomic
def member_change_role(*, actor: Membership, member: Membership, role: str, ip: str | None = None) -> Membership:
    member_manager_check(actor, Role.OWNER if Role.OWNER in (role, member.role) else role)
    return _role_change(member=member, role=role, actor=actor.user, ip=ip)


@transaction.atomic
def member_remove(*, actor: Membership, member: Membership, ip: str | None = None) -> None:
    if member.user_id != actor.user_id:  # anybody may leave; removing others needs a manager
        member_manager_check(actor, member.role)
    _remove(member=member, actor=actor.user, ip=ip)


def _lock_owners(tenant: Tenant) -> None:
    # Lock the tenant's owner rows so two demotions or removals cannot race past the
    # last-owner rule.
    list(Membership.objects.select_for_update().filter(tenant=tenant, role=Role.OWNER))


def _role_change(*, member: Membership, role: str, actor: User | None, ip: str | None, data=None) -> Membership:
    _lock_owners(member.tenant)
    if member.role == Role.OWNER and role != Role.OWNER and _owner_count(member.tenant) <= 1:
        raise Conflict("A tenant must keep at least one owner.", code="last_owner")
    old = member.role
    if old != role:
        member.role = role
        member.save(update_fields=["role"])
        event_record(
            verb="member.role_changed",
            tenant=member.tenant,
            actor=actor,
            target=member.user,
            ip=ip,
            data={"from": old, "to": role, **(data or {})},
        )
    return member


def _remove(*, member: Membership, actor: User | None, ip: str | None, data=None) -> None:
    _lock_owners(member.tenant)
    if member.role == Role.OWNER and _owner_count(member.tenant) <= 1:
        raise Conflict("The last owner cannot be removed.", code="last_owner")
    # Their grants in the tenant go with the membership (a foreign key with CASCADE), their
    # places in its groups here: either would come back the moment they were re-added.
    Group.user_set.through.objects.filter(
        user_id=member.user_id, group__tenant_group__tenant_id=member.tenant_id
    ).delete()
    event_record(verb="member.removed", tenant=member.tenant, actor=actor, target=member.user, ip=ip, data=data)
    member.delete()


# --- Members set by the platform itself (single sign-on's group mapping) -------------
# No person acts here, so there is no actor whose rights to check: the caller is the rule
# (accounts.services.sso applies what the identity provider says). The last-owner rule still
# holds, and each change is an audit event without a user, its `data` saying where it came from.


@transaction.atomic
def member_add_system(
    *, tenant: Tenant, user: User, role: str, sso_managed: bool, ip: str | None = None, data: dict | None = None
) -> Membership | None:
    """Add `user` to `tenant` with `role`; None (and nothing changed) when already a member."""
    membership, created = Membership.objects.get_or_create(
        tenant=tenant, user=user, defaults={"role": role, "sso_managed": sso_managed}
    )
    if not created:
        return None
    event_record(verb="member.added", tenant=tenant, target=user, ip=ip, data={"role": role, **(data or {})})
    return membership


@transaction.atomic
def member_change_role_system(
    *, member: Membership, role: str, ip: str | None = None, data: dict | None = None
) -> Membership:
    """Change a member's role; Conflict `last_owner` when it would leave the tenant without one."""
    return _role_change(member=member, role=role, actor=None, ip=ip, data=data)


@transaction.atomic
def member_remove_system(*, member: Membership, ip: str | None = None, data: dict | None = None) -> None:
    """Remove a member; Conflict `last_owner` when they are the tenant's last owner."""
    _remove(member=member, actor=None, ip=ip, data=data)


# --- First start ------------------------------------------------------------------


@transaction.atomic
def bootstrap_first_admin(*, password: str | None) -> tuple[User, Tenant, str] | None:
    """On an empty installation, create `admin` (a superuser) and a first tenant it owns.

    Returns the user, tenant and the password in use (generated when none was given),
    or None when users already exist.
    """
    if User.objects.exists():
        return None
    password = password or secrets.token_urlsafe(12)
    user = User(username="admin", email="", is_staff=True, is_superuser=True)
    user.set_password(password)
    user.save()
    tenant = tenant_create(actor=user, name="Default team", slug="default")
    return user, tenant, password
