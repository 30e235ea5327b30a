"""The guest page of a share link, in a browser that never signed in: the event's name, a
selfie, the guest's photos to download, nothing else of the system; friendly words for a
selfie with no face, for too many searches and for a revoked link. The API's JSON answer
stays for programs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.enums import Role
from likeness.services.events import EventRecords, EventService, ImageInput
from likeness.storage import ObjectStorage
from tests.conftest import DATA, data_file
from tests.ui.conftest import PHONE, Watched
from tests.ui.test_events import load_lazy_images

PHOTOS = ([DATA / "faces" / "obama" / f"obama_{i}.jpg" for i in range(1, 5)]
          + [DATA / "faces" / "biden" / f"biden_{i}.jpg" for i in (1, 2)]
          + [DATA / "scenes" / "obama_and_biden.jpg", DATA / "scenes" / "kit_with_rose.jpg"])
OBAMA = {"obama_1.jpg", "obama_2.jpg", "obama_3.jpg", "obama_4.jpg", "obama_and_biden.jpg"}


@pytest.fixture
def event_id(engine: FaceEngine, settings: Settings, session: Session) -> int:
    """An event whose originals are kept (in the server's storage), so that guests can
    see and download them."""
    storage = ObjectStorage.from_settings(settings)
    created = EventRecords(storage).create(session, "Spring gala").event.id
    EventService(engine, storage, keep_originals=True).ingest_images(
        session, created, [ImageInput(p.name, p.read_bytes()) for p in PHOTOS])
    return created


def test_a_guest_finds_and_downloads_their_photos_until_the_link_is_revoked(
        open_page: Callable[..., Watched], screenshots: Path, event_id: int,
        tmp_path: Path) -> None:
    editor = open_page(Role.EDITOR)
    page = editor.go(f"/ui/events/{event_id}")
    photos = page.locator("#event-photos .event-photo")
    expect(photos).to_have_count(len(PHOTOS))
    expect(photos.filter(has_text="obama_and_biden.jpg").locator(".box")).to_have_count(3)
    page.get_by_role("button", name="Create share link").click()
    url = page.get_by_label("Guest link").input_value()
    load_lazy_images(page)
    editor.shot(screenshots, "event-photos-desktop")

    # A fresh browser, never signed in: the event, a selfie, nothing else.
    guest = open_page(None, viewport=PHONE)
    shared = guest.page
    shared.goto(url)
    expect(shared.get_by_role("heading", name="Spring gala")).to_be_visible()
    expect(shared.get_by_text(f"{len(PHOTOS)} photos")).to_be_visible()
    expect(shared.get_by_role("navigation")).to_have_count(0)
    expect(shared.get_by_role("link")).to_have_count(0)
    selfie = shared.get_by_label("Your selfie")
    expect(selfie).to_have_attribute("capture", "user")
    expect(selfie).to_have_attribute("accept", "image/*")
    guest.shot(screenshots, "guest-phone")

    selfie.set_input_files(data_file("edge/obama-480p.jpg"))
    expect(shared.get_by_role("img", name="Your selfie")).to_be_visible()
    shared.get_by_role("button", name="Find my photos").click()
    expect(shared.get_by_role("heading", name=f"You are in {len(OBAMA)} photos")).to_be_visible()
    found = shared.locator(".guest-photos img")
    expect(found).to_have_count(len(OBAMA))
    names = {found.nth(i).get_attribute("alt").split(": ", 1)[1]  # type: ignore[union-attr]
             for i in range(len(OBAMA))}
    assert names == OBAMA
    load_lazy_images(shared)
    for i in range(len(OBAMA)):
        assert found.nth(i).evaluate("img => img.naturalWidth") > 0
    guest.shot(screenshots, "guest-found-phone")
    with shared.expect_download() as started:
        shared.get_by_role("link", name="Download photo 1").click()
    download = started.value
    assert download.suggested_filename in OBAMA
    saved = tmp_path / "download.jpg"
    download.save_as(saved)
    assert saved.read_bytes() == (DATA / "faces" / "obama" / download.suggested_filename
                                  if download.suggested_filename.startswith("obama_")
                                  else DATA / "scenes" / download.suggested_filename
                                  ).read_bytes()

    # No face in the selfie: said kindly, and nothing logged as an error.
    blank = tmp_path / "wall.jpg"
    cv2.imwrite(str(blank), np.full((480, 480, 3), 200, np.uint8))
    selfie.set_input_files(blank)
    shared.get_by_role("button", name="Find my photos").click()
    expect(shared.get_by_role("alert")).to_contain_text("We could not see a face")

    # The same desktop page, and the API's answer for programs.
    desktop = open_page(None)
    desktop.page.goto(url)
    expect(desktop.page.get_by_role("heading", name="Spring gala")).to_be_visible()
    desktop.shot(screenshots, "guest-desktop")
    answer = desktop.page.request.get(url, headers={"Accept": "application/json"})
    assert answer.ok and answer.json()["event"] == "Spring gala"
    assert answer.json()["photos"] == len(PHOTOS)

    # Too many searches with one link: the page asks to wait.
    token = url.rsplit("/", 1)[1]
    for _ in range(30):
        desktop.page.request.post(f"{url}/match", multipart={"file": {
            "name": "x.jpg", "mimeType": "image/jpeg", "buffer": b"not an image"}})
    selfie.set_input_files(data_file("edge/obama-480p.jpg"))
    shared.get_by_role("button", name="Find my photos").click()
    expect(shared.get_by_role("alert")).to_contain_text("Try again in")

    # Revoked: the page says the link is gone, the API answers 404.
    page.reload()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Revoke link {token[:6]}").click()
    expect(page.get_by_text("The link is revoked")).to_be_visible()
    shared.reload()
    expect(shared.get_by_role("heading", name="This link no longer works")).to_be_visible()
    expect(shared.get_by_text("Spring gala")).to_have_count(0)
    guest.shot(screenshots, "guest-gone-phone")
    assert desktop.page.request.get(url, headers={"Accept": "application/json"}).status == 404
