"""Two-factor authentication: TOTP with recovery codes, for the API and per-tenant enforcement.

The authenticators are django-allauth's (`allauth.mfa`): the portal's two-factor pages and
its login step use the same rows, so a code set up in one place works in the other.
"""

from __future__ import annotations

from allauth.mfa.adapter import get_adapter as mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret, validate_totp_code
from django.core.cache import cache
from django.db import transaction

from accounts.models import Membership, User
from accounts.services.audit import event_record
from mediaportal.exceptions import ApplicationError, Conflict, Forbidden, ValidationFailed

# How long a secret handed out by `totp_begin` waits for its first code (seconds).
PENDING_TTL = 15 * 60


class MfaRequired(ApplicationError):
    status_code = 401
    default_code = "mfa_required"
    default_detail = "This account uses two-factor authentication: send the current code as `otp`."


class InvalidOtp(ApplicationError):
    status_code = 401
    default_code = "invalid_otp"
    default_detail = "Wrong or already used two-factor code."


class TenantRequiresMfa(Forbidden):
    default_code = "mfa_required"


def _pending_key(user: User) -> str:
    return f"mfa:pending-totp:{user.pk}"


def mfa_enabled(*, user: User) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def totp_begin(*, user: User) -> tuple[str, str]:
    """A new secret and its otpauth:// URL (for a QR code); nothing is on until confirmed."""
    if mfa_enabled(user=user):
        raise Conflict("Two-factor authentication is already on.", code="mfa_already_enabled")
    secret = generate_totp_secret()
    # Kept encrypted like the stored ones: a cache dump must not hand out a working secret.
    cache.set(_pending_key(user), mfa_adapter().encrypt(secret), PENDING_TTL)
    return secret, mfa_adapter().build_totp_url(user, secret)


@transaction.atomic
def totp_confirm(*, user: User, code: str, ip: str | None = None) -> list[str]:
    """Turn two-factor on with a code of the pending secret; returns the recovery codes."""
    pending = cache.get(_pending_key(user))
    if pending is None:
        raise ValidationFailed("Start the set-up first (POST auth/mfa/totp/).", code="mfa_not_started")
    if mfa_enabled(user=user):
        raise Conflict("Two-factor authentication is already on.", code="mfa_already_enabled")
    secret = mfa_adapter().decrypt(pending)
    if not validate_totp_code(secret, code.strip()):
        raise ValidationFailed("That code does not match: check the authenticator app's clock.", code="invalid_otp")
    TOTP.activate(user, secret)
    codes = RecoveryCodes.activate(user).get_unused_codes()
    transaction.on_commit(lambda: cache.delete(_pending_key(user)))
    event_record(verb="mfa.enabled", actor=user, target=user, ip=ip)
    return codes


def otp_verify(*, user: User, code: str) -> bool:
    """A current TOTP code (each used once) or an unused recovery code (then spent)."""
    code = (code or "").strip().replace(" ", "")
    if not code:
        return False
    for authenticator in Authenticator.objects.filter(user=user):
        wrapped = authenticator.wrap()
        if isinstance(wrapped, TOTP | RecoveryCodes) and wrapped.validate_code(code):
            authenticator.record_usage()
            return True
    return False


def _require_code(user: User, code: str) -> None:
    if not mfa_enabled(user=user):
        raise Conflict("Two-factor authentication is off.", code="mfa_not_enabled")
    if not otp_verify(user=user, code=code):
        raise InvalidOtp()


@transaction.atomic
def mfa_disable(*, user: User, code: str, ip: str | None = None) -> None:
    """Turn two-factor off, proven by a current code (or a recovery code)."""
    _require_code(user, code)
    Authenticator.objects.filter(user=user).delete()
    event_record(verb="mfa.disabled", actor=user, target=user, ip=ip)


@transaction.atomic
def recovery_codes_regenerate(*, user: User, code: str, ip: str | None = None) -> list[str]:
    """A new set of recovery codes (the old ones stop working), proven by a current code."""
    _require_code(user, code)
    Authenticator.objects.filter(user=user, type=Authenticator.Type.RECOVERY_CODES).delete()
    codes = RecoveryCodes.activate(user).get_unused_codes()
    event_record(verb="mfa.recovery_codes_regenerated", actor=user, target=user, ip=ip)
    return codes


def recovery_codes_left(*, user: User) -> int:
    authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.RECOVERY_CODES).first()
    return len(authenticator.wrap().get_unused_codes()) if authenticator else 0


def tenant_mfa_check(*, membership: Membership) -> None:
    """A tenant that requires two-factor refuses its members who have not set it up."""
    if membership.tenant.require_mfa and not mfa_enabled(user=membership.user):
        raise TenantRequiresMfa(
            f"The team “{membership.tenant.name}” requires two-factor authentication: turn it on "
            "for your account (auth/mfa/totp/, or Two-factor authentication in the portal) first."
        )
