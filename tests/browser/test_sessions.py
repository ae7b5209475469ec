"""The session page in a real browser: one browser signs another out."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, log_in
from tests.factories import UserFactory


def test_a_browser_signs_out_another_from_the_session_page(new_page, shot):
    user = UserFactory(username="xena")
    user.set_password(PASSWORD)
    user.save()
    first, second = new_page(), new_page()
    log_in(first, "xena")
    log_in(second, "xena")

    first.goto("/accounts/sessions/")
    expect(first.get_by_role("heading", name="Sessions", exact=True)).to_be_visible()
    expect(first.get_by_text("This session")).to_have_count(1)
    expect(first.get_by_role("button", name=re.compile(r"^Sign out .* at "))).to_have_count(1)
    expect(first.get_by_role("heading", name="Recent sign-ins")).to_be_visible()
    shot(first, "two-sessions")

    first.once("dialog", lambda dialog: dialog.accept())
    first.get_by_role("button", name="Sign out all other sessions").click()
    expect(first.get_by_role("status")).to_contain_text("Signed out 1 other session")
    expect(first.get_by_text("This is the only browser signed in.")).to_be_visible()
    shot(first, "signed-out-the-other")

    second.reload()
    expect(second).to_have_url(re.compile(r"/login/"))
    expect(second.get_by_label("Username or e-mail")).to_be_visible()
    first.goto("/")
    expect(first.get_by_role("heading", name="Your teams")).to_be_visible()
