from __future__ import annotations

from django.conf import settings

from mediaportal.exceptions import ValidationFailed


def client_ip(request) -> str | None:
    """The caller's address; X-Forwarded-For is believed only for the configured proxy hops."""
    hops = settings.TRUSTED_PROXY_COUNT
    if hops:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR") or None


def user_agent(request) -> str:
    """The caller's User-Agent header, as much of it as the audit trail keeps."""
    return request.META.get("HTTP_USER_AGENT", "")[:300]


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def query_flag(params, name: str, *, default: bool = False) -> bool:
    """A yes/no query parameter (`true`/`false`, also 1/0, yes/no, on/off); anything else is a 400.

    Empty is the same as absent, as for every query parameter of the API.
    """
    raw = params.get(name)
    if not raw:
        return default
    value = raw.strip().lower()
    if value not in _TRUE | _FALSE:
        raise ValidationFailed(f"{name} must be true or false.", code="invalid_parameter")
    return value in _TRUE


def site_url(path: str) -> str:
    """The absolute address of a path, for links in mails and in answers read elsewhere.

    Built from SITE_URL, never from the request's Host header: a password reset requested
    with a forged host must not mail a link to that host.
    """
    return f"{settings.SITE_URL}{path}"
