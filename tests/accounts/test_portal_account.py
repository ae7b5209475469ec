"""The portal's account and team pages: registration, teams, password, API tokens, members,
settings; and the scope of API tokens, which the tokens page creates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.models import ActivityEvent, ApiToken, Membership, Role, Tenant, TenantUsage, User
from accounts.services.users import token_create
from tests.factories import PASSWORD, MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a different long secret 2"


def signed_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def owner(tenant):
    return MembershipFactory(tenant=tenant, role=Role.OWNER)


def as_role(tenant, role) -> tuple[Membership, Client]:
    membership = MembershipFactory(tenant=tenant, role=role)
    return membership, signed_in(membership.user)


def register(client, **overrides):
    body = {"username": "rosa", "email": "rosa@example.com", "password": "a long enough secret 1"}
    body["tenant_name"] = "Rosa Studio"
    body.update(overrides)
    return client.post("/register/", body)


# --- Registration, login and the teams page --------------------------------------------


def test_register_signs_in_and_lands_on_the_new_team():
    client = Client()
    page = client.get("/register/").content.decode()
    for label in ("Username", "Email", "Password", "Team name", "Create account"):
        assert label in page
    response = register(client)
    user = User.objects.get(username="rosa")
    tenant = Tenant.objects.get(name="Rosa Studio")
    assert response.status_code == 302 and response["Location"] == f"/t/{tenant.slug}/"
    assert Membership.objects.get(user=user, tenant=tenant).role == Role.OWNER
    # The portal signs in with a session: no key nobody was shown sits in the token list.
    assert not ApiToken.objects.filter(user=user).exists()
    assert ActivityEvent.objects.filter(verb="user.registered", user=user).exists()
    assert client.get(f"/t/{tenant.slug}/").status_code == 200
    assert client.get("/register/")["Location"] == "/"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"username": "taken"}, "That username is taken."),
        ({"email": "taken@example.com"}, "An account with that email address exists."),
        ({"password": "password"}, "This password is too common."),
        ({"username": "a b"}, "Usernames are 3-150 letters"),
        ({"email": "not-an-address"}, "Enter a valid email address."),
    ],
)
def test_register_shows_refusals_inline_and_creates_nothing(overrides, message):
    UserFactory(username="taken", email="taken@example.com")
    response = register(Client(), **overrides)
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page and 'class="errorlist"' in page and 'aria-invalid="true"' in page
    assert not Tenant.objects.exists() and User.objects.count() == 1


def test_login_page_shows_a_wrong_password_inline_and_keeps_the_throttle(tenant, owner):
    client = Client()
    page = client.get("/login/").content.decode()
    assert "Username" in page and "Password" in page and "Log in" in page and "/register/" in page
    wrong = {"login": owner.user.username, "password": "wrong"}
    response = client.post("/login/", wrong)
    assert response.status_code == 200 and "Wrong username or password." in response.content.decode()
    for _ in range(5):
        response = client.post("/login/", wrong)
    assert "Too many failed logins" in response.content.decode()
    good = client.post("/login/", {"login": owner.user.username, "password": PASSWORD})
    assert good.status_code == 200 and "Too many failed logins" in good.content.decode()


def test_home_lists_teams_with_role_and_storage(tenant, owner):
    other = TenantFactory(name="Other Team", quota_bytes=2 * 1024**3)
    MembershipFactory(tenant=other, user=owner.user, role=Role.VIEWER)
    TenantUsage.objects.create(tenant=other, bytes=3 * 1024**2)
    stranger = TenantFactory(name="Stranger Team")
    page = signed_in(owner.user).get("/").content.decode()
    assert tenant.name in page and "Other Team" in page and "Stranger Team" not in page
    assert f'href="/t/{tenant.slug}/"' in page and "Owner" in page and "Viewer" in page
    assert "3.0\xa0MB of 2.0\xa0GB" in page
    assert stranger.slug not in page
    assert Client().get("/")["Location"].startswith("/login/")


def test_home_creates_a_team_and_shows_refusals_inline(tenant, owner):
    client = signed_in(owner.user)
    response = client.post("/", {"name": "Press Office", "slug": "press"})
    assert response.status_code == 302 and response["Location"] == "/t/press/"
    assert Membership.objects.get(tenant__slug="press", user=owner.user).role == Role.OWNER
    taken = client.post("/", {"name": "Again", "slug": "press"})
    assert taken.status_code == 409 and "That slug is taken." in taken.content.decode()
    bad = client.post("/", {"name": "Bad", "slug": "Bad Slug"})
    assert bad.status_code == 400 and "Slugs are lower-case letters" in bad.content.decode()
    empty = client.post("/", {"name": ""})
    assert empty.status_code == 400 and "This field is required." in empty.content.decode()
    assert Tenant.objects.count() == 2


# --- Password -----------------------------------------------------------------------------


def change(client, old=PASSWORD, new=NEW_PASSWORD, repeat=None):
    body = {"old_password": old, "new_password": new, "new_password_repeat": new if repeat is None else repeat}
    return client.post("/account/password/", body)


def test_password_change_keeps_this_session_and_ends_the_others(owner):
    client, elsewhere = signed_in(owner.user), signed_in(owner.user)
    page = client.get("/account/password/").content.decode()
    assert "Current password" in page and "Repeat new password" in page
    response = change(client)
    assert response.status_code == 302 and response["Location"] == "/account/password/"
    owner.user.refresh_from_db()
    assert owner.user.check_password(NEW_PASSWORD)
    assert client.get("/").status_code == 200
    assert elsewhere.get("/").status_code == 302
    assert ActivityEvent.objects.filter(verb="user.password_changed", user=owner.user).count() == 1
    assert Client().login(username=owner.user.username, password=NEW_PASSWORD)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"old": "wrong"}, "Your current password is wrong."),
        ({"repeat": "something else entirely"}, "The two new passwords differ."),
        ({"new": "12345678901"}, "This password is entirely numeric."),
        ({"new": "short"}, "This password is too short."),
    ],
)
def test_password_change_refusals_are_inline_and_change_nothing(owner, kwargs, message):
    client = signed_in(owner.user)
    response = change(client, **kwargs)
    assert response.status_code == 400 and message in response.content.decode()
    owner.user.refresh_from_db()
    assert owner.user.check_password(PASSWORD)
    assert not ActivityEvent.objects.filter(verb="user.password_changed").exists()


def test_guessing_the_current_password_is_throttled_like_a_login(owner):
    client = signed_in(owner.user)
    for _ in range(5):
        assert change(client, old="wrong").status_code == 400
    response = change(client)
    assert response.status_code == 429 and "Too many wrong passwords" in response.content.decode()
    owner.user.refresh_from_db()
    assert owner.user.check_password(PASSWORD)


# --- API tokens page ---------------------------------------------------------------------


def test_tokens_page_creates_a_read_token_shown_once(owner, settings):
    client = signed_in(owner.user)
    page = client.get("/account/tokens/").content.decode()
    assert "Expires in (days)" in page and f'max="{settings.API_TOKEN_TTL.days}"' in page
    response = client.post("/account/tokens/", {"name": "backup script", "scope": "read", "expires_in_days": 7})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=owner.user, name="backup script")
    assert token.scope == "read"
    assert abs(token.expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    page = response.content.decode()
    key = page.split('id="new-token"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
    assert key.startswith(token.prefix) and '<label for="new-token">Token</label>' in page
    assert 'data-copy="#new-token"' in page
    # Shown once: the list shows the prefix, never the key.
    listed = client.get("/account/tokens/").content.decode()
    assert token.prefix in listed and key not in listed and "backup script" in listed

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/auth/me/").status_code == 200
    refused = api.post("/api/v1/tenants/", {"name": "Nope"}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "read_only_token"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "x", "scope": "read", "expires_in_days": 31}, "Tokens expire within 30 days"),
        ({"name": "x", "scope": "read", "expires_in_days": 0}, "greater than or equal to 1"),
        ({"name": "x", "scope": "admin", "expires_in_days": 5}, "Select a valid choice."),
        ({"name": "", "scope": "read", "expires_in_days": 5}, "This field is required."),
    ],
)
def test_token_refusals_are_inline(owner, settings, body, message):
    settings.API_TOKEN_TTL = timedelta(days=30)
    response = signed_in(owner.user).post("/account/tokens/", body)
    assert response.status_code == 400 and message in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoking_a_token_on_the_page_ends_it_and_others_tokens_are_404(owner):
    token, key = token_create(user=owner.user, name="ci")
    stranger_token, _ = token_create(user=UserFactory(), name="theirs")
    client = signed_in(owner.user)
    assert client.post(f"/account/tokens/{stranger_token.pk}/revoke/").status_code == 404
    response = client.post(f"/account/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    stranger_token.refresh_from_db()
    assert token.revoked_at is not None and stranger_token.revoked_at is None
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/auth/me/").status_code == 401
    assert "revoked" in client.get("/account/tokens/").content.decode()
    assert client.get(f"/account/tokens/{token.pk}/revoke/").status_code == 405


# --- Token scope in the API --------------------------------------------------------------


def keyed(key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def test_a_read_token_reads_and_every_write_is_403_read_only_token(tenant, owner):
    _token, key = token_create(user=owner.user, name="reader", scope="read")
    api = keyed(key)
    assert api.get(f"/api/v1/tenants/{tenant.slug}/files/").status_code == 200
    assert api.head(f"/api/v1/tenants/{tenant.slug}/").status_code == 200
    writes = [
        api.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "x"}, format="json"),
        api.patch(f"/api/v1/tenants/{tenant.slug}/", {"trash_retention_days": 5}, format="json"),
        api.delete(f"/api/v1/auth/tokens/{_token.pk}/"),
        api.post("/api/v1/auth/tokens/", {"name": "escalate", "scope": "write"}, format="json"),
    ]
    for response in writes:
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "read_only_token"
    tenant.refresh_from_db()
    assert tenant.trash_retention_days == 30 and ApiToken.objects.filter(user=owner.user).count() == 1


def test_write_tokens_are_the_default_and_registration_tokens_write(tenant, owner):
    api = keyed(token_create(user=owner.user, name="writer")[1])
    created = api.post("/api/v1/auth/tokens/", {"name": "reader", "scope": "read"}, format="json")
    assert created.status_code == 201 and created.json()["scope"] == "read"
    plain = api.post("/api/v1/auth/tokens/", {"name": "plain"}, format="json")
    assert plain.status_code == 201 and plain.json()["scope"] == "write"
    assert {t["scope"] for t in api.get("/api/v1/auth/tokens/").json()["results"]} == {"read", "write"}
    bad = api.post("/api/v1/auth/tokens/", {"name": "x", "scope": "admin"}, format="json")
    assert bad.status_code == 400
    assert api.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "ok"}, format="json").status_code == 201
    registered = APIClient().post(
        "/api/v1/auth/register/",
        {"username": "newbie", "email": "newbie@example.com", "password": "a long enough secret 1"},
        format="json",
    )
    assert ApiToken.objects.get(user__username="newbie").scope == "write"
    assert keyed(registered.json()["token"]).post("/api/v1/tenants/", {"name": "T"}, format="json").status_code == 201


def test_openapi_documents_the_token_scope():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    token_input = next(body for name, body in components.items() if name.startswith("TokenInput"))
    assert "scope" in token_input["properties"] and "scope" not in token_input.get("required", [])
    assert "scope" in components["TokenOutput"]["properties"]
    assert "scope" in components["TokenCreatedOutput"]["properties"]
    assert components["ScopeEnum"]["enum"] == ["read", "write"]
    assert "read_only_token" in schema["components"]["securitySchemes"]["tokenAuth"]["description"]


# --- Members -----------------------------------------------------------------------------


def test_members_page_lists_members_without_emails(tenant, owner):
    editor = MembershipFactory(tenant=tenant, role=Role.EDITOR)
    page = signed_in(owner.user).get(f"/t/{tenant.slug}/members/").content.decode()
    assert editor.user.username in page and owner.user.username in page and "Add a member" in page
    assert f"Change role of {editor.user.username}" in page and f"Remove {editor.user.username}" in page
    assert "@" not in page.split("<main", 1)[1]


def test_an_owner_adds_changes_and_removes_a_member(tenant, owner):
    newcomer = UserFactory(username="newcomer")
    client = signed_in(owner.user)
    response = client.post(f"/t/{tenant.slug}/members/", {"username": "NewComer", "role": "editor"})
    assert response.status_code == 302
    assert Membership.objects.get(tenant=tenant, user=newcomer).role == Role.EDITOR
    assert client.post(f"/t/{tenant.slug}/members/{newcomer.pk}/role/", {"role": "owner"}).status_code == 302
    assert Membership.objects.get(tenant=tenant, user=newcomer).role == Role.OWNER
    assert client.post(f"/t/{tenant.slug}/members/{newcomer.pk}/remove/").status_code == 302
    assert not Membership.objects.filter(tenant=tenant, user=newcomer).exists()
    verbs = set(ActivityEvent.objects.filter(tenant=tenant).values_list("verb", flat=True))
    assert {"member.added", "member.role_changed", "member.removed"} <= verbs


@pytest.mark.parametrize(
    ("username", "status", "message"),
    [("ghost", 400, "No user has that username."), ("__member__", 409, "is already a member.")],
)
def test_adding_shows_refusals_inline(tenant, owner, username, status, message):
    existing = MembershipFactory(tenant=tenant, role=Role.VIEWER)
    username = existing.user.username if username == "__member__" else username
    response = signed_in(owner.user).post(f"/t/{tenant.slug}/members/", {"username": username, "role": "viewer"})
    assert response.status_code == status and message in response.content.decode()
    assert Membership.objects.filter(tenant=tenant).count() == 2


def test_an_admin_cannot_make_owners_and_the_last_owner_stays(tenant, owner):
    admin, client = as_role(tenant, Role.ADMIN)
    candidate = UserFactory()
    page = client.get(f"/t/{tenant.slug}/members/").content.decode()
    assert f"Change role of {owner.user.username}" not in page  # owners are the owners' business
    response = client.post(f"/t/{tenant.slug}/members/", {"username": candidate.username, "role": "owner"})
    assert response.status_code == 403 and "Only an owner can grant" in response.content.decode()
    assert not Membership.objects.filter(user=candidate).exists()
    demote = client.post(f"/t/{tenant.slug}/members/{owner.user_id}/role/", {"role": "viewer"})
    assert demote.status_code == 403 and "Only an owner can" in demote.content.decode()
    last = signed_in(owner.user).post(f"/t/{tenant.slug}/members/{owner.user_id}/role/", {"role": "admin"})
    assert last.status_code == 409 and "at least one owner" in last.content.decode()
    leave = signed_in(owner.user).post(f"/t/{tenant.slug}/members/{owner.user_id}/remove/")
    assert leave.status_code == 409 and "The last owner cannot be removed." in leave.content.decode()
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_viewers_read_members_but_their_writes_are_403_and_outsiders_get_404(tenant, owner):
    viewer, client = as_role(tenant, Role.VIEWER)
    page = client.get(f"/t/{tenant.slug}/members/")
    assert page.status_code == 200 and owner.user.username in page.content.decode()
    assert "Add a member" not in page.content.decode()
    target = UserFactory()
    assert client.post(f"/t/{tenant.slug}/members/", {"username": target.username}).status_code == 403
    assert client.post(f"/t/{tenant.slug}/members/{owner.user_id}/remove/").status_code == 403
    assert client.post(f"/t/{tenant.slug}/members/{owner.user_id}/role/", {"role": "viewer"}).status_code == 403
    assert Membership.objects.filter(tenant=tenant).count() == 2
    # Anyone may leave.
    left = client.post(f"/t/{tenant.slug}/members/{viewer.user_id}/remove/")
    assert left.status_code == 302 and left["Location"] == "/"
    assert client.get(f"/t/{tenant.slug}/members/").status_code == 404
    foreign = MembershipFactory(role=Role.EDITOR)
    owner_client = signed_in(owner.user)
    assert owner_client.get(f"/t/{foreign.tenant.slug}/members/").status_code == 404
    assert owner_client.post(f"/t/{tenant.slug}/members/{foreign.user_id}/remove/").status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()


# --- Settings ----------------------------------------------------------------------------


def settings_body(tenant, **changes):
    body = {
        "name": tenant.name,
        "max_upload_mib": round(tenant.max_upload_bytes / 1024**2),
        "trash_retention_days": tenant.trash_retention_days,
        "share_max_days": tenant.share_max_days,
        "archive_after_days": tenant.archive_after_days,
        "noncurrent_archive_days": tenant.noncurrent_archive_days,
        "search_config": tenant.search_config,
        "public_files": tenant.public_files,
    }
    # A browser sends a checkbox only when it is ticked.
    body.update({box: "on" for box in ("require_mfa", "ocr_enabled") if getattr(tenant, box)})
    return {**body, **changes}


def test_unticking_text_recognition_turns_it_off(tenant, owner):
    _admin, client = as_role(tenant, Role.ADMIN)
    page = client.get(f"/t/{tenant.slug}/settings/").content.decode()
    assert "Read text in pictures and scans" in page
    body = settings_body(tenant)
    del body["ocr_enabled"]
    assert client.post(f"/t/{tenant.slug}/settings/", body).status_code == 302
    tenant.refresh_from_db()
    assert tenant.ocr_enabled is False
    event = ActivityEvent.objects.get(verb="tenant.updated", tenant=tenant)
    assert event.data["fields"] == ["ocr_enabled"]


def test_an_admin_changes_settings_through_the_service(tenant, owner, django_capture_on_commit_callbacks):
    Tenant.objects.filter(pk=tenant.pk).update(max_upload_bytes=10_000_000)
    tenant.refresh_from_db()
    admin, client = as_role(tenant, Role.ADMIN)
    page = client.get(f"/t/{tenant.slug}/settings/").content.decode()
    for label in ("Storage used", "Max upload size (MiB)", "Search language", "Who may make files public"):
        assert label in page
    body = settings_body(tenant, trash_retention_days=7, public_files="admins", search_config="german")
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"/t/{tenant.slug}/settings/", body)
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.trash_retention_days, tenant.public_files, tenant.search_config) == (7, "admins", "german")
    assert tenant.max_upload_bytes == 10_000_000  # shown as 10 MiB, untouched, not rewritten
    assert len(callbacks) == 1  # the reindex in the new language
    event = ActivityEvent.objects.get(verb="tenant.updated", tenant=tenant)
    assert set(event.data["fields"]) == {"trash_retention_days", "public_files", "search_config"}
    assert client.post(f"/t/{tenant.slug}/settings/", settings_body(tenant, max_upload_mib=25)).status_code == 302
    tenant.refresh_from_db()
    assert tenant.max_upload_bytes == 25 * 1024**2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"trash_retention_days": 0}, "trash_retention_days must be between 1 and 3650."),
        ({"share_max_days": 5000}, "share_max_days must be between 1 and 3650."),
        ({"max_upload_mib": 10**7}, "max_upload_bytes must be between 1 and"),
        ({"search_config": "klingon"}, "Select a valid choice."),
    ],
)
def test_settings_out_of_bounds_are_inline_at_their_field(tenant, owner, changes, message):
    response = signed_in(owner.user).post(f"/t/{tenant.slug}/settings/", settings_body(tenant, **changes))
    assert response.status_code == 400
    page = response.content.decode()
    field = next(iter(changes))
    assert message in page
    assert page.index(f'id="id_{field}"') < page.index(message)  # at its field, below the control
    before = Tenant.objects.get(pk=tenant.pk)
    assert (before.trash_retention_days, before.share_max_days) == (30, 90)


def test_members_read_settings_viewers_cannot_change_them_outsiders_404(tenant, owner):
    TenantUsage.objects.create(tenant=tenant, bytes=512 * 1024**2)
    Tenant.objects.filter(pk=tenant.pk).update(quota_bytes=1024**3)
    _viewer, client = as_role(tenant, Role.VIEWER)
    page = client.get(f"/t/{tenant.slug}/settings/")
    text = page.content.decode()
    assert page.status_code == 200 and "512.0\xa0MB" in text and "1.0\xa0GB" in text and "(50%)" in text
    assert "Save settings" not in text and "30 days" in text
    refused = client.post(f"/t/{tenant.slug}/settings/", settings_body(tenant, trash_retention_days=3))
    assert refused.status_code == 403
    assert Tenant.objects.get(pk=tenant.pk).trash_retention_days == 30
    outsider = signed_in(UserFactory())
    assert outsider.get(f"/t/{tenant.slug}/settings/").status_code == 404
    assert outsider.post(f"/t/{tenant.slug}/settings/", settings_body(tenant)).status_code == 404


def test_the_team_switcher_works_without_javascript(tenant, owner):
    client = signed_in(owner.user)
    assert client.get("/", {"team": f"/t/{tenant.slug}/"})["Location"] == f"/t/{tenant.slug}/"
    for elsewhere in ("https://evil.example/t/x/", "//evil.example/t/x/", "/admin/", f"/t/{tenant.slug}/members/"):
        assert client.get("/", {"team": elsewhere}).status_code == 200
