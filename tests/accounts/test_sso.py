"""Single sign-on: the whole OpenID Connect login against a real provider process
(tests/oidc_provider, django-oauth-toolkit), group → role mapping re-applied at every sign-in,
linking by verified address only, GitHub's authorize URL, and an unreachable provider."""

from __future__ import annotations

import importlib
import logging
import re
from html import unescape
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import ActivityEvent, Membership, Role, User
from accounts.services import sso
from mediaportal import auth_settings
from tests.e2e.web import free_port
from tests.factories import PASSWORD as USER_PASSWORD
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.oidc_provider.process import oidc_provider

CALLBACK = "http://testserver/accounts/oidc/oidc/login/callback/"
LOGIN_URL = "/accounts/oidc/oidc/login/"
PASSWORD = "provider password 1"
MAPPING = "media-editors=newsroom:editor,media-admins=newsroom:admin,archive=archive:viewer,bosses=newsroom:owner"


@pytest.fixture(scope="session")
def provider(tmp_path_factory):
    with oidc_provider(tmp_path_factory.mktemp("idp"), redirect_uris=[CALLBACK]) as running:
        yield running


def sso_settings(env: dict[str, str]) -> dict:
    """The single sign-on settings mediaportal.auth_settings makes from the environment `env`."""
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name in ("OIDC_SERVER_URL", "GITHUB_CLIENT_ID", "SSO_EXTRA_ORIGINS"):
                patch.delenv(name, raising=False)
            for name, value in env.items():
                patch.setenv(name, value)
            module = importlib.reload(auth_settings)
            names = ("SOCIALACCOUNT_PROVIDERS", "SSO_ORIGINS", "OIDC_GROUP_ROLES", "OIDC_GROUPS_CLAIM")
            return {name: getattr(module, name) for name in names}
    finally:
        importlib.reload(auth_settings)


@pytest.fixture
def oidc(settings, provider):
    """Our site configured for the provider through the environment variables an operator sets."""
    configured = sso_settings(
        {
            "OIDC_SERVER_URL": provider.url,
            "OIDC_CLIENT_ID": provider.client_id,
            "OIDC_CLIENT_SECRET": provider.client_secret,
            "OIDC_NAME": "Company SSO",
            "OIDC_SCOPES": "openid profile email groups",
            "OIDC_GROUP_ROLES": MAPPING,
        },
    )
    for name, value in configured.items():
        setattr(settings, name, value)
    return provider


@pytest.fixture
def teams(db):
    return {slug: TenantFactory(slug=slug, name=slug.title()) for slug in ("newsroom", "archive", "design")}


def sign_in(provider, username: str, *, client: Client | None = None, process: str = "login"):
    """The whole login: our button, the provider's authorize and login pages (consent skipped),
    our callback. Returns our client and the callback's response."""
    client = client or Client()
    if process == "login":
        page = client.get("/login/")
        assert 'data-provider="openid_connect"' in page.text and "Company SSO" in page.text
    start = client.post(LOGIN_URL, {"process": process})
    assert start.status_code == 302, start.text
    authorize = start["Location"]
    assert authorize.startswith(f"{provider.url}/authorize/?")
    query = parse_qs(urlsplit(authorize).query)
    assert query["client_id"] == [provider.client_id] and query["redirect_uri"] == [CALLBACK]
    assert query["code_challenge_method"] == ["S256"] and "groups" in query["scope"][0].split()

    browser = requests.Session()
    answer = browser.get(authorize, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    login_page = urljoin(authorize, answer.headers["Location"])
    form = browser.get(login_page, timeout=10)
    assert "Sign in to the provider" in form.text
    next_url = unescape(re.search(r'name="next" value="([^"]*)"', form.text).group(1))
    answer = browser.post(
        login_page,
        data={
            "username": username,
            "password": PASSWORD,
            "next": next_url,
            "csrfmiddlewaretoken": browser.cookies["idp_csrftoken"],
        },
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    answer = browser.get(urljoin(login_page, answer.headers["Location"]), allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text  # skip_authorization: straight back to us
    callback = answer.headers["Location"]
    assert callback.startswith(CALLBACK + "?")
    return client, client.get(callback.removeprefix("http://testserver"))


def signed_in_user(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def roles(user: User) -> dict[str, tuple[str, bool]]:
    return {
        m.tenant.slug: (m.role, m.sso_managed) for m in Membership.objects.filter(user=user).select_related("tenant")
    }


def verbs(user: User) -> list[tuple[str, str, dict]]:
    events = ActivityEvent.objects.filter(target_id=str(user.pk), verb__startswith="member.").order_by("pk")
    return [(event.verb, event.tenant.slug, event.data) for event in events]


# --- Configuration -----------------------------------------------------------------------


def test_providers_come_from_the_environment_and_join_the_csp():
    assert sso_settings({})["SOCIALACCOUNT_PROVIDERS"] == {}
    configured = sso_settings(
        {
            "OIDC_SERVER_URL": "https://sso.example.org/realms/media/",
            "OIDC_CLIENT_ID": "portal",
            "GITHUB_CLIENT_ID": "gh-id",
            "GITHUB_CLIENT_SECRET": "gh-secret",
            "SSO_EXTRA_ORIGINS": "https://adfs.example.org",
        },
    )
    app = configured["SOCIALACCOUNT_PROVIDERS"]["openid_connect"]["APPS"][0]
    assert app["settings"]["server_url"] == "https://sso.example.org/realms/media"
    assert app["client_id"] == "portal" and app["provider_id"] == "oidc"
    assert configured["SOCIALACCOUNT_PROVIDERS"]["github"]["APPS"][0]["client_id"] == "gh-id"
    assert configured["SSO_ORIGINS"] == ["https://sso.example.org", "https://github.com", "https://adfs.example.org"]


def test_login_page_shows_no_sso_when_none_is_configured(client, settings, db):
    settings.SOCIALACCOUNT_PROVIDERS = {}
    assert "Or sign in with" not in client.get("/login/").text


def test_group_roles_are_parsed_and_checked():
    grants = sso.group_roles_parse(" Media Editors = newsroom:Editor , ops=archive:viewer,")
    assert grants == (sso.Grant("Media Editors", "newsroom", "editor"), sso.Grant("ops", "archive", "viewer"))
    # Keycloak names groups by path; a name may hold "=" too: the last one separates.
    assert sso.group_roles_parse("/media/a=b=archive:admin") == (sso.Grant("/media/a=b", "archive", "admin"),)
    with pytest.raises(ImproperlyConfigured, match="names the role 'boss'"):
        sso.group_roles_parse("ops=archive:boss")
    with pytest.raises(ImproperlyConfigured, match="does not read"):
        sso.group_roles_parse("ops=archive")


# --- The whole login against the provider ----------------------------------------------


def test_first_sign_in_makes_the_account_and_memberships_from_groups(oidc, teams):
    oidc.user_set("carol", password=PASSWORD, email="Carol@Example.org", groups=["media-editors", "archive", "other"])
    client, done = sign_in(oidc, "carol")
    assert done.status_code == 302 and done["Location"] == "/"
    user = signed_in_user(client)
    assert user is not None and user.username == "carol" and not user.has_usable_password()
    assert list(EmailAddress.objects.filter(user=user).values_list("email", "verified", "primary")) == [
        ("carol@example.org", True, True)
    ]
    account = SocialAccount.objects.get(user=user)
    assert account.provider == "oidc" and account.extra_data["userinfo"]["groups"] == [
        "archive",
        "media-editors",
        "other",
    ]
    # The groups gave teams, so no personal one.
    assert roles(user) == {"newsroom": ("editor", True), "archive": ("viewer", True)}
    assert sorted(verbs(user)) == [
        ("member.added", "archive", {"role": "viewer", "via": "sso"}),
        ("member.added", "newsroom", {"role": "editor", "via": "sso"}),
    ]
    assert ActivityEvent.objects.filter(verb="user.registered", target_id=str(user.pk), data={"via": "sso"}).exists()
    assert client.get("/").status_code == 200


def test_groups_are_re_applied_at_every_sign_in_and_hand_made_memberships_stay(oidc, teams):
    oidc.user_set("dave", password=PASSWORD, email="dave@example.org", groups=["media-editors", "archive"])
    client, _ = sign_in(oidc, "dave")
    user = signed_in_user(client)
    MembershipFactory(tenant=teams["design"], user=user, role=Role.ADMIN)  # given by hand
    oidc.user_set("dave", password=PASSWORD, email="dave@example.org", groups=["media-admins", "media-editors"])
    client, _ = sign_in(oidc, "dave")
    assert signed_in_user(client) == user
    assert roles(user) == {"newsroom": ("admin", True), "design": ("admin", False)}
    assert verbs(user)[-2:] == [
        ("member.role_changed", "newsroom", {"from": "editor", "to": "admin", "via": "sso"}),
        ("member.removed", "archive", {"via": "sso"}),
    ]
    oidc.user_set("dave", password=PASSWORD, email="dave@example.org", groups=[])
    client, _ = sign_in(oidc, "dave")
    assert signed_in_user(client) == user
    assert roles(user) == {"design": ("admin", False)}


def test_a_tenants_last_owner_is_kept_when_the_groups_say_otherwise(oidc, teams, caplog):
    oidc.user_set("erin", password=PASSWORD, email="erin@example.org", groups=["bosses"])
    client, _ = sign_in(oidc, "erin")
    user = signed_in_user(client)
    assert roles(user) == {"newsroom": ("owner", True)}
    oidc.user_set("erin", password=PASSWORD, email="erin@example.org", groups=["media-editors"])
    with caplog.at_level(logging.WARNING, logger="accounts.services.sso"):
        client, _ = sign_in(oidc, "erin")
    assert signed_in_user(client) == user
    assert roles(user) == {"newsroom": ("owner", True)}
    assert "kept erin as the last owner of newsroom" in caplog.text
    assert verbs(user)[-1] == (
        "member.sso_kept",
        "newsroom",
        {"via": "sso", "reason": "last_owner", "role": "owner"},
    )


def test_a_new_user_without_mapped_groups_gets_a_personal_team(oidc, teams):
    oidc.user_set("frank", password=PASSWORD, email="frank@example.org", email_verified=False, groups=["nothing"])
    client, done = sign_in(oidc, "frank")
    user = signed_in_user(client)
    assert user.username == "frank"
    assert roles(user) == {"franks-team": ("owner", False)}
    assert list(EmailAddress.objects.filter(user=user).values_list("verified", flat=True)) == [False]


def test_a_provider_name_that_is_no_valid_username_gets_one_derived(oidc, teams):
    oidc.user_set("g", password=PASSWORD, email="grace.hopper@example.org", groups=[])
    client, _ = sign_in(oidc, "g")
    user = signed_in_user(client)
    assert re.fullmatch(r"[\w.@+-]{3,150}", user.username) and user.username != "g"


def test_an_existing_account_with_an_unverified_address_is_not_joined(oidc, teams):
    alice = UserFactory(username="alice", email="alice@example.org")
    EmailAddress.objects.create(user=alice, email="alice@example.org", primary=True, verified=False)
    oidc.user_set("alice-idp", password=PASSWORD, email="ALICE@example.org", email_verified=True, groups=["archive"])
    client, refused = sign_in(oidc, "alice-idp")
    assert refused.status_code == 409
    assert "Sign in with your password first" in refused.text
    assert "Connected accounts" in refused.text and "Nothing was changed" in refused.text
    assert signed_in_user(client) is None
    alice.refresh_from_db()
    assert alice.has_usable_password() and alice.check_password(USER_PASSWORD)
    assert not SocialAccount.objects.exists() and User.objects.count() == 1 and roles(alice) == {}


def test_an_address_the_provider_did_not_verify_joins_nothing(oidc, teams):
    bob = UserFactory(username="bob", email="bob@example.org")
    EmailAddress.objects.create(user=bob, email="bob@example.org", primary=True, verified=True)
    oidc.user_set("bob-idp", password=PASSWORD, email="bob@example.org", email_verified=False)
    client, refused = sign_in(oidc, "bob-idp")
    assert refused.status_code == 409 and signed_in_user(client) is None
    assert not SocialAccount.objects.exists()


def test_verified_on_both_sides_joins_the_existing_account(oidc, teams):
    hana = UserFactory(username="hana", email="hana@example.org")
    EmailAddress.objects.create(user=hana, email="hana@example.org", primary=True, verified=True)
    oidc.user_set("hana-idp", password=PASSWORD, email="Hana@example.org", email_verified=True, groups=["archive"])
    client, done = sign_in(oidc, "hana-idp")
    assert done.status_code == 302
    assert signed_in_user(client) == hana
    hana.refresh_from_db()
    assert hana.has_usable_password()  # allauth would have wiped it; a verified address keeps it
    assert SocialAccount.objects.get().user == hana
    assert roles(hana) == {"archive": ("viewer", True)}


def test_a_signed_in_user_connects_the_provider_from_connected_accounts(oidc, teams):
    ivan = UserFactory(username="ivan", email="ivan@example.org")
    client = Client()
    client.force_login(ivan)
    oidc.user_set("ivan-idp", password=PASSWORD, email="someone-else@example.org")
    client, done = sign_in(oidc, "ivan-idp", client=client, process="connect")
    assert done.status_code == 302 and done["Location"] == "/accounts/3rdparty/"
    assert SocialAccount.objects.get().user == ivan


# --- GitHub and failures -----------------------------------------------------------------


def test_github_configured_shows_its_button_and_builds_the_authorize_url(client, settings, db):
    configured = sso_settings({"GITHUB_CLIENT_ID": "gh-client", "GITHUB_CLIENT_SECRET": "gh-secret"})
    settings.SOCIALACCOUNT_PROVIDERS = configured["SOCIALACCOUNT_PROVIDERS"]
    page = client.get("/login/")
    assert 'data-provider="github"' in page.text and ">GitHub</button>" in page.text
    assert 'action="/accounts/github/login/?process=login"' in page.text
    start = client.post("/accounts/github/login/?process=login")
    assert start.status_code == 302
    url = urlsplit(start["Location"])
    assert (url.scheme, url.netloc, url.path) == ("https", "github.com", "/login/oauth/authorize")
    query = parse_qs(url.query)
    assert query["client_id"] == ["gh-client"]
    assert query["redirect_uri"] == ["http://testserver/accounts/github/login/callback/"]
    assert sorted(query["scope"][0].split()) == ["read:user", "user:email"]
    assert query["response_type"] == ["code"]
    assert len(query["state"][0]) >= 12
    # The state is ours: the callback with another one is refused on our error page.
    refused = client.get("/accounts/github/login/callback/", {"code": "x", "state": "forged"})
    assert refused.status_code == 401 and "Sign-in failed" in refused.text


def test_an_unreachable_provider_gets_our_error_page_and_a_log_line(client, settings, caplog, db):
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            "APPS": [
                {
                    "provider_id": "oidc",
                    "name": "Company SSO",
                    "client_id": "portal",
                    "secret": "s",
                    "settings": {"server_url": f"http://127.0.0.1:{free_port()}/o"},
                }
            ]
        }
    }
    with caplog.at_level(logging.WARNING, logger="accounts.adapters"):
        answer = client.post(LOGIN_URL)
    assert answer.status_code == 401
    assert "We could not reach Company SSO" in answer.text and "<nav" in answer.text  # our frame
    assert "Single sign-on with openid_connect failed" in caplog.text and "ConnectionError" in caplog.text


def test_sso_check_reports_a_working_provider_and_what_is_missing(oidc, teams, settings, capsys):
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"form-action": ["'self'", *settings.SSO_ORIGINS]}}
    call_command("sso_check")
    out = capsys.readouterr().out
    assert "Company SSO: ok" in out and f"issuer {oidc.url}" in out and "map to 4 roles" in out
    settings.OIDC_GROUP_ROLES = MAPPING + ",ops=gone:viewer"
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"form-action": ["'self'"]}}
    with pytest.raises(CommandError):
        call_command("sso_check")
    out = capsys.readouterr().out
    assert "names the team 'gone', which does not exist" in out
    assert "which the CSP's form-action does not allow" in out


def test_sso_check_says_so_when_the_provider_does_not_answer(settings, db, capsys):
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            "APPS": [{"name": "Down", "client_id": "c", "settings": {"server_url": f"http://127.0.0.1:{free_port()}"}}]
        }
    }
    with pytest.raises(CommandError):
        call_command("sso_check")
    assert "does not answer" in capsys.readouterr().out


# --- The mapping itself, without a provider ----------------------------------------------


def test_sync_leaves_hand_made_memberships_alone_even_in_mapped_teams(settings, teams, caplog):
    settings.OIDC_GROUP_ROLES = MAPPING + ",ops=missing-team:admin"
    user = UserFactory()
    MembershipFactory(tenant=teams["newsroom"], user=user, role=Role.VIEWER)
    with caplog.at_level(logging.WARNING, logger="accounts.services.sso"):
        sso.memberships_sync(user=user, groups=["media-admins", "ops", "archive"])
    assert roles(user) == {"newsroom": ("viewer", False), "archive": ("viewer", True)}
    assert "names the team 'missing-team', which does not exist" in caplog.text
    # The highest role of several groups wins; no mapping configured changes nothing.
    sso.memberships_sync(user=user, groups=["media-admins"])
    assert roles(user) == {"newsroom": ("viewer", False)}
    settings.OIDC_GROUP_ROLES = ""
    Membership.objects.create(tenant=teams["design"], user=user, role=Role.EDITOR, sso_managed=True)
    sso.memberships_sync(user=user, groups=[])
    assert roles(user)["design"] == ("editor", True)


def test_the_highest_role_of_the_users_groups_wins(settings, teams):
    settings.OIDC_GROUP_ROLES = MAPPING
    user = UserFactory()
    sso.memberships_sync(user=user, groups=["media-editors", "media-admins"])
    assert roles(user) == {"newsroom": ("admin", True)}
    assert sso.groups_from_claims({"groups": "media-editors"}) == ["media-editors"]
    settings.OIDC_GROUPS_CLAIM = "roles"
    assert sso.groups_from_claims({"groups": ["x"], "roles": ["y"]}) == ["y"]
