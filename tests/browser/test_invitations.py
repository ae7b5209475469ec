"""Invitations in a real browser: an owner invites from the members page, the web process mails
the link (to a file under var/mail/, as a local installation does), and the invited person
opens it, signs in and accepts."""

from __future__ import annotations

import email
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from allauth.account.models import EmailAddress
from django.conf import settings
from playwright.sync_api import expect

from accounts.models import Membership, Role
from tests.browser.conftest import PASSWORD, log_in
from tests.factories import MembershipFactory, TenantFactory, UserFactory

INVITED = "nadia.browser@example.com"


def _user(username: str, address: str):
    user = UserFactory(username=username, email=address)
    user.set_password(PASSWORD)
    user.save()
    EmailAddress.objects.create(user=user, email=address, primary=True, verified=True)
    return user


def _mailed_link(to: str, since: float, timeout: float = 20) -> str:
    """The invitation link in the newest mail to `to` the web process wrote since `since`."""
    folder = Path(settings.EMAIL_FILE_PATH)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True):
            if path.stat().st_mtime < since:
                break
            message = email.message_from_bytes(path.read_bytes())
            if message["To"] != to:
                continue
            text = next(part for part in message.walk() if part.get_content_type() == "text/plain")
            found = re.search(r"https?://\S+/invitations/[\w-]+/", text.get_payload(decode=True).decode())
            if found:
                return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no invitation mail to {to} in {folder}")


def test_an_owner_invites_by_email_and_the_invited_person_accepts(page, new_page, shot):
    owner = _user("olga", "olga@example.com")
    tenant = TenantFactory(name="Atelier Nord", slug="atelier")
    MembershipFactory(user=owner, tenant=tenant, role=Role.OWNER)
    nadia = _user("nadia", INVITED)
    started = time.time() - 1

    log_in(page, "olga")
    page.goto("/t/atelier/members/")
    page.get_by_label("E-mail address").fill(INVITED)
    page.get_by_label("Invite as").select_option(label="Editor")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_contain_text(f"Invitation sent to {INVITED}")
    expect(page.get_by_role("button", name=f"Revoke invitation to {INVITED}")).to_be_visible()
    shot(page, "invited")

    link = _mailed_link(INVITED, started)
    path = urlsplit(link).path
    invited = new_page()
    invited.goto(path)  # not signed in: the login page, which brings them back
    invited.wait_for_url(re.compile(r"/login/\?next="))
    invited.get_by_label("Username or e-mail").fill("nadia")
    invited.get_by_label("Password", exact=True).fill(PASSWORD)
    invited.get_by_role("button", name="Log in").click()
    invited.wait_for_url(re.compile(re.escape(path) + "$"))
    expect(invited.get_by_role("heading", name="Join Atelier Nord")).to_be_visible()
    expect(invited.get_by_text("olga invited you")).to_be_visible()
    shot(invited, "invitation")
    invited.get_by_role("button", name="Accept").click()
    invited.wait_for_url(re.compile(r"/t/atelier/$"))
    expect(invited.get_by_text("Welcome to Atelier Nord. You joined as editor.")).to_be_visible()
    shot(invited, "joined")
    assert Membership.objects.get(tenant=tenant, user=nadia).role == Role.EDITOR

    # The owner's list no longer shows it as pending; the link is dead.
    page.reload()
    expect(page.get_by_role("row", name=re.compile("nadia"))).to_contain_text("Editor")
    expect(page.get_by_role("button", name=f"Revoke invitation to {INVITED}")).to_have_count(0)
    invited.goto(path)
    expect(invited.get_by_role("heading", name="This invitation has been used")).to_be_visible()
