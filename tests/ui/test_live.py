"""The live page in a browser: Chromium's fake camera plays Lin-Manuel Miranda's part of
the Hamilton clip (a .y4m made here with PyAV), the page sends its frames over the
WebSocket with the session cookie, and a box named after him is drawn over the video;
without a camera the page says so, with no console error."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from likeness.enums import Role
from likeness.media.video import sample_frames
from likeness.services.people import PeopleService, Upload
from likeness.store import Database
from tests.conftest import data_file
from tests.ui.conftest import CHROMIUM, DESKTOP, PASSWORD, PHONE, Watched, _console

LIN = "Lin-Manuel Miranda"
LIN_ALONE = range(90, 211)  # clip frames where he is alone on screen


@pytest.fixture(scope="module")
def camera_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lin-Manuel's four seconds of the clip as raw video for Chromium's fake camera
    (it loops the file)."""
    path = tmp_path_factory.mktemp("camera") / "lin.y4m"
    with av.open(str(path), "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("rawvideo", rate=10)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for frame in sample_frames(data_file("video/hamilton_clip.mp4"), fps=10):
            if frame.index in LIN_ALONE:
                picture = av.VideoFrame.from_ndarray(frame.image, format="bgr24")
                out.mux(stream.encode(picture.reformat(format="yuv420p")))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def camera_browser(browser: Browser, camera_file: Path) -> Iterator[Browser]:
    """A Chromium of its own whose camera is the file, allowed without asking."""
    launched = browser.browser_type.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera_file}"])
    yield launched
    launched.close()


@pytest.fixture
def open_camera_page(server: str, camera_browser: Browser, users: dict[Role, str]
                     ) -> Iterator[Callable[..., Watched]]:
    """As open_page, in the browser with the fake camera: signed in, console watched."""
    contexts: list[BrowserContext] = []
    watched: list[Watched] = []

    def opened(role: Role = Role.VIEWER, viewport: dict[str, int] = DESKTOP) -> Watched:
        context = camera_browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        seen = Watched(page, server)
        page.on("console", lambda message: _console(seen, message))
        page.on("pageerror", lambda error: seen.errors.append(f"uncaught: {error}"))
        watched.append(seen)
        seen.go("/ui/login")
        page.get_by_label("Username").fill(users[role])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{server}/ui")
        return seen

    yield opened
    for context in contexts:
        context.close()
    errors = [error for seen in watched for error in seen.errors]
    assert not errors, "the browser logged errors:\n" + "\n".join(errors)


@pytest.fixture
def lin(db: Database, people: PeopleService) -> int:
    photo = data_file("faces/lin_manuel_miranda/lin_1.png")
    with db.session() as session:
        return people.register(session, LIN, [Upload(photo.name, photo.read_bytes())]
                               ).person.person.id


@pytest.mark.parametrize(("viewport", "name"), [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_the_webcam_is_recognised_live(open_camera_page: Callable[..., Watched],
                                       screenshots: Path, lin: int,
                                       viewport: dict[str, int], name: str) -> None:
    viewer = open_camera_page(Role.VIEWER, viewport)
    page = viewer.go("/ui")
    if viewport is PHONE:
        page.get_by_role("button", name="Menu").click()
    page.get_by_role("link", name="Live").click()
    expect(page.get_by_role("heading", name="Live", exact=True)).to_be_visible()
    start = page.get_by_role("button", name="Start camera")
    start.click()
    video = page.get_by_label("Your camera, with a box around each face")
    expect(video).to_be_visible()
    box = page.locator(".live-boxes .box.match")
    expect(box).to_have_text(re.compile(rf"^{LIN} 0\.\d\d$"), timeout=30_000)
    expect(page.locator("#live-faces")).to_contain_text(f"{LIN} (recognised)")
    expect(page.get_by_role("status").filter(has_text="Live")).to_contain_text(
        re.compile(r"latency \d+ ms \(server \d+ ms\) · 1 face"))
    # The box lies over the video, around his face (left half of the picture).
    shown, drawn = video.bounding_box(), box.bounding_box()
    assert shown and drawn
    assert shown["x"] <= drawn["x"] and drawn["x"] + drawn["width"] <= shown["x"] + shown[
        "width"] / 2 + 20
    assert shown["y"] <= drawn["y"] + drawn["height"] <= shown["y"] + shown["height"]
    assert drawn["width"] > shown["width"] / 12
    # The same person keeps one track while he stays in view.
    tracks = {box.get_attribute("data-track")}
    for _ in range(4):
        page.wait_for_timeout(300)
        tracks.add(page.locator(".live-boxes .box").first.get_attribute("data-track"))
    assert len(tracks) == 1, tracks
    viewer.shot(screenshots, f"live-{name}")

    page.get_by_role("button", name="Stop camera").click()
    expect(video).to_be_hidden()
    expect(page.locator(".live-boxes .box")).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="Camera off")).to_be_visible()
    assert page.evaluate("document.querySelector('video').srcObject") is None


def test_without_a_camera_the_page_says_so(open_page: Callable[..., Watched],
                                           screenshots: Path) -> None:
    # The tests' usual Chromium has no camera (and no fake one): getUserMedia fails.
    viewer = open_page(Role.VIEWER, PHONE)
    page = viewer.go("/ui/live")
    page.get_by_role("button", name="Start camera").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(re.compile(r"camera", re.IGNORECASE))
    expect(page.get_by_role("button", name="Start camera")).to_be_enabled()
    expect(page.get_by_label("Your camera, with a box around each face")).to_be_hidden()
    viewer.shot(screenshots, "live-no-camera")
