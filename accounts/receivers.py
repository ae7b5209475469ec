"""Sign-ins and sign-outs of browser sessions, into the audit trail.

Django's `user_logged_in` fires once for every session sign-in, whichever way it came (the
login page, single sign-on, the two-factor step that completes a login, registration): the
one place they are recorded. The API login makes no session and records itself
(accounts.services.users.login).
"""

from __future__ import annotations

import time

from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from accounts.middleware import LAST_SEEN
from accounts.services import sessions
from mediaportal.http import client_ip, user_agent


def sign_in_method(request) -> tuple[str, str | None]:
    """How this sign-in was proved, from what django-allauth noted in the session during the
    login (`password`, `socialaccount`, `mfa`, …), or what our own view said
    (`request.sign_in_method`); and the second factor's type, if one was used."""
    records = request.session.get(AUTHENTICATION_METHODS_SESSION_KEY) or []
    methods = {record.get("method"): record for record in records}
    mfa = methods["mfa"].get("type", "mfa") if "mfa" in methods else None
    if "socialaccount" in methods:
        return f"sso:{methods['socialaccount'].get('provider', 'unknown')}", mfa
    for method in ("password", "password_reset", "code"):
        if method in methods:
            return method, mfa
    return getattr(request, "sign_in_method", "session"), mfa


@receiver(user_logged_in, dispatch_uid="accounts.sign_in_recorded")
def _signed_in(sender, request, user, **kwargs) -> None:
    if request is None:
        return
    method, mfa = sign_in_method(request)
    sessions.sign_in_record(user=user, ip=client_ip(request), user_agent=user_agent(request), method=method, mfa=mfa)
    # The idle timeout counts from the sign-in (accounts.middleware).
    request.session[LAST_SEEN] = int(time.time())


@receiver(user_logged_out, dispatch_uid="accounts.sign_out_recorded")
def _signed_out(sender, request, user, **kwargs) -> None:
    if request is None or user is None:
        return
    reason = getattr(request, "sign_out_reason", "signed_out")
    sessions.sign_out_record(user=user, ip=client_ip(request), user_agent=user_agent(request), reason=reason)
