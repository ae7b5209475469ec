"""How django-allauth fits MediaPortal: links in mails, messages, and who may sign up."""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from types import SimpleNamespace
from urllib.parse import quote, urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from cryptography.fernet import Fernet
from django.conf import settings
from django.urls import reverse


def site_url(path: str) -> str:
    # Links in mails are built from SITE_URL, never from the request's Host header: a
    # password reset requested with a forged host must not mail a link to that host.
    return f"{settings.SITE_URL}{path}"


class AccountAdapter(DefaultAccountAdapter):
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "username_password_mismatch": "Wrong username or password.",
        "email_password_mismatch": "Wrong e-mail address or password.",
    }

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # allauth names the site after the request's host in its mails; ours is SITE_URL's.
        site = SimpleNamespace(name="MediaPortal", domain=urlsplit(settings.SITE_URL).netloc)
        super().send_mail(template_prefix, email, {**context, "current_site": site})

    def get_email_confirmation_url(self, request, emailconfirmation) -> str:
        return site_url(reverse("account_confirm_email", args=[emailconfirmation.key]))

    def get_reset_password_from_key_url(self, key: str) -> str:
        path = reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"})
        return site_url(path.replace("UID-KEY", quote(key)))


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    pass


@cache
def _fernet() -> Fernet:
    key = hashlib.sha256(b"mediaportal.mfa:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


class MfaAdapter(DefaultMFAAdapter):
    """TOTP secrets and recovery-code seeds are stored encrypted with a key derived from
    SECRET_KEY (allauth would store them as they are): a database dump alone does not give
    anyone a second factor. Changing SECRET_KEY therefore turns every two-factor set-up off
    in effect: users then recover with support (the admin can delete their authenticators)."""

    def encrypt(self, text: str) -> str:
        return _fernet().encrypt(text.encode()).decode()

    def decrypt(self, encrypted_text: str) -> str:
        return _fernet().decrypt(encrypted_text.encode()).decode()
