from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
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
