"""The portal's frame: signing in, the team switcher, keyboard use, phones, dark mode."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.models import Role
from tests.browser.conftest import PASSWORD, log_in
from tests.factories import MembershipFactory, TenantFactory, UserFactory


def _user_in_two_teams():
    user = UserFactory(username="ines")
    user.set_password(PASSWORD)
    user.save()
    first = TenantFactory(name="Alpha Studio", slug="alpha")
    second = TenantFactory(name="Beta Press", slug="beta")
    MembershipFactory(user=user, tenant=first, role=Role.OWNER)
    MembershipFactory(user=user, tenant=second, role=Role.VIEWER)
    return user


def test_team_switcher_moves_between_teams_and_sections_follow_the_role(page, shot):
    _user_in_two_teams()
    log_in(page, "ines")
    page.get_by_role("link", name="Alpha Studio").click()
    expect(page).to_have_url(re.compile(r"/t/alpha/$"))
    team_nav = page.get_by_role("navigation", name="Team")
    expect(team_nav.get_by_role("link", name="Files")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("search")).to_be_visible()
    shot(page, "alpha")
    page.get_by_label("Switch team").select_option(label="Beta Press")
    expect(page).to_have_url(re.compile(r"/t/beta/$"))
    # A viewer is not shown the owner's sections.
    expect(page.get_by_role("navigation", name="Team").get_by_role("link", name="Members")).to_have_count(0)


def test_keyboard_reaches_the_content_and_focus_is_visible(page):
    _user_in_two_teams()
    log_in(page, "ines")
    page.goto("/t/alpha/")
    page.bring_to_front()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    outline = skip.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline not in ("", "none")


def test_no_horizontal_scroll_on_a_phone_and_dark_mode_follows_the_system(new_page):
    _user_in_two_teams()
    phone = new_page(width=390, height=844)
    log_in(phone, "ines")
    phone.goto("/t/alpha/")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.emulate_media(color_scheme="dark")
    dark = phone.evaluate("getComputedStyle(document.body).backgroundColor")
    phone.emulate_media(color_scheme="light")
    light = phone.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark != light
