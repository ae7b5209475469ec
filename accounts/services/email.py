"""E-mail addresses: what an account's address is, whether it is verified, and changing it.

The addresses are django-allauth's `EmailAddress` rows (its pages manage them in the portal);
the API's registration and address change go through here, so both send the same mails.
"""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.db import transaction
from django.http import HttpRequest

from accounts.models import User
from mediaportal.exceptions import ValidationFailed


def email_address_record(*, user: User, email: str) -> EmailAddress | None:
    """The account's primary address as allauth keeps it, unverified (at registration)."""
    if not email:
        return None
    return EmailAddress.objects.create(user=user, email=email.lower(), primary=True, verified=False)


def verification_send(*, request: HttpRequest, user: User) -> bool:
    """Mail a verification link for the account's unverified addresses; False when none is.

    allauth limits how often one address is mailed (its `confirm_email` rate).
    """
    sent = False
    for address in EmailAddress.objects.filter(user=user, verified=False):
        address.send_confirmation(request, signup=False)
        sent = True
    return sent


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
    address.send_confirmation(request, signup=False)
    return address
