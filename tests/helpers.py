from __future__ import annotations

from rest_framework.test import APIClient

from accounts.services import token_create


def client_for(user) -> APIClient:
    """An API client authenticated as `user` with a fresh token."""
    client = APIClient()
    _token, key = token_create(user=user, name="test")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    client.user = user
    return client
