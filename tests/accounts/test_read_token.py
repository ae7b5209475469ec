"""A read token is refused on every write route of the API, generated from the URL patterns
(as tests/files/test_isolation.py does), and nothing changes."""

from __future__ import annotations

import re
import uuid

import pytest
from django.apps import apps
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.services.users import token_create
from tests.factories import MembershipFactory
from tests.files.conftest import upload
from tests.helpers import api_routes, client_for

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch", "delete")
# Routes that take no credentials at all, so a token's scope is never looked at: say here why
# a new one may do without, or the test fails.
NO_CREDENTIALS = {
    "api/v1/auth/register/": "creates an account; the caller has none yet",
    "api/v1/auth/login/": "trades a password for a token",
}
# Write routes (route, method) found when this test was written; more may come, none may vanish
# from the walk unnoticed.
WRITE_ROUTES_TODAY = 45


def write_routes() -> list[tuple[str, str, type]]:
    return [(route, method, view) for route, view in api_routes() for method in WRITE_METHODS if hasattr(view, method)]


def row_counts() -> dict[str, int]:
    """Rows of every table of ours and of allauth's: any write a route made shows here."""
    labels = {"accounts", "files", "sharing", "analytics", "usersessions", "mfa", "account", "socialaccount"}
    return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.app_label in labels}


@pytest.fixture
def owner_world(django_capture_on_commit_callbacks):
    """An owner's team with a folder, a file and a share: real ids for the routes to name, so
    a write that got through would change something."""
    owner = MembershipFactory(role=Role.OWNER)
    client = client_for(owner.user)
    base = f"/api/v1/tenants/{owner.tenant.slug}/"
    folder = client.post(base + "folders/", {"name": "Kept"}, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        file = upload(client, owner.tenant, "kept.txt", b"kept", folder=folder["id"]).json()
    share = client.post(base + "shares/", {"file": file["id"]}, format="json").json()
    other_token, _ = token_create(user=owner.user, name="other")
    values = {
        "tenant_slug": owner.tenant.slug,
        "folder_id": folder["id"],
        "file_id": file["id"],
        "object_id": file["id"],
        "user_id": str(owner.user.pk),
        "share_id": share["id"],
        "token_id": str(other_token.pk),
        "number": "1",
        "kind": "thumbnail",
    }
    return owner, values


def url_for(route: str, values: dict) -> str:
    def value(match):
        kind, name = match[1], match[2]
        if name in values:
            return values[name]
        return "1" if kind == "int" else str(uuid.uuid4())

    return "/" + re.sub(r"<(\w+):(\w+)>", value, route)


def test_a_read_token_is_refused_on_every_write_route_and_changes_nothing(owner_world):
    owner, values = owner_world
    _token, key = token_create(user=owner.user, name="reader", scope="read")
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    before = row_counts()
    refused, skipped = [], set()
    for route, method, view in write_routes():
        if not view.authentication_classes:
            skipped.add(route)
            continue
        url = url_for(route, values)
        response = getattr(reader, method)(url, {"name": "changed", "role": "viewer"}, format="json")
        assert response.status_code == 403, (method, url, response.status_code, response.content[:200])
        assert response.json()["code"] == "read_only_token", (method, url)
        refused.append((method, route))
    assert skipped == set(NO_CREDENTIALS), "a write route without credentials: add it to NO_CREDENTIALS with why"
    assert len(refused) >= WRITE_ROUTES_TODAY, f"only {len(refused)} write routes walked"
    assert row_counts() == before
    # The same requests from the owner's write token do change things: the walk reaches real objects.
    writer = client_for(owner.user)
    response = writer.patch(
        url_for("api/v1/tenants/<slug:tenant_slug>/folders/<uuid:folder_id>/", values), {"name": "x"}, format="json"
    )
    assert response.status_code == 200
