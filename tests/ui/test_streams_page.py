"""The cameras page in the browser, on the real stack: an editor adds a real RTSP camera
(the Hamilton clip served on loopback, tests/services/test_streams.py) from the page, the
server's worker runs it, the stream goes up and Lin-Manuel Miranda's sighting appears
without a reload; the sightings are filtered by person, decision and camera; a viewer
sees everything but can add or remove nothing; the editor removes the camera. The unknown
faces page's cameras tab shows the cameras' clusters, and naming one relabels its
sightings."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.enums import Role
from likeness.services.clusters import ClusterService
from likeness.services.people import PeopleService
from likeness.services.streams import StreamRecords
from likeness.store import Database
from tests.services.test_sighting_clusters import STRANGERS, photo_sightings
from tests.services.test_streams import Camera, camera_clip, enroll, wait_for
from tests.ui.conftest import PHONE, Watched
from tests.ui.test_events import load_lazy_images


@pytest.fixture
def camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Camera]:
    opened = Camera(camera_clip(tmp_path_factory.mktemp("ui-camera")))
    yield opened
    opened.close()


@pytest.fixture
def clusters(settings: Settings) -> ClusterService:
    return ClusterService.from_settings(settings)


def add_camera(page: Page, name: str, url: str, fps: str = "4") -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Stream URL").fill(url)
    page.get_by_label("Frames per second").fill(fps)
    page.get_by_role("button", name="Add camera").click()


def test_a_camera_is_added_sighted_filtered_and_removed(
        open_page: Callable[..., Watched], screenshots: Path, session: Session,
        people: PeopleService, camera: Camera) -> None:
    lin = enroll(session, people, "Lin-Manuel Miranda", "lin_manuel_miranda")
    editor = open_page(Role.EDITOR)
    page = editor.go("/ui/live")
    page.get_by_role("link", name="Camera streams and sightings").click()
    page.wait_for_url("**/ui/cameras")
    expect(page.get_by_role("link", name="Cameras", exact=True)).to_have_attribute(
        "aria-current", "page")
    expect(page.locator("#stream-list")).to_contain_text("No cameras yet.")
    expect(page.locator("#sightings")).to_contain_text("No sightings yet")

    add_camera(page, "Bad", "ftp://127.0.0.1/cam")  # refused, said above the page
    expect(page.locator("#flash")).to_contain_text("url must be rtsp, rtsps, http, https")
    add_camera(page, "Server file", "/etc/hostname")  # server paths are not allowed here
    expect(page.locator("#flash")).to_contain_text("not allowed here")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Server file")  # kept, to correct
    expect(page.locator("#stream-list")).to_contain_text("No cameras yet.")

    add_camera(page, "Front door", camera.url)
    expect(page.locator("#flash")).to_contain_text("Added Front door")
    expect(page.get_by_label("Name", exact=True)).to_have_value("")  # ready for the next one
    card = page.locator(".stream-card", has_text="Front door")
    expect(card.locator("code")).to_have_text(camera.url)
    # The list polls: the worker's stream goes up and Lin is seen, with no reload.
    expect(card.locator(".badge").first).to_have_text("up", timeout=45_000)
    expect(card.get_by_role("link", name="Lin-Manuel Miranda")).to_be_visible(timeout=60_000)
    lin_card = page.locator(".sighting", has_text="Lin-Manuel Miranda").first
    expect(lin_card).to_be_visible(timeout=30_000)
    expect(lin_card.locator(".badge")).to_have_text("match")
    expect(lin_card).to_contain_text("Front door")
    expect(lin_card.get_by_role("img")).to_have_js_property("complete", True)
    assert lin_card.get_by_role("img").evaluate("img => img.naturalWidth") > 0

    page.reload()  # the person filter offers the people sighted so far
    page.get_by_role("combobox", name="Person").select_option(label="Lin-Manuel Miranda")
    expect(page).to_have_url(re.compile(rf"/ui/cameras\?person_id={lin}$"))
    expect(page.locator(".sighting").first).to_be_visible()
    names = page.locator(".sighting-who strong").all_inner_texts()
    assert names and set(names) == {"Lin-Manuel Miranda"}
    page.get_by_role("combobox", name="Decision").select_option("unknown")
    expect(page.locator("#sightings")).to_contain_text("No sightings match these filters.")
    page.get_by_role("combobox", name="Person").select_option(label="Everyone")
    page.get_by_role("combobox", name="Camera").select_option(label="Front door")
    expect(page).to_have_url(re.compile(r"/ui/cameras\?stream_id=\d+&decision=unknown$"))
    page.reload()  # the address keeps the filters
    expect(page.get_by_role("combobox", name="Camera").locator("option:checked")).to_have_text(
        "Front door")
    expect(page.get_by_role("combobox", name="Decision")).to_have_value("unknown")
    page.get_by_role("combobox", name="Decision").select_option("")
    expect(page.locator(".sighting", has_text="Lin-Manuel Miranda").first).to_be_visible()
    load_lazy_images(page)
    editor.shot(screenshots, "cameras-editor-desktop")

    viewer = open_page(Role.VIEWER, viewport=PHONE)
    seen = viewer.go("/ui/cameras")
    expect(seen.locator(".stream-card", has_text="Front door")).to_be_visible()
    expect(seen.locator(".sighting", has_text="Lin-Manuel Miranda").first).to_be_visible()
    expect(seen.get_by_role("button", name="Add camera")).to_have_count(0)
    expect(seen.get_by_role("button", name="Remove")).to_have_count(0)
    expect(seen.locator("#stream-list")).not_to_contain_text("Add one above")
    load_lazy_images(seen)
    viewer.shot(screenshots, "cameras-viewer-phone")

    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Remove Front door").click()
    expect(page.locator("#stream-list")).to_contain_text("No cameras yet.")
    expect(page.locator("#sightings")).to_contain_text("No sightings yet")
    wait_for("the camera's reader gone", lambda: camera.relay.readers == 0, 10)


def test_the_cameras_unknown_faces_are_named_from_their_tab(
        open_page: Callable[..., Watched], screenshots: Path, session: Session,
        db: Database, engine: FaceEngine, clusters: ClusterService) -> None:
    stream_id = StreamRecords().add(session, "Gate", "rtsp://127.0.0.1:9/cam").stream.id
    first = photo_sightings(session, engine, stream_id, STRANGERS[0], 4)
    photo_sightings(session, engine, stream_id, STRANGERS[1], 4)
    assert clusters.update(session, None, engine.model_name, cameras=True).formed == 2
    target = next(c for c in clusters.page(session, None, cameras=True).items
                  if set(c.faces) <= set(first))

    editor = open_page(Role.EDITOR, viewport=PHONE)
    page = editor.go("/ui/clusters")
    expect(page.locator(".cluster")).to_have_count(0)  # the videos' tab: none of these
    page.locator(".scope-tabs").get_by_role("link", name="Cameras").click()
    page.wait_for_url("**/ui/clusters?scope=cameras")
    card = page.locator(f"#cluster-{target.id}")
    expect(card.get_by_role("heading")).to_contain_text(f"{target.size} sightings")
    expect(card.get_by_role("link", name="Gate")).to_have_attribute(
        "href", f"/ui/cameras?stream_id={stream_id}")
    expect(card.get_by_role("img").first).to_have_js_property("complete", True)
    expect(page.locator(".cluster")).to_have_count(2)
    load_lazy_images(page)
    editor.shot(screenshots, "clusters-cameras-phone")

    card.get_by_label("Who is this?").fill("Stranger One")
    card.get_by_role("button", name="Name").click()
    expect(page.locator("#flash")).to_contain_text("Named Stranger One (new person)")
    expect(page.locator("#flash")).to_contain_text(f"{target.size} sightings are theirs now")
    expect(page.locator(".cluster")).to_have_count(1)
    page.get_by_role("link", name="Show hidden").click()
    page.wait_for_url("**/ui/clusters?scope=cameras&hidden=true")

    sightings = editor.go("/ui/cameras")
    expect(sightings.locator(".sighting", has_text="Stranger One")).to_have_count(target.size)

