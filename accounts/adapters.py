"""How django-allauth fits MediaPortal: links in mails, messages, and who may sign up."""

from __future__ import annotations

from urllib.parse import quote

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.urls import reverse

from mediaportal.http import client_ip


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

    def get_client_ip(self, request) -> str:
        # The address our throttles and audit trail see (TRUSTED_PROXY_COUNT), for allauth's
        # session list and its rate limits too.
        return client_ip(request) or super().get_client_ip(request)

    def get_email_confirmation_url(self, request, emailconfirmation) -> str:
        return site_url(reverse("account_confirm_email", args=[emailconfirmation.key]))

    def get_reset_password_from_key_url(self, key: str) -> str:
        path = reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"})
        return site_url(path.replace("UID-KEY", quote(key)))


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    pass
