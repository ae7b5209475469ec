"""API tokens restricted to one team, their output (scope, team, last use, expiry), and the
portal's token page. Routes are generated from the URL patterns, so new endpoints are covered."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.api.mixins import TenantScopedMixin
from accounts.models import ApiToken, Membership, Role
from accounts.services.users import token_create
from tests.factories import PASSWORD, MembershipFactory, TenantFactory, UserFactory
from tests.helpers import api_routes

pytestmark = pytest.mark.django_db

UNSAFE = ("post", "put", "patch", "delete")


def url_for(route: str, slug: str) -> str:
    def value(match):
        kind, name = match[1], match[2]
        if name == "tenant_slug":
            return slug
        return {"int": "1", "uuid": str(uuid.uuid4())}.get(kind, "thumbnail")

    return "/" + re.sub(r"<(\w+):(\w+)>", value, route)


def token_client(user, name: str = "scoped", **fields) -> tuple[APIClient, ApiToken]:
    token, key = token_create(user=user, name=name, **fields)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client, token


@pytest.fixture
def two_teams():
    """A user who owns team `a` and team `b`, and a write token restricted to `a`."""
    a = MembershipFactory(role=Role.OWNER)
    b = MembershipFactory(user=a.user, role=Role.OWNER)
    client, token = token_client(a.user, tenant_slug=a.tenant.slug)
    return a.user, a.tenant, b.tenant, client, token


def test_a_token_for_one_team_is_created_and_shown_with_its_team(two_teams):
    user, a, _b, _client, _token = two_teams
    session = APIClient()
    session.force_login(user)
    created = session.post("/api/v1/auth/tokens/", {"name": "ci", "scope": "read", "tenant": a.slug}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["tenant"] == a.slug and body["scope"] == "read" and body["last_used_at"] is None
    assert body["token"].startswith("mp_") and body["expires_at"]
    listed = {t["name"]: t for t in session.get("/api/v1/auth/tokens/").json()["results"]}
    assert listed["ci"]["tenant"] == a.slug and "token" not in listed["ci"]
    unrestricted = session.post("/api/v1/auth/tokens/", {"name": "all", "tenant": None}, format="json").json()
    assert unrestricted["tenant"] is None and unrestricted["scope"] == "write"


def test_only_a_team_of_the_caller_can_be_chosen(two_teams):
    user = two_teams[0]
    session = APIClient()
    session.force_login(user)
    foreign = TenantFactory()
    for slug in (foreign.slug, "no-such-team"):
        response = session.post("/api/v1/auth/tokens/", {"name": "x", "tenant": slug}, format="json")
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert not ApiToken.objects.filter(name="x").exists()


def test_a_restricted_token_sees_only_its_team(two_teams):
    user, a, b, client, _token = two_teams
    assert [t["slug"] for t in client.get("/api/v1/tenants/").json()["results"]] == [a.slug]
    assert [m["tenant"]["slug"] for m in client.get("/api/v1/auth/me/").json()["memberships"]] == [a.slug]
    assert client.get(f"/api/v1/tenants/{a.slug}/").status_code == 200
    assert client.post(f"/api/v1/tenants/{a.slug}/folders/", {"name": "Mine"}, format="json").status_code == 201
    for path in ("", "members/", "folders/", "files/", "shares/"):
        response = client.get(f"/api/v1/tenants/{b.slug}/{path}")
        assert response.status_code == 404 and response.json()["code"] == "not_found", path
    assert client.post(f"/api/v1/tenants/{b.slug}/folders/", {"name": "x"}, format="json").status_code == 404
    # The same user's unrestricted token sees both.
    everything, _ = token_client(user)
    assert {t["slug"] for t in everything.get("/api/v1/tenants/").json()["results"]} == {a.slug, b.slug}


def test_every_route_of_another_team_is_404_to_a_restricted_token(two_teams):
    """Generated from the URL patterns: all methods of every route under tenants/{slug}/."""
    user, _a, b, client, _token = two_teams
    unrestricted, _ = token_client(user)
    checked = reachable = 0
    for route, view in api_routes():
        if "<slug:tenant_slug>" not in route:
            continue
        url = url_for(route, b.slug)
        for method in ("get", *UNSAFE):
            if not hasattr(view, method):
                continue
            response = getattr(client, method)(url, {}, format="json")
            assert response.status_code == 404, (method, url, response.status_code)
            assert response.json()["code"] == "not_found"
            checked += 1
        if hasattr(view, "get") and unrestricted.get(url).status_code == 200:
            reachable += 1  # a page the user's own unrestricted token does see
    assert checked >= 60
    assert reachable >= 10


def test_every_tenant_route_is_scoped_by_the_mixin():
    """The restriction is enforced in TenantScopedMixin: a team route without it would skip it."""
    missing = [
        route for route, view in api_routes() if "tenant_slug" in route and not issubclass(view, TenantScopedMixin)
    ]
    assert not missing


def test_outside_its_team_a_restricted_token_may_only_read(two_teams):
    """Generated: every write route that is not a team's is refused (403 token_restricted) —
    making tokens, ending sessions, creating teams, changing the account — except the logout,
    which revokes only the token itself."""
    user, _a, _b, client, token = two_teams
    _other_client, other = token_client(user, name="other")
    before = (ApiToken.objects.count(), Membership.objects.count())
    refused = []
    for route, view in api_routes():
        if "tenant_slug" in route or not view.authentication_classes:
            continue  # team routes (above); register and login take no credentials
        for method in UNSAFE:
            if not hasattr(view, method) or getattr(view, "allows_restricted_tokens", False):
                continue
            url = url_for(route, "x")
            if "token_id" in route:
                url = f"/api/v1/auth/tokens/{other.pk}/"
            response = getattr(client, method)(url, {"name": "escalate", "scope": "write"}, format="json")
            assert response.status_code == 403, (method, url, response.status_code)
            assert response.json()["code"] == "token_restricted"
            refused.append((method, route))
    assert ("post", "api/v1/auth/tokens/") in refused and ("delete", "api/v1/auth/tokens/<uuid:token_id>/") in refused
    assert ("post", "api/v1/tenants/") in refused and ("post", "api/v1/auth/sessions/sign-out-others/") in refused
    assert len(refused) >= 5
    assert (ApiToken.objects.count(), Membership.objects.count()) == before
    other.refresh_from_db()
    assert other.revoked_at is None
    # It may read the account: its tokens, sessions and sign-ins.
    for path in ("auth/tokens/", f"auth/tokens/{other.pk}/", "auth/sessions/", "auth/sign-ins/", "auth/me/"):
        assert client.get(f"/api/v1/{path}").status_code == 200, path
    assert client.post("/api/v1/auth/logout/").status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_a_read_token_cannot_make_tokens_either():
    user = UserFactory()
    client, _ = token_client(user, scope="read")
    response = client.post("/api/v1/auth/tokens/", {"name": "escalate"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "read_only_token"


def test_a_restricted_token_of_a_team_left_sees_nothing(two_teams):
    user, a, _b, client, _token = two_teams
    Membership.objects.filter(user=user, tenant=a).delete()
    assert client.get("/api/v1/tenants/").json()["results"] == []
    assert client.get(f"/api/v1/tenants/{a.slug}/").status_code == 404


def test_last_use_is_recorded_and_shown(two_teams):
    _user, a, _b, client, token = two_teams
    assert token.last_used_at is None
    client.get(f"/api/v1/tenants/{a.slug}/")
    shown = client.get(f"/api/v1/auth/tokens/{token.pk}/").json()
    assert shown["last_used_at"] is not None and shown["tenant"] == a.slug


def test_every_token_expires_within_the_ttl(settings):
    user = UserFactory()
    session = APIClient()
    session.force_login(user)
    too_far = (timezone.now() + settings.API_TOKEN_TTL + timedelta(hours=1)).isoformat()
    refused = session.post("/api/v1/auth/tokens/", {"name": "forever", "expires_at": too_far}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "expiry_too_far"
    default = session.post("/api/v1/auth/tokens/", {"name": "default"}, format="json").json()
    expires = ApiToken.objects.get(pk=default["id"]).expires_at
    assert (
        timezone.now() + settings.API_TOKEN_TTL - timedelta(minutes=1)
        < expires
        <= timezone.now() + settings.API_TOKEN_TTL
    )
    registered = APIClient().post(
        "/api/v1/auth/register/", {"username": "wendy", "email": "w@example.com", "password": PASSWORD}, format="json"
    )
    assert registered.status_code == 201
    assert ApiToken.objects.get(user__username="wendy").expires_at <= timezone.now() + settings.API_TOKEN_TTL


# --- The portal's token page ---------------------------------------------------------------


def test_the_token_page_makes_a_team_token_and_lists_team_and_last_use(client):
    owner = MembershipFactory(role=Role.OWNER)
    client.force_login(owner.user)
    page = client.get("/account/tokens/").content.decode()
    assert "All my teams" in page and owner.tenant.name in page
    created = client.post(
        "/account/tokens/",
        {"name": "nightly", "scope": "read", "tenant": owner.tenant.slug, "expires_in_days": 5},
    )
    assert created.status_code == 200
    token = ApiToken.objects.get(name="nightly")
    assert token.tenant == owner.tenant and token.scope == "read"
    html = created.content.decode()
    assert f"team {owner.tenant.name} only" in html
    row = html[html.index('<th scope="row">nightly</th>') :].split("</tr>")[0]
    assert owner.tenant.name in row and "Read only" in row and "never" in row


def test_the_token_page_refuses_a_team_that_is_not_the_users(client):
    owner = MembershipFactory(role=Role.OWNER)
    client.force_login(owner.user)
    response = client.post(
        "/account/tokens/", {"name": "x", "scope": "read", "tenant": TenantFactory().slug, "expires_in_days": 5}
    )
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not ApiToken.objects.filter(name="x").exists()
