"""Writes for accounts, tenants, memberships and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from accounts import throttling
from accounts.models import ApiToken, Membership, Role, Tenant, User, role_at_least
from analytics.services import event_record
from mediaportal.exceptions import ApplicationError, Conflict, Forbidden, ValidationFailed

TOKEN_PREFIX = "mp_"
RESERVED_SLUGS = {"api", "admin", "static", "media", "new", "settings", "me"}
USERNAME_RE = re.compile(r"^[\w.@+-]{3,150}$")


class InvalidCredentials(ApplicationError):
    status_code = 401
    default_code = "invalid_credentials"
    default_detail = "Wrong username or password."


class LoginThrottled(ApplicationError):
    status_code = 429
    default_code = "throttled"
    default_detail = "Too many failed logins. Try again later."


# --- Users ------------------------------------------------------------------------


def _check_password(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed(" ".join(exc.messages), code="weak_password") from None


def user_create(*, username: str, email: str, password: str | None, is_staff: bool = False) -> User:
    username = username.strip()
    email = email.strip()
    if not USERNAME_RE.match(username):
        raise ValidationFailed("Usernames are 3-150 letters, digits or . @ + - _.", code="invalid_username")
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationFailed("That username is taken.", code="username_taken")
    if email and User.objects.filter(email__iexact=email).exists():
        raise ValidationFailed("An account with that email address exists.", code="email_taken")
    user = User(username=username, email=email, is_staff=is_staff, is_superuser=is_staff)
    if password is None:
        user.set_unusable_password()
    else:
        _check_password(password, user)
        user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        # Two registrations raced past the checks above; the constraint decides.
        raise ValidationFailed("That username or email address is taken.", code="username_taken") from None
    return user


@transaction.atomic
def user_register(
    *, username: str, email: str, password: str, tenant_name: str = "", ip: str | None = None
) -> tuple[User, Tenant, str]:
    """Create a user, a personal tenant they own, and a first API token (returned once)."""
    user = user_create(username=username, email=email, password=password)
    tenant = tenant_create(actor=user, name=tenant_name or f"{user.username}'s team", ip=ip)
    _token, key = token_create(user=user, name="registration")
    event_record(verb="user.registered", tenant=tenant, actor=user, target=user, ip=ip)
    return user, tenant, key


# --- Login and tokens -------------------------------------------------------------


def _hash_key(key: str) -> str:
    # API keys carry 256 random bits, so a fast hash is as safe as a slow one here and
    # keeps per-request authentication to one indexed lookup.
    return hashlib.sha256(key.encode()).hexdigest()


def token_create(*, user: User, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Create an API token; the returned key is the only copy that will ever exist."""
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("expires_at must be in the future.", code="invalid_expiry")
    secret = secrets.token_urlsafe(32)
    key = f"{TOKEN_PREFIX}{secret}"
    token = ApiToken.objects.create(
        user=user, name=name.strip()[:100] or "token", prefix=key[:10], key_hash=_hash_key(key), expires_at=expires_at
    )
    return token, key


def token_authenticate(key: str) -> ApiToken | None:
    """The active token for this key, with its user, or None."""
    token = ApiToken.objects.select_related("user").filter(key_hash=_hash_key(key)).first()
    if token is None or not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    # One write a minute at most: last-used is for people reading the token list, not an audit log.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def login(*, username: str, password: str, ip: str | None) -> tuple[User, ApiToken, str]:
    """Check credentials (throttled per username+address, per username and per address) and issue a token."""
    username = username.strip()
    attempt = throttling.login_attempt(username=username, ip=ip)
    if attempt.retry_after:
        raise LoginThrottled(extra={"retry_after": attempt.retry_after})
    user = authenticate(username=username, password=password)
    if user is None:
        # Usernames are unique case-insensitively, so let "Alice" log in as "alice".
        match = User.objects.filter(username__iexact=username).only("username").first()
        if match is not None and match.username != username:
            user = authenticate(username=match.username, password=password)
    if user is None:
        raise InvalidCredentials()  # the attempt stays counted as a failure
    throttling.login_succeeded(attempt)
    expires_at = timezone.now() + settings.API_TOKEN_TTL
    token, key = token_create(user=user, name="login", expires_at=expires_at)
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    event_record(verb="user.login", actor=user, target=user, ip=ip)
    return user, token, key


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
        if slugify(slug) != slug or slug in RESERVED_SLUGS:
            raise ValidationFailed("Slugs are lower-case letters, digits and hyphens.", code="invalid_slug")
        if Tenant.objects.filter(slug=slug).exists():
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
    "max_upload_bytes",
    "archive_after_days",
    "noncurrent_archive_days",
    "trash_retention_days",
    "share_max_days",
    "search_config",
)


@transaction.atomic
def tenant_update(*, membership: Membership, data: dict, ip: str | None = None) -> Tenant:
    """Owners and admins change the tenant's name and settings."""
    if not role_at_least(membership.role, Role.ADMIN):
        raise Forbidden("Only owners and admins can change tenant settings.")
    tenant = membership.tenant
    if "max_upload_bytes" in data and not 1 <= data["max_upload_bytes"] <= settings.PLATFORM_MAX_UPLOAD_BYTES:
        raise ValidationFailed(
            f"max_upload_bytes must be between 1 and {settings.PLATFORM_MAX_UPLOAD_BYTES}.", code="invalid_limit"
        )
    changed = [field for field in TENANT_SETTINGS if field in data and getattr(tenant, field) != data[field]]
    for field in changed:
        setattr(tenant, field, data[field])
    if changed:
        tenant.save(update_fields=changed)
        if "search_config" in changed:
            # Vectors are built with the tenant's language: rebuild them in the background.
            from files.tasks import reindex_tenant

            tenant_id = str(tenant.pk)
            transaction.on_commit(lambda: reindex_tenant.delay(tenant_id))
        event_record(
            verb="tenant.updated", tenant=tenant, actor=membership.user, target=tenant, ip=ip, data={"fields": changed}
        )
    return tenant


# --- Members ----------------------------------------------------------------------


def _owner_count(tenant: Tenant) -> int:
    return Membership.objects.filter(tenant=tenant, role=Role.OWNER).count()


def _require_manager(actor: Membership, role_involved: str) -> None:
    if not role_at_least(actor.role, Role.ADMIN):
        raise Forbidden("Only owners and admins can manage members.")
    # Admins manage editors and viewers (and other admins); owners are the owners' business.
    if role_involved == Role.OWNER and actor.role != Role.OWNER:
        raise Forbidden("Only an owner can grant, change or remove the owner role.")


@transaction.atomic
def member_add(*, actor: Membership, identifier: str, role: str, ip: str | None = None) -> Membership:
    """Add an existing user, found by username or email, to the actor's tenant."""
    _require_manager(actor, role)
    identifier = identifier.strip()
    user = User.objects.filter(Q(username__iexact=identifier) | Q(email__iexact=identifier), is_active=True).first()
    if user is None:
        raise ValidationFailed("No user has that username or email address.", code="unknown_user")
    membership, created = Membership.objects.get_or_create(tenant=actor.tenant, user=user, defaults={"role": role})
    if not created:
        raise Conflict(f"{user.username} is already a member.", code="already_member")
    event_record(verb="member.added", tenant=actor.tenant, actor=actor.user, target=user, ip=ip, data={"role": role})
    return membership


@transaction.atomic
def member_change_role(*, actor: Membership, member: Membership, role: str, ip: str | None = None) -> Membership:
    _require_manager(actor, Role.OWNER if Role.OWNER in (role, member.role) else role)
    # Lock the tenant's owner rows so two demotions cannot race past the last-owner rule.
    list(Membership.objects.select_for_update().filter(tenant=member.tenant, role=Role.OWNER))
    if member.role == Role.OWNER and role != Role.OWNER and _owner_count(member.tenant) <= 1:
        raise Conflict("A tenant must keep at least one owner.", code="last_owner")
    old = member.role
    if old != role:
        member.role = role
        member.save(update_fields=["role"])
        event_record(
            verb="member.role_changed",
            tenant=member.tenant,
            actor=actor.user,
            target=member.user,
            ip=ip,
            data={"from": old, "to": role},
        )
    return member


@transaction.atomic
def member_remove(*, actor: Membership, member: Membership, ip: str | None = None) -> None:
    if member.user_id != actor.user_id:  # anybody may leave; removing others needs a manager
        _require_manager(actor, member.role)
    list(Membership.objects.select_for_update().filter(tenant=member.tenant, role=Role.OWNER))
    if member.role == Role.OWNER and _owner_count(member.tenant) <= 1:
        raise Conflict("The last owner cannot be removed.", code="last_owner")
    from sharing.grants import member_access_remove  # sharing builds on accounts, not the reverse

    member_access_remove(tenant_id=member.tenant_id, user_id=member.user_id)
    event_record(verb="member.removed", tenant=member.tenant, actor=actor.user, target=member.user, ip=ip)
    member.delete()


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
