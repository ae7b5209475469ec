"""E-mail addresses: what an account's address is, whether it is verified, and changing it.

The addresses are django-allauth's `EmailAddress` rows (its pages manage them in the portal);
the API's registration and address change go through here, so both send the same mails.
"""

from __future__ import annotations

import hashlib

from allauth.account.models import EmailAddress
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest

from accounts.models import User
from mediaportal.exceptions import ApplicationError, Conflict, ValidationFailed

# One verification mail per address in this many seconds: an address anyone may type in (at
# registration, as a new address) must not become a way to flood its owner's inbox.
MAIL_INTERVAL = 180


class VerificationThrottled(ApplicationError):
    status_code = 429
    default_code = "verification_throttled"
    default_detail = (
        "A verification link was mailed to that address a moment ago; check the inbox or try again in a few minutes."
    )

    def __init__(self) -> None:
        super().__init__(extra={"retry_after": MAIL_INTERVAL})


def mail_throttle_key(email: str) -> str:
    # Hashed: an address may be longer than a cache key should be.
    return "mail:verify:" + hashlib.sha256(email.lower().encode()).hexdigest()


def _send(request: HttpRequest, address: EmailAddress) -> bool:
    if not cache.add(mail_throttle_key(address.email), 1, MAIL_INTERVAL):
        return False
    address.send_confirmation(request, signup=False)
    return True


def email_address_record(*, user: User, email: str) -> EmailAddress | None:
    """The account's primary address as allauth keeps it, unverified (at registration)."""
    if not email:
        return None
    return EmailAddress.objects.create(user=user, email=email.lower(), primary=True, verified=False)


def verification_send(*, request: HttpRequest, user: User) -> bool:
    """Mail a verification link for each of the account's unverified addresses not mailed
    within MAIL_INTERVAL; whether one was sent."""
    return any([_send(request, address) for address in EmailAddress.objects.filter(user=user, verified=False)])


def verification_resend(*, request: HttpRequest, user: User) -> None:
    """The link again, asked for: 409 when every address is verified, 429 when each was
    mailed within MAIL_INTERVAL."""
    if not EmailAddress.objects.filter(user=user, verified=False).exists():
        raise Conflict("Every address of this account is verified.", code="email_already_verified")
    if not verification_send(request=request, user=user):
        raise VerificationThrottled()


def email_change_request(*, request: HttpRequest, user: User, email: str) -> EmailAddress:
    """Start changing the account's address: the new one replaces the old once verified.

    Until then the old address stays the one mails go to and sign-ins use.
    """
    email = email.strip().lower()
    with transaction.atomic():
        taken = EmailAddress.objects.filter(email__iexact=email).exclude(user=user).exists()
        if taken or User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
            raise ValidationFailed("An account with that email address exists.", code="email_taken")
        current = EmailAddress.objects.filter(user=user, email__iexact=email).first()
        if current is not None and current.verified:
            raise ValidationFailed("That is already your verified address.", code="email_unchanged")
        # One change is pending at a time: a newer request replaces an older one.
        pending = EmailAddress.objects.filter(user=user, verified=False, primary=False)
        pending.exclude(email__iexact=email).delete()
        address = current or EmailAddress.objects.create(user=user, email=email, primary=False, verified=False)
    # Mailed once the address is recorded, so the link always finds it.
    if not _send(request, address):
        raise VerificationThrottled()
    return address
