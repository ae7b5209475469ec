from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.urls import URLPattern, get_resolver
from rest_framework.test import APIClient

from accounts.services.users import token_create


def client_for(user) -> APIClient:
    """An API client authenticated as `user` with a fresh token."""
    client = APIClient()
    _token, key = token_create(user=user, name="test")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    client.user = user
    return client


# The shared corpus of real files sits beside the repository (../shared/corpus).
CORPUS = Path(os.environ.get("MEDIAPORTAL_CORPUS", Path(settings.BASE_DIR).parent / "shared" / "corpus"))


def api_routes() -> list[tuple[str, type]]:
    """Every /api/v1/ route of the URL map with its view class, as `api/v1/…<kind:name>/`:
    tests that must cover every endpoint walk this, so a new one is covered without a list."""
    routes = []

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLPattern):
                if route.startswith("api/v1/"):
                    routes.append((route, pattern.callback.cls))
            else:
                walk(pattern.url_patterns, route)

    walk(get_resolver().url_patterns, "")
    return routes
