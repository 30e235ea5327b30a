"""Signing in, the home page, signing out; what nobody signed in may see."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import expect

from likeness.enums import Role
from tests.ui.conftest import PHONE, Watched


def test_sign_in_see_the_overview_and_sign_out(open_page: Callable[..., Watched],
                                               screenshots: Path) -> None:
    admin = open_page(Role.ADMIN)
    page = admin.page
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_text("pending reviews")).to_be_visible()
    expect(page.get_by_role("cell", name="database")).to_be_visible()
    expect(page.get_by_role("link", name="Settings")).to_be_visible()
    admin.shot(screenshots, "home-desktop")
    page.get_by_role("button", name="Sign out admin").click()
    page.wait_for_url("**/ui/login")
    admin.go("/ui?from=test")
    page.wait_for_url("**/ui/login?next=/ui%3Ffrom%3Dtest")


def test_a_viewer_sees_no_settings_and_a_phone_gets_a_menu(
        open_page: Callable[..., Watched], screenshots: Path) -> None:
    viewer = open_page(Role.VIEWER, viewport=PHONE)
    page = viewer.page
    nav = page.locator("#nav")
    expect(nav).to_be_hidden()
    page.get_by_role("button", name="Menu").click()
    expect(nav).to_be_visible()
    expect(nav.get_by_role("link", name="People", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Settings")).to_have_count(0)
    viewer.shot(screenshots, "home-phone")


def test_wrong_password_and_first_run_guidance(open_page: Callable[..., Watched]) -> None:
    anonymous = open_page(None)
    page = anonymous.go("/ui")
    page.wait_for_url("**/ui/login?next=/ui")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("wrong username or password")
