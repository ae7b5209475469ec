"""Invitations: invite by e-mail → mail with a single-use link → accepted by the signed-in
owner of that address, verified → member with the role. Over the API and in the portal."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import ActivityEvent, Invitation, Membership, Role
from accounts.services import invitations
from mediaportal.exceptions import ApplicationError
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

INVITED = "Nadia.Invited@Example.com"
LINK = re.compile(r"(https?://[^\s\"<]+)/invitations/([\w-]+)/")


def base(tenant) -> str:
    return f"/api/v1/tenants/{tenant.slug}/invitations/"


def accept_url(token: str) -> str:
    return f"/api/v1/auth/invitations/{token}/accept/"


@pytest.fixture
def owner_m(tenant):
    return MembershipFactory(tenant=tenant, role=Role.OWNER, user=UserFactory(username="olga"))


@pytest.fixture
def boss(owner_m):
    return client_for(owner_m.user)


@pytest.fixture
def invite(tenant, boss, mailoutbox, django_capture_on_commit_callbacks):
    """invite(email, role) as the owner (or `client`): the answer, and the token from the mail."""

    def make(email: str = INVITED, role: str = "editor", client=None):
        with django_capture_on_commit_callbacks(execute=True):
            response = (client or boss).post(base(tenant), {"email": email, "role": role}, format="json")
        token = LINK.search(mailoutbox[-1].body)[2] if response.status_code in (200, 201) else None
        return response, token

    return make


def verified_user(email: str = INVITED.lower(), *, verified: bool = True, username: str = "nadia"):
    user = UserFactory(username=username, email=email)
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=verified)
    return user


def signed_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


# --- Invite → mail → accept (API) ---------------------------------------------------------


def test_invite_mails_a_link_and_the_verified_invitee_joins_with_the_role(
    tenant, invite, mailoutbox, settings, owner_m
):
    response, token = invite(role="editor")
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == INVITED and body["role"] == "editor" and body["state"] == "open"
    assert body["invited_by"] == {"id": str(owner_m.user.id), "username": "olga"}
    assert token not in response.content.decode()
    mail = mailoutbox[-1]
    assert mail.to == [INVITED] and "olga invited you to" in mail.subject and tenant.name in mail.subject
    link = f"{settings.SITE_URL}/invitations/{token}/"
    assert link in mail.body
    html, mimetype = mail.alternatives[0]
    assert mimetype == "text/html" and f'href="{link}"' in html
    stored = Invitation.objects.get()
    assert stored.token_hash != token and len(stored.token_hash) == 64 and token not in str(vars(stored))
    expected = timezone.now() + timedelta(days=7)
    assert abs((stored.expires_at - expected).total_seconds()) < 60

    nadia = verified_user()
    joined = client_for(nadia).post(accept_url(token))
    assert joined.status_code == 200, joined.content
    assert joined.json() == {"tenant": {"slug": tenant.slug, "name": tenant.name}, "role": "editor"}
    assert Membership.objects.get(tenant=tenant, user=nadia).role == Role.EDITOR
    stored.refresh_from_db()
    assert stored.state == "accepted" and stored.accepted_by == nadia
    event = ActivityEvent.objects.get(tenant=tenant, verb="member.joined")
    assert event.user == nadia and event.data == {"role": "editor", "invitation": str(stored.pk)}
    assert ActivityEvent.objects.filter(tenant=tenant, verb="invitation.created").count() == 1
    assert client_for(nadia).get(f"/api/v1/tenants/{tenant.slug}/").json()["role"] == "editor"


def test_any_verified_address_of_the_account_counts_whatever_its_case(tenant, invite):
    _, token = invite(email="team@EXAMPLE.org", role="viewer")
    user = UserFactory(username="theo", email="theo@example.com")
    EmailAddress.objects.create(user=user, email="theo@example.com", primary=True, verified=True)
    EmailAddress.objects.create(user=user, email="TEAM@example.ORG", primary=False, verified=True)
    assert client_for(user).post(accept_url(token)).status_code == 200
    assert Membership.objects.get(tenant=tenant, user=user).role == Role.VIEWER


def test_the_invitation_preview_says_whether_the_caller_can_accept(tenant, invite, owner_m):
    _, token = invite(role="viewer")
    nadia, other = verified_user(), verified_user("zed@example.com", username="zed")
    preview = client_for(nadia).get(f"/api/v1/auth/invitations/{token}/")
    assert preview.status_code == 200
    assert preview.json() | {"expires_at": None} == {
        "tenant": {"slug": tenant.slug, "name": tenant.name},
        "role": "viewer",
        "email": "N***@Example.com",
        "invited_by": "olga",
        "expires_at": None,
        "can_accept": True,
        "refusal": None,
    }
    theirs = client_for(other).get(f"/api/v1/auth/invitations/{token}/").json()
    assert theirs["can_accept"] is False and theirs["refusal"]["code"] == "invitation_wrong_account"
    assert token not in preview.content.decode()
    assert client_for(nadia).get("/api/v1/auth/invitations/not-a-real-token-at-all-xyz/").status_code == 404
    anonymous = Client().get(f"/api/v1/auth/invitations/{token}/")
    assert anonymous.status_code == 401
    assert Client().post(accept_url(token)).status_code == 401


# --- Refusals ------------------------------------------------------------------------------


def test_a_wrong_account_cannot_accept_and_nothing_changes(tenant, invite):
    _, token = invite()
    intruder = verified_user("mallory@example.com", username="mallory")
    refused = client_for(intruder).post(accept_url(token))
    assert refused.status_code == 403
    assert refused.json()["code"] == "invitation_wrong_account"
    assert "N***@Example.com" in refused.json()["detail"] and INVITED not in refused.json()["detail"]
    assert not Membership.objects.filter(tenant=tenant, user=intruder).exists()
    assert Invitation.objects.get().state == "open"
    # The right person still can.
    assert client_for(verified_user()).post(accept_url(token)).status_code == 200


@pytest.mark.parametrize("with_address_row", [True, False])
def test_an_unverified_matching_address_is_refused_with_a_hint(tenant, invite, with_address_row):
    _, token = invite()
    if with_address_row:
        user = verified_user(verified=False)
    else:  # an account from before allauth's addresses: its e-mail, never verified
        user = UserFactory(username="nadia", email=INVITED.lower())
    refused = client_for(user).post(accept_url(token))
    assert refused.status_code == 403 and refused.json()["code"] == "email_unverified"
    assert "verif" in refused.json()["detail"]
    assert not Membership.objects.filter(tenant=tenant, user=user).exists()
    EmailAddress.objects.update_or_create(user=user, email=INVITED.lower(), defaults={"verified": True})
    assert client_for(user).post(accept_url(token)).status_code == 200


def test_an_expired_invitation_is_refused_and_listed_as_expired(tenant, invite, boss):
    _, token = invite()
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    nadia = verified_user()
    refused = client_for(nadia).post(accept_url(token))
    assert refused.status_code == 410 and refused.json()["code"] == "invitation_expired"
    assert client_for(nadia).get(f"/api/v1/auth/invitations/{token}/").status_code == 410
    assert boss.get(base(tenant)).json()["results"][0]["state"] == "expired"
    assert not Membership.objects.filter(tenant=tenant, user=nadia).exists()


def test_the_link_works_once(tenant, invite):
    _, token = invite()
    nadia = verified_user()
    assert client_for(nadia).post(accept_url(token)).status_code == 200
    again = client_for(nadia).post(accept_url(token))
    assert again.status_code == 410 and again.json()["code"] == "invitation_used"
    other = verified_user("other@example.com", username="other")
    assert client_for(other).post(accept_url(token)).json()["code"] == "invitation_used"
    assert client_for(nadia).post(accept_url("x" * 43)).status_code == 404


def test_an_existing_member_cannot_be_invited_or_accept_twice(tenant, invite, owner_m):
    member = MembershipFactory(tenant=tenant, role=Role.VIEWER, user=UserFactory(email="Vera@example.com"))
    response, _ = invite(email="vera@EXAMPLE.com")
    assert response.status_code == 409 and response.json()["code"] == "already_member"
    # Someone invited under an address they verify later, after joining another way.
    _, token = invite(email="late@example.com", role="admin")
    EmailAddress.objects.create(user=member.user, email="late@example.com", verified=True)
    refused = client_for(member.user).post(accept_url(token))
    assert refused.status_code == 409 and refused.json()["code"] == "already_member"
    # Nothing changes: the role stays, the invitation stays pending for a manager to revoke.
    assert Membership.objects.get(pk=member.pk).role == Role.VIEWER
    assert Invitation.objects.get(email="late@example.com").state == "open"


def test_revoking_kills_the_link_and_keeps_it_listed(tenant, invite, boss):
    _, token = invite()
    invitation = Invitation.objects.get()
    assert boss.delete(base(tenant) + f"{invitation.pk}/").status_code == 204
    assert boss.delete(base(tenant) + f"{invitation.pk}/").status_code == 204  # twice: still revoked
    refused = client_for(verified_user()).post(accept_url(token))
    assert refused.status_code == 410 and refused.json()["code"] == "invitation_revoked"
    assert boss.get(base(tenant) + f"{invitation.pk}/").json()["state"] == "revoked"
    assert ActivityEvent.objects.filter(tenant=tenant, verb="invitation.revoked").count() == 1
    resend = boss.post(base(tenant) + f"{invitation.pk}/resend/")
    assert resend.status_code == 409 and resend.json()["code"] == "invitation_closed"


def test_an_accepted_invitation_cannot_be_revoked(tenant, invite, boss):
    _, token = invite()
    client_for(verified_user()).post(accept_url(token))
    refused = boss.delete(base(tenant) + f"{Invitation.objects.get().pk}/")
    assert refused.status_code == 409 and refused.json()["code"] == "invitation_closed"


# --- Resending -----------------------------------------------------------------------------


def test_resend_mails_a_new_link_and_the_old_one_dies(
    tenant, invite, boss, mailoutbox, django_capture_on_commit_callbacks
):
    _, old = invite()
    invitation = Invitation.objects.get()
    Invitation.objects.update(
        expires_at=timezone.now() + timedelta(hours=1), sent_at=timezone.now() - timedelta(days=6)
    )
    with django_capture_on_commit_callbacks(execute=True):
        resent = boss.post(base(tenant) + f"{invitation.pk}/resend/")
    assert resent.status_code == 200 and resent.json()["id"] == str(invitation.pk)
    assert len(mailoutbox) == 2
    new = LINK.search(mailoutbox[-1].body)[2]
    assert new != old
    invitation.refresh_from_db()
    assert invitation.expires_at > timezone.now() + timedelta(days=6, hours=23)
    assert invitation.sent_at > timezone.now() - timedelta(minutes=1)
    nadia = verified_user()
    assert client_for(nadia).post(accept_url(old)).status_code == 404
    assert client_for(nadia).post(accept_url(new)).status_code == 200
    assert ActivityEvent.objects.filter(tenant=tenant, verb="invitation.resent").count() == 1


def test_an_expired_invitation_can_be_resent(tenant, invite, boss, django_capture_on_commit_callbacks, mailoutbox):
    invite()
    Invitation.objects.update(expires_at=timezone.now() - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert boss.post(base(tenant) + f"{Invitation.objects.get().pk}/resend/").status_code == 200
    assert Invitation.objects.get().state == "open"
    token = LINK.search(mailoutbox[-1].body)[2]
    assert client_for(verified_user()).post(accept_url(token)).status_code == 200


def test_inviting_a_pending_address_again_resends_instead_of_a_duplicate(tenant, invite, settings):
    settings.INVITATION_TTL_DAYS = 3
    first, old = invite(role="viewer")
    second, new = invite(email=INVITED.upper(), role="admin")
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["id"] == first.json()["id"] and second.json()["role"] == "admin"
    assert Invitation.objects.count() == 1 and old != new
    expires = Invitation.objects.get().expires_at
    assert timedelta(days=2, hours=23) < expires - timezone.now() <= timedelta(days=3)
    nadia = verified_user()
    assert client_for(nadia).post(accept_url(old)).status_code == 404
    assert client_for(nadia).post(accept_url(new)).json()["role"] == "admin"
    # Once accepted (or revoked) the address may be invited afresh, e.g. to another team later.
    Membership.objects.filter(user=nadia, tenant=tenant).delete()
    again, _ = invite()
    assert again.status_code == 201 and Invitation.objects.count() == 2


# --- Who may manage invitations ------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_members_get_403_on_every_invitation_route(tenant, invite, role):
    invite()
    invitation = Invitation.objects.get()
    client = client_for(MembershipFactory(tenant=tenant, role=role).user)
    for method, url in [
        ("get", base(tenant)),
        ("post", base(tenant)),
        ("get", base(tenant) + f"{invitation.pk}/"),
        ("delete", base(tenant) + f"{invitation.pk}/"),
        ("post", base(tenant) + f"{invitation.pk}/resend/"),
    ]:
        response = getattr(client, method)(url, {"email": "x@example.com", "role": "viewer"}, format="json")
        assert response.status_code == 403, (method, url)
        assert response.json()["code"] == "permission_denied"
    assert Invitation.objects.get().state == "open" and Invitation.objects.count() == 1


def test_strangers_and_other_tenants_get_404(tenant, invite, outsider):
    invite()
    invitation = Invitation.objects.get()
    for url in (base(tenant), base(tenant) + f"{invitation.pk}/", base(tenant) + f"{invitation.pk}/resend/"):
        assert outsider.get(url).status_code == 404
        assert outsider.post(url, {"email": "x@example.com"}, format="json").status_code == 404
    # Their own tenant does not hold it either.
    own = outsider.get("/api/v1/tenants/").json()["results"][0]["slug"]
    foreign = f"/api/v1/tenants/{own}/invitations/{invitation.pk}/"
    assert outsider.get(foreign).status_code == 404 and outsider.delete(foreign).status_code == 404
    assert outsider.get(f"/api/v1/tenants/{own}/invitations/").json()["results"] == []


def test_admins_invite_but_only_owners_invite_owners(tenant, invite, boss):
    admin = client_for(MembershipFactory(tenant=tenant, role=Role.ADMIN).user)
    refused, _ = invite(email="boss@example.com", role="owner", client=admin)
    assert refused.status_code == 403 and not Invitation.objects.exists()
    made, _ = invite(email="helper@example.com", role="editor", client=admin)
    assert made.status_code == 201
    invite(email="partner@example.com", role="owner")
    owners = Invitation.objects.get(role="owner")
    assert admin.delete(base(tenant) + f"{owners.pk}/").status_code == 403
    assert admin.post(base(tenant) + f"{owners.pk}/resend/").status_code == 403
    # An admin re-inviting an owner's pending address cannot turn it into their own role either.
    again, _ = invite(email="partner@example.com", role="editor", client=admin)
    assert again.status_code == 403 and Invitation.objects.get(pk=owners.pk).role == "owner"


@pytest.mark.parametrize(
    "body",
    [{"email": "not-an-address"}, {"email": "a@example.com", "role": "king"}, {"email": 5}, {"role": "viewer"}],
)
def test_invalid_input_is_400(tenant, boss, body):
    response = boss.post(base(tenant), body, format="json")
    assert response.status_code == 400 and not Invitation.objects.exists()


def test_the_list_shows_every_state_and_never_a_token(tenant, invite, boss):
    _, open_token = invite(email="open@example.com")
    _, used = invite(email="used@example.com")
    invite(email="gone@example.com")
    client_for(verified_user("used@example.com", username="used")).post(accept_url(used))
    boss.delete(base(tenant) + f"{Invitation.objects.get(email='gone@example.com').pk}/")
    listing = boss.get(base(tenant))
    states = {row["email"]: row["state"] for row in listing.json()["results"]}
    assert states == {"open@example.com": "open", "used@example.com": "accepted", "gone@example.com": "revoked"}
    assert open_token not in listing.content.decode() and "token" not in listing.content.decode()


@pytest.mark.django_db(transaction=True)
def test_concurrent_acceptances_let_exactly_one_through(tenant, owner_m):
    invitation, _ = invitations.invitation_create(actor=owner_m, email=INVITED, role="editor")
    token = "concurrent-token-" + "x" * 30
    Invitation.objects.filter(pk=invitation.pk).update(token_hash=invitations.invitation_token_hash(token))
    user = verified_user()
    outcomes, start = [], threading.Barrier(4)

    def attempt():
        start.wait()
        try:
            invitations.invitation_accept(user=user, token=token)
            outcomes.append("joined")
        except ApplicationError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["invitation_used"] * 3 + ["joined"]
    assert Membership.objects.filter(tenant=tenant, user=user).count() == 1


# --- Direct member adds show no e-mail (DESIGN §5.1) ----------------------------------------


def test_member_adds_and_lists_never_show_another_users_email(tenant, boss):
    bea = UserFactory(username="bea", email="bea.private@example.com")
    added = boss.post(f"/api/v1/tenants/{tenant.slug}/members/", {"username": "bea", "role": "viewer"}, format="json")
    assert added.status_code == 201 and "@" not in added.content.decode()
    viewer = client_for(MembershipFactory(tenant=tenant, role=Role.VIEWER).user)
    for client in (boss, viewer):
        listing = client.get(f"/api/v1/tenants/{tenant.slug}/members/")
        detail = client.get(f"/api/v1/tenants/{tenant.slug}/members/{bea.pk}/")
        assert "@" not in listing.content.decode() and "@" not in detail.content.decode()
    page = signed_in(viewer.user).get(f"/t/{tenant.slug}/members/").content.decode()
    assert "bea" in page and "bea.private@example.com" not in page


# --- The portal ----------------------------------------------------------------------------


def test_members_page_invites_lists_resends_and_revokes(
    tenant, owner_m, mailoutbox, django_capture_on_commit_callbacks
):
    client = signed_in(owner_m.user)
    page = client.get(f"/t/{tenant.slug}/members/").content.decode()
    assert "Invite by e-mail" in page and "Send invitation" in page
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(f"/t/{tenant.slug}/members/invite/", {"email": INVITED, "role": "admin"})
    assert sent.status_code == 302 and len(mailoutbox) == 1
    invitation = Invitation.objects.get()
    assert invitation.role == Role.ADMIN
    page = client.get(f"/t/{tenant.slug}/members/").content.decode()
    assert INVITED in page and f"Resend invitation to {INVITED}" in page and f"Revoke invitation to {INVITED}" in page
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/t/{tenant.slug}/invitations/{invitation.pk}/resend/").status_code == 302
    assert len(mailoutbox) == 2
    assert client.post(f"/t/{tenant.slug}/invitations/{invitation.pk}/revoke/").status_code == 302
    assert Invitation.objects.get().state == "revoked"
    assert f"Revoke invitation to {INVITED}" not in client.get(f"/t/{tenant.slug}/members/").content.decode()


def test_members_page_shows_invite_refusals_inline(tenant, owner_m):
    MembershipFactory(tenant=tenant, user=UserFactory(email="in@example.com"))
    client = signed_in(owner_m.user)
    taken = client.post(f"/t/{tenant.slug}/members/invite/", {"email": "in@example.com", "role": "viewer"})
    assert taken.status_code == 409 and "A member of this team already has that address." in taken.content.decode()
    bad = client.post(f"/t/{tenant.slug}/members/invite/", {"email": "nope", "role": "viewer"})
    assert bad.status_code == 400 and not Invitation.objects.exists()


def test_plain_members_see_no_invitation_controls_and_their_posts_are_403(tenant, invite):
    invite()
    invitation = Invitation.objects.get()
    editor = signed_in(MembershipFactory(tenant=tenant, role=Role.EDITOR).user)
    page = editor.get(f"/t/{tenant.slug}/members/").content.decode()
    assert "Invite by e-mail" not in page and INVITED not in page
    assert editor.post(f"/t/{tenant.slug}/members/invite/", {"email": "e@example.com"}).status_code == 403
    assert editor.post(f"/t/{tenant.slug}/invitations/{invitation.pk}/revoke/").status_code == 403
    assert editor.post(f"/t/{tenant.slug}/invitations/{invitation.pk}/resend/").status_code == 403
    stranger = signed_in(MembershipFactory(role=Role.OWNER).user)
    assert stranger.post(f"/t/{tenant.slug}/invitations/{invitation.pk}/revoke/").status_code == 404
    assert Invitation.objects.get().state == "open"


def test_the_accept_page_shows_the_invitation_and_accepts_it(tenant, invite):
    _, token = invite(role="editor")
    client = signed_in(verified_user())
    page = client.get(f"/invitations/{token}/")
    text = page.content.decode()
    assert page.status_code == 200
    assert f"Join {tenant.name}" in text and "olga" in text and "editor" in text and ">Accept<" in text
    joined = client.post(f"/invitations/{token}/")
    assert joined.status_code == 302 and joined["Location"] == f"/t/{tenant.slug}/"
    assert Membership.objects.get(tenant=tenant, user__username="nadia").role == Role.EDITOR
    used = client.get(f"/invitations/{token}/")
    assert used.status_code == 410 and "This invitation has been used" in used.content.decode()


def test_the_accept_page_explains_each_refusal(tenant, invite):
    _, token = invite()
    wrong = signed_in(verified_user("sam@example.com", username="sam")).get(f"/invitations/{token}/")
    assert wrong.status_code == 403
    assert "N***@Example.com" in wrong.content.decode() and "Sign out and switch account" in wrong.content.decode()
    assert (
        signed_in(verified_user("sam2@example.com", username="sam2")).post(f"/invitations/{token}/").status_code == 403
    )
    unverified = signed_in(verified_user(verified=False)).get(f"/invitations/{token}/")
    assert unverified.status_code == 403 and 'href="/accounts/email/"' in unverified.content.decode()
    assert not Membership.objects.filter(tenant=tenant, user__username__in=["sam", "sam2", "nadia"]).exists()
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    expired = signed_in(UserFactory()).get(f"/invitations/{token}/")
    assert expired.status_code == 410 and "This invitation has expired" in expired.content.decode()
    Invitation.objects.update(revoked_at=timezone.now())
    revoked = signed_in(UserFactory()).get(f"/invitations/{token}/")
    assert revoked.status_code == 410 and "This invitation was revoked" in revoked.content.decode()
    assert signed_in(UserFactory()).get("/invitations/" + "y" * 43 + "/").status_code == 404


def test_anonymous_visitors_log_in_or_register_and_come_back(tenant, invite):
    _, token = invite()
    path = f"/invitations/{token}/"
    anonymous = Client().get(path)
    assert anonymous.status_code == 302 and anonymous["Location"] == f"/login/?next={path}"
    login = Client().get(anonymous["Location"]).content.decode()
    assert f'href="/register/?next={path}"' in login
    client = Client()
    form = client.get(f"/register/?next={path}").content.decode()
    assert f'name="next" value="{path}"' in form
    body = {"username": "nadia", "email": INVITED.lower(), "password": "a long enough secret 1", "next": path}
    registered = client.post(f"/register/?next={path}", body)
    assert registered.status_code == 302 and registered["Location"] == path
    # Freshly registered, the address is not verified yet: the page says so.
    assert client.get(path).status_code == 403
    EmailAddress.objects.filter(email=INVITED.lower()).update(verified=True)
    assert client.post(path).status_code == 302
    assert Membership.objects.get(tenant=tenant, user__username="nadia").role == Role.EDITOR


def test_register_ignores_a_next_that_leaves_the_site():
    body = {"username": "eve", "email": "eve@example.com", "password": "a long enough secret 1"}
    response = Client().post("/register/?next=https://evil.example/", body)
    assert response.status_code == 302 and response["Location"].startswith("/t/")
