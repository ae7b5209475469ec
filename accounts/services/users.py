"""Users, login and API tokens."""

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
from django.db.models import Count, Q
from django.utils import timezone

from accounts import throttling
from accounts.models import ApiToken, Membership, Role, Tenant, TokenScope, User
from accounts.selectors import membership_get
from accounts.services import mfa, sessions
from accounts.services.audit import event_record
from accounts.services.email import email_address_record
from accounts.services.tenants import tenant_create
from mediaportal.exceptions import ApplicationError, Conflict, ValidationFailed
from mediaportal.queries import one_or_none

TOKEN_PREFIX = "mp_"
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
            email_address_record(user=user, email=email)
    except IntegrityError:
        # Two registrations raced past the checks above; the constraint decides.
        raise ValidationFailed("That username or email address is taken.", code="username_taken") from None
    return user


@transaction.atomic
def user_register(
    *,
    username: str,
    email: str,
    password: str,
    tenant_name: str = "",
    ip: str | None = None,
    with_token: bool = True,
) -> tuple[User, Tenant, str | None]:
    """Create a user, a personal tenant they own, and a first API token (returned once).

    The portal registers `with_token=False`: it signs the user in with a session, and a key
    nobody was shown would only be a live credential in the token list that nobody holds.
    """
    user = user_create(username=username, email=email, password=password)
    tenant = tenant_create(actor=user, name=tenant_name or f"{user.username}'s team", ip=ip)
    key = token_create(user=user, name="registration")[1] if with_token else None
    event_record(verb="user.registered", tenant=tenant, actor=user, target=user, ip=ip)
    return user, tenant, key


@transaction.atomic
def user_password_change(*, user: User, old_password: str, new_password: str, ip: str | None = None) -> User:
    """Change a signed-in user's password, proving the current one first.

    A wrong current password counts as a failed login: a borrowed session must not become a
    way to guess the password without the login throttle. Django's session auth hash changes
    with the password, so the user's other sessions end; the caller keeps its own
    (`update_session_auth_hash`).
    """
    attempt = throttling.login_attempt(username=user.username, ip=ip)
    if attempt.retry_after:
        raise LoginThrottled(
            f"Too many wrong passwords. Try again in {attempt.retry_after} seconds.",
            extra={"retry_after": attempt.retry_after},
        )
    if not user.check_password(old_password):
        raise ValidationFailed("Your current password is wrong.", code="wrong_password")
    throttling.login_succeeded(attempt)
    _check_password(new_password, user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    event_record(verb="user.password_changed", actor=user, target=user, ip=ip)
    return user


# --- Login and tokens -------------------------------------------------------------


def _hash_key(key: str) -> str:
    # API keys carry 256 random bits, so a fast hash is as safe as a slow one here and
    # keeps per-request authentication to one indexed lookup.
    return hashlib.sha256(key.encode()).hexdigest()


def token_create(
    *,
    user: User,
    name: str,
    expires_at: datetime | None = None,
    scope: str = TokenScope.WRITE,
    tenant_slug: str | None = None,
) -> tuple[ApiToken, str]:
    """Create an API token; the returned key is the only copy that will ever exist.

    Every token expires, by API_TOKEN_TTL_DAYS at the latest (and by then when no time is given):
    a key that leaks stops working on its own. A `read` token may only read
    (accounts.authentication refuses its other requests). With `tenant_slug` (one of the
    user's teams, else 404) the token sees only that team: accounts.api.mixins.
    """
    if scope not in TokenScope.values:
        raise ValidationFailed(f"scope must be one of {', '.join(TokenScope.values)}.", code="invalid_scope")
    tenant = membership_get(user=user, tenant_slug=tenant_slug).tenant if tenant_slug else None
    now = timezone.now()
    latest = now + settings.API_TOKEN_TTL
    expires_at = expires_at or latest
    if expires_at <= now:
        raise ValidationFailed("expires_at must be in the future.", code="invalid_expiry")
    if expires_at > latest:
        raise ValidationFailed(
            f"Tokens expire within {settings.API_TOKEN_TTL.days} days; choose an earlier expires_at.",
            code="expiry_too_far",
        )
    secret = secrets.token_urlsafe(32)
    key = f"{TOKEN_PREFIX}{secret}"
    token = ApiToken.objects.create(
        user=user,
        name=name.strip()[:100] or "token",
        prefix=key[:10],
        key_hash=_hash_key(key),
        scope=scope,
        tenant=tenant,
        expires_at=expires_at,
    )
    return token, key


def token_authenticate(key: str) -> ApiToken | None:
    """The active token for this key, with its user, or None."""
    token = one_or_none(ApiToken.objects.select_related("user").filter(key_hash=_hash_key(key)))
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


def token_sign_out(*, token: ApiToken, ip: str | None = None, user_agent: str = "") -> None:
    """The API's logout with a token: the token is revoked, and that is a sign-out."""
    with transaction.atomic():
        token_revoke(token=token)
        sessions.sign_out_record(user=token.user, ip=ip, user_agent=user_agent, method="token")


def login(
    *, username: str, password: str, ip: str | None, otp: str = "", user_agent: str = ""
) -> tuple[User, ApiToken, str]:
    """Check credentials (throttled per username+address, per username and per address) and issue a token.

    For an account with two-factor on, the password alone answers `mfa_required` and a wrong
    code `invalid_otp`; both stay counted as failed attempts until a full sign-in succeeds.
    Sign-ins and refusals are audit events (`user.login`, `user.login_failed`, method `token`).
    """
    username = username.strip()
    attempt = throttling.login_attempt(username=username, ip=ip)
    if attempt.retry_after:
        sessions.sign_in_failed_record(
            username=username, ip=ip, user_agent=user_agent, method="token", reason="throttled"
        )
        raise LoginThrottled(extra={"retry_after": attempt.retry_after})
    user = authenticate(username=username, password=password)
    if user is None:
        # Usernames are unique case-insensitively, so let "Alice" log in as "alice".
        match = User.objects.filter(username__iexact=username).only("username").first()
        if match is not None and match.username != username:
            user = authenticate(username=match.username, password=password)
    if user is None:
        sessions.sign_in_failed_record(
            username=username, ip=ip, user_agent=user_agent, method="token", reason="invalid_credentials"
        )
        raise InvalidCredentials()  # the attempt stays counted as a failure
    if mfa.mfa_enabled(user=user):
        refusal = mfa.MfaRequired() if not otp else None
        if otp and not mfa.otp_verify(user=user, code=otp):
            refusal = mfa.InvalidOtp()
        if refusal is not None:
            sessions.sign_in_failed_record(
                username=username, ip=ip, user_agent=user_agent, method="token", reason=refusal.code
            )
            raise refusal
    throttling.login_succeeded(attempt)
    expires_at = timezone.now() + settings.API_TOKEN_TTL
    token, key = token_create(user=user, name="login", expires_at=expires_at)
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    sessions.sign_in_record(user=user, ip=ip, user_agent=user_agent, method="token")
    return user, token, key


@transaction.atomic
def user_delete(*, actor: User, user: User, ip: str | None = None) -> None:
    """Delete an account with its memberships, grants and tokens (platform staff, from the
    admin), unless it is the last owner of a tenant: every tenant keeps an owner."""
    owned = list(Membership.objects.filter(user=user, role=Role.OWNER).values_list("tenant_id", flat=True))
    # Lock those tenants' owner rows, as member_remove does, so no demotion races this check.
    list(Membership.objects.select_for_update().filter(tenant_id__in=owned, role=Role.OWNER))
    alone = (
        Tenant.objects.filter(pk__in=owned)
        .annotate(owners=Count("memberships", filter=Q(memberships__role=Role.OWNER)))
        .filter(owners=1)
        .values_list("slug", flat=True)
    )
    if alone:
        raise Conflict(
            f"{user.username} is the last owner of {', '.join(sorted(alone))}: make someone else an owner first.",
            code="last_owner",
        )
    event_record(verb="user.deleted", actor=actor, ip=ip, data={"id": str(user.pk), "username": user.username})
    user.delete()
