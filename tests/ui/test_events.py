"""Events in the browser: the list and a new event; photos uploaded many at once (one
request each, with progress, a bad file failing alone), the photos and the guests' groups
the worker forms; share links with their QR code, shown once, then revoked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from likeness.enums import Role
from likeness.store import Database
from tests.conftest import DATA
from tests.ui.conftest import PHONE, Watched, wait_for_jobs

UPLOADS = ([DATA / "faces" / "obama" / f"obama_{i}.jpg" for i in range(1, 5)]
           + [DATA / "faces" / "biden" / f"biden_{i}.jpg" for i in (1, 2)]
           + [DATA / "scenes" / "obama_and_biden.jpg", DATA / "scenes" / "kit_with_rose.jpg"])


def load_lazy_images(page: Page) -> None:
    """Scroll through the page so that lazy images load before a full-page screenshot."""
    page.evaluate("""async () => {
        for (let y = 0; y < document.body.scrollHeight; y += 600) {
            window.scrollTo(0, y); await new Promise(r => setTimeout(r, 50));
        }
        window.scrollTo(0, 0);
        await Promise.all(Array.from(document.images, img => img.decode().catch(() => {})));
    }""")


def create_event(page: Page, name: str) -> int:
    page.get_by_label("New event").fill(name)
    page.get_by_role("button", name="Create event").click()
    page.wait_for_url("**/ui/events/*")
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    return int(page.url.rsplit("/", 1)[1])


def test_the_list_and_a_new_event(open_page: Callable[..., Watched], screenshots: Path
                                  ) -> None:
    viewer = open_page(Role.VIEWER)
    page = viewer.go("/ui/events")
    expect(page.get_by_text("No events yet.")).to_be_visible()
    expect(page.get_by_label("New event")).to_have_count(0)  # viewers create nothing

    editor = open_page(Role.EDITOR, viewport=PHONE)
    page = editor.go("/ui/events")
    event_id = create_event(page, "Sam & Alex's wedding")
    expect(page.get_by_text("No photos yet.")).to_be_visible()
    editor.shot(screenshots, "event-empty-phone")
    page.get_by_role("link", name="Events").first.click()
    row = page.get_by_role("row", name="Sam & Alex's wedding")
    expect(row.get_by_role("link")).to_have_attribute("href", f"/ui/events/{event_id}")
    expect(row.get_by_role("cell", name="0").first).to_be_visible()
    editor.shot(screenshots, "events-phone")
    page = viewer.go("/ui/events")
    viewer.shot(screenshots, "events-desktop")


def test_photos_uploaded_at_once_grouped_by_person_and_shared(
        open_page: Callable[..., Watched], screenshots: Path, tmp_path: Path, db: Database
) -> None:
    editor = open_page(Role.EDITOR)
    page = editor.go("/ui/events")
    event_id = create_event(page, "Gala")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")

    page.get_by_label("Photos to add").set_input_files([*UPLOADS, notes])
    expect(page.get_by_text(f"{len(UPLOADS) + 1} file(s) chosen")).to_be_visible()
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-count")).to_have_text(
        f"Done: {len(UPLOADS)} of {len(UPLOADS) + 1} uploaded · 1 failed", timeout=90_000)
    uploads = page.get_by_role("list", name="Uploads")
    expect(uploads.get_by_role("listitem").filter(has_text="obama_and_biden.jpg")
           ).to_contain_text("3 faces")
    expect(uploads.get_by_role("listitem").filter(has_text="notes.txt")).to_contain_text(
        "not a recognised image")

    photos = page.locator("#event-photos")
    expect(photos.get_by_text(f"{len(UPLOADS)} photos")).to_be_visible()
    expect(page.locator("#event-counts")).to_have_text(f"{len(UPLOADS)} photos · 11 faces")
    expect(photos.locator(".event-photo")).to_have_count(len(UPLOADS))
    # The worker clusters the new faces a moment later; the page fetches them again.
    groups = page.locator("#event-clusters .cluster")
    expect(groups.first).to_be_visible(timeout=30_000)
    wait_for_jobs(db, "cluster_faces")  # the last pass may end after the page's last look
    page.reload()
    expect(groups.first.get_by_role("heading")).to_contain_text("5 faces")
    expect(groups.first.get_by_role("img")).to_have_count(5)
    # The page looks for new groups a few times more, leaving alone what has not changed.
    groups.first.get_by_label("Who is this?").fill("Barack")
    expect(page.get_by_text("looking for new faces")).to_have_count(0, timeout=30_000)
    expect(groups.first.get_by_label("Who is this?")).to_have_value("Barack")
    load_lazy_images(page)
    editor.shot(screenshots, "event-desktop")

    # A share link: its URL and QR code, shown once.
    share = page.locator("#event-share")
    share.get_by_label("Expires after").select_option("7")
    share.get_by_role("button", name="Create share link").click()
    url = share.get_by_label("Guest link").input_value()
    assert url.startswith(f"{editor.base}/share/") and len(url) > len(editor.base) + 30
    qr = share.get_by_role("img", name="QR code of the share link")
    expect(qr).to_be_visible()
    assert qr.bounding_box()["width"] >= 150  # type: ignore[index]
    expect(share.get_by_text("Works until")).to_be_visible()
    share.locator("#new-link-url").scroll_into_view_if_needed()
    editor.shot(screenshots, "event-share-desktop")

    page.reload()
    expect(page.get_by_text("New share link")).to_have_count(0)  # the token is gone
    token = url.rsplit("/", 1)[1]
    row = page.get_by_role("row").filter(has_text=f"/share/{token[:6]}…")
    expect(row.get_by_text("active")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=f"Revoke link {token[:6]}").click()
    expect(page.get_by_text("The link is revoked")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=f"/share/{token[:6]}…").get_by_text(
        "revoked")).to_be_visible()

    phone = open_page(Role.VIEWER, viewport=PHONE)
    page = phone.go(f"/ui/events/{event_id}")
    expect(page.locator("#event-photos .event-photo")).to_have_count(len(UPLOADS))
    expect(page.get_by_label("Photos to add")).to_have_count(0)  # viewers upload nothing
    expect(page.get_by_role("heading", name="Share links")).to_have_count(0)
    load_lazy_images(page)
    phone.shot(screenshots, "event-viewer-phone")
