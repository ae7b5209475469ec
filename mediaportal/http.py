from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str | None:
    """The caller's address; X-Forwarded-For is believed only for the configured proxy hops."""
    hops = settings.TRUSTED_PROXY_COUNT
    if hops:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR") or None
