"""How django-allauth fits MediaPortal: links in mails, messages, who may sign up, and what a
single sign-on does to accounts (decided in accounts.services.sso)."""

from __future__ import annotations

import base64
import hashlib
import logging
from functools import cache
from types import SimpleNamespace
from urllib.parse import quote, urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.providers.base import AuthProcess
from cryptography.fernet import Fernet
from django.conf import settings
from django.shortcuts import render
from django.urls import reverse

from accounts.services import sso
from mediaportal.http import client_ip, site_url

log = logging.getLogger(__name__)
OIDC = "openid_connect"


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
    def authenticate_by_email(self, sociallogin):
        # allauth would join the account by a provider-verified address alone and then wipe
        # its password when our record of the address is unverified; we join only when both
        # are verified and otherwise refuse, changing nothing (accounts.services.sso).
        if sociallogin.state.get("process") == AuthProcess.CONNECT:
            return None  # connecting to the signed-in account: the address joins nothing
        addresses = [(address.email, bool(address.verified)) for address in sociallogin.email_addresses]
        try:
            return sso.link_target(addresses=addresses)
        except sso.LinkRefused as exc:
            request = context.request
            log.info("Single sign-on with %s refused: its address belongs to an account.", sociallogin.provider.id)
            page = render(
                request,
                "socialaccount/link_refused.html",
                {"provider": sociallogin.provider},
                status=exc.status_code,
            )
            raise ImmediateHttpResponse(page) from None

    def pre_social_login(self, request, sociallogin) -> None:
        # An existing account signing in through OpenID Connect: its groups are re-applied at
        # every sign-in (a new account gets them in save_user).
        if (
            sociallogin.is_existing
            and sociallogin.provider.id == OIDC
            and sociallogin.state.get("process", AuthProcess.LOGIN) == AuthProcess.LOGIN
        ):
            sso.signed_in(
                user=sociallogin.user, claims=sso.claims_of(sociallogin.account.extra_data), ip=client_ip(request)
            )

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form=form)
        claims = sso.claims_of(sociallogin.account.extra_data) if sociallogin.provider.id == OIDC else None
        sso.user_set_up(user=user, claims=claims, ip=client_ip(request))
        return user

    def on_authentication_error(self, request, provider, error=None, exception=None, extra_context=None) -> None:
        # The page says it failed; the log says why, for whoever runs the site.
        log.warning(
            "Single sign-on with %s failed: %s%s",
            getattr(provider, "id", provider),
            error or "error",
            f" ({type(exception).__name__}: {exception})" if exception else "",
        )


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
