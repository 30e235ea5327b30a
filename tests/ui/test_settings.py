"""Settings, for administrators: API keys shown once and revoked, users added, given a
new password and removed, the audit log paged; what a viewer sees instead."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Dialog, expect

from likeness.enums import Role
from likeness.services.access import AccessService
from likeness.store import Database
from tests.ui.conftest import DESKTOP, PASSWORD, PHONE, Watched


def _accept(dialog: Dialog) -> None:
    dialog.accept()


def test_an_admin_creates_a_key_sees_it_once_and_revokes_it(
        open_page: Callable[..., Watched], screenshots: Path) -> None:
    admin = open_page(Role.ADMIN, permissions=["clipboard-read", "clipboard-write"])
    page = admin.page
    page.get_by_role("link", name="Settings").click()
    page.wait_for_url("**/ui/settings")
    keys = page.locator("#keys")
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    # the tests' bootstrap admin key is listed by its prefix only
    expect(keys.get_by_role("row", name=re.compile("bootstrap"))).to_be_visible()

    keys.get_by_label("Name").fill("photo importer")
    keys.get_by_label("Role").select_option("editor")
    keys.get_by_role("button", name="Create key").click()
    secret_box = page.locator("#new-key-secret")
    expect(secret_box).to_have_text(re.compile(r"^lk_[\w-]{40,}$"))
    secret = secret_box.inner_text()
    expect(page.get_by_text("it is not shown again")).to_be_visible()
    row = keys.get_by_role("row", name=re.compile("photo importer"))
    expect(row).to_contain_text("editor")
    expect(row).to_contain_text(secret[:10])
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    admin.shot(screenshots, "settings-key-created-desktop")

    # the key works for programs, and is never shown again
    api = page.request
    assert api.get(admin.base + "/people", headers={"X-API-Key": secret}).status == 200
    page.reload()
    expect(row).to_be_visible()
    assert secret not in page.content()

    # an unknown event: the error is shown above the page, not as a failed request
    keys.get_by_label("Name").fill("for a missing event")
    keys.get_by_label("Event id").fill("999999")
    keys.get_by_role("button", name="Create key").click()
    expect(page.locator("#flash")).to_contain_text("event 999999 does not exist")

    page.once("dialog", _accept)
    row.get_by_role("button", name="Revoke photo importer").click()
    expect(keys.get_by_role("status")).to_contain_text("Revoked the key photo importer")
    expect(row).to_have_count(0)
    assert api.get(admin.base + "/people", headers={"X-API-Key": secret}).status == 401


def test_an_admin_adds_an_editor_who_signs_in_and_pages_the_audit_log(
        open_page: Callable[..., Watched], screenshots: Path, db: Database) -> None:
    with db.session() as session:  # enough history for two pages of the audit log
        for n in range(30):
            AccessService().record(session, "user admin", "update_person", f"person_id={n}",
                                   200)
    admin = open_page(Role.ADMIN, viewport=PHONE)
    page = admin.go("/ui/settings")
    users = page.locator("#users")
    expect(users.get_by_role("row", name=re.compile("admin you"))).to_contain_text(
        "signed in")  # no way to remove oneself
    expect(users.get_by_role("button", name="Remove admin")).to_have_count(0)

    users.get_by_label("Username").fill("edith")
    users.get_by_label("Role").select_option("editor")
    users.get_by_label("Password", exact=True).fill("first password 1")
    users.get_by_role("button", name="Add user").click()
    expect(users.get_by_role("status")).to_contain_text("Added edith (editor)")
    edith = users.get_by_role("row", name=re.compile("edith"))
    expect(edith).to_contain_text("editor")

    users.get_by_label("Username").fill("viewer")  # taken: said above the page
    users.get_by_label("Password", exact=True).fill("another password")
    users.get_by_role("button", name="Add user").click()
    expect(page.locator("#flash")).to_contain_text("the username 'viewer' is taken")

    edith.get_by_text("Set a new password").click()
    edith.get_by_label("New password for edith").fill("second password 2")
    edith.get_by_role("button", name="Save password").click()
    expect(users.get_by_role("status")).to_contain_text("Set a new password for edith")
    admin.shot(screenshots, "settings-users-phone")

    audit = page.locator("#audit")
    expect(audit).to_contain_text("page 1 of 2")
    expect(audit.get_by_role("cell", name="person_id=29")).to_be_visible()
    audit.get_by_role("link", name="Older").click()
    expect(audit).to_contain_text("page 2 of 2")
    expect(audit.get_by_role("cell", name=re.compile(r"person_id=0$"))).to_be_visible()
    audit.get_by_role("link", name="Newer").click()
    expect(audit).to_contain_text("page 1 of 2")

    fresh = open_page(None, viewport=PHONE)  # edith, in a browser of her own
    signed_in = fresh.go("/ui/login")
    signed_in.get_by_label("Username").fill("edith")
    signed_in.get_by_label("Password").fill("second password 2")
    signed_in.get_by_role("button", name="Sign in").click()
    signed_in.wait_for_url("**/ui")
    signed_in.get_by_role("button", name="Menu").click()
    expect(signed_in.get_by_role("button", name="Sign out edith")).to_be_visible()
    expect(signed_in.get_by_role("link", name="Settings")).to_have_count(0)

    page.once("dialog", _accept)
    edith.get_by_role("button", name="Remove edith").click()
    expect(users.get_by_role("status")).to_contain_text("Removed edith")
    expect(edith).to_have_count(0)
    signed_in.reload()  # her session ended with her
    signed_in.wait_for_url("**/ui/login?next=/ui")

    # the admin's own new password ends their session: signed in again with it
    mine = users.get_by_role("row", name=re.compile("admin you"))
    mine.get_by_text("Set a new password").click()
    mine.get_by_label("New password for admin").fill("my new password 3")
    page.once("dialog", _accept)
    mine.get_by_role("button", name="Save password").click()
    page.wait_for_url("**/ui/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("my new password 3")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui")


def test_a_viewer_sees_no_settings_and_is_not_allowed_there(
        open_page: Callable[..., Watched], screenshots: Path) -> None:
    viewer = open_page(Role.VIEWER)
    page = viewer.page
    expect(page.get_by_role("link", name="Settings")).to_have_count(0)
    viewer.go("/ui/settings")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_text("Settings are for administrators")).to_be_visible()
    expect(page.get_by_role("heading", name="API keys")).to_have_count(0)
    viewer.shot(screenshots, "settings-not-allowed-desktop")
    # a write sent anyway is refused by the route, whatever the page showed
    csrf = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    refused = page.request.post(viewer.base + "/ui/settings/users", form={
        "username": "mallory", "role": "admin", "password": PASSWORD},
        headers={"X-CSRF-Token": csrf})
    assert refused.status == 403
    assert "may not do this" in refused.text()


def test_settings_at_both_widths(open_page: Callable[..., Watched], screenshots: Path,
                                 db: Database) -> None:
    with db.session() as session:
        AccessService().create_key(session, "nightly backup script with a long name",
                                   Role.VIEWER, created_by="user admin")
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        admin = open_page(Role.ADMIN, viewport=viewport)
        page = admin.go("/ui/settings")
        expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
        expect(page.get_by_role("row", name=re.compile("nightly backup"))).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        admin.shot(screenshots, f"settings-{name}")
