"""Single sign-on pages of our own around django-allauth's."""

from __future__ import annotations

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.providers.openid_connect import views as oidc_views
from django.http import HttpRequest, HttpResponse
from requests import RequestException


def oidc_login(request: HttpRequest, provider_id: str) -> HttpResponse:
    """allauth's OpenID Connect login, which reads the provider's discovery document first.

    allauth catches network errors on the way back from the provider, not on the way there:
    an unreachable provider would be a 500. It gets the same error page as a failed callback,
    and the log line (SocialAccountAdapter.on_authentication_error) names the cause.
    """
    try:
        return oidc_views.login(request, provider_id)
    except RequestException as exc:
        provider = get_adapter(request).get_provider(request, provider_id)
        return render_authentication_error(request, provider, exception=exc, extra_context={"unreachable": True})
