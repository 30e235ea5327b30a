"""The recognize page in a browser: a group photo with a box, a name and a decision for each
face and each face's candidates; 1:1 verification of two photos."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from playwright.sync_api import expect

from likeness.enums import Role
from likeness.services.people import PeopleService, Upload
from likeness.store import Database
from tests.conftest import data_file
from tests.ui.conftest import PHONE, Watched


def _register(db: Database, people: PeopleService, name: str, photo: str) -> int:
    with db.session() as session:
        upload = Upload(Path(photo).name, data_file(photo).read_bytes())
        return people.register(session, name, [upload]).person.person.id


def test_recognize_a_group_photo(open_page: Callable[..., Watched], screenshots: Path,
                                 db: Database, people: PeopleService) -> None:
    obama = _register(db, people, "Barack Obama", "faces/obama/obama_1.jpg")
    _register(db, people, "Joe Biden", "faces/biden/biden_1.jpg")
    viewer = open_page(Role.VIEWER)
    page = viewer.go("/ui/recognize")
    page.get_by_label("Drop a photo here, or choose one").set_input_files(
        data_file("scenes/obama_and_biden.jpg"))
    page.get_by_role("button", name="Recognize").click()
    result = page.locator("#recognize-result")
    boxes = result.locator(".photo-boxes .box")
    expect(boxes).to_have_count(3)
    # Left to right: Biden, Obama, a stranger; each box is placed over its face.
    expect(boxes.nth(0)).to_have_text(re.compile(r"^1 · Joe Biden 0\.\d\d$"))
    expect(boxes.nth(0)).to_have_class(re.compile(r"\bmatch\b"))
    expect(boxes.nth(1)).to_have_text(re.compile(r"^2 · Barack Obama 0\.\d\d$"))
    expect(boxes.nth(2)).to_have_text("3 · unknown")
    expect(boxes.nth(2)).to_have_class(re.compile(r"\bunknown\b"))
    photo = result.get_by_role("img", name="obama_and_biden.jpg, with a box around each face")
    shown = photo.bounding_box()
    box = boxes.nth(1).bounding_box()
    assert shown and box and box["width"] > 10
    scale = shown["width"] / 2000  # the scene is 2000 px wide: Obama's face at x 1143-1331
    assert abs(box["x"] - shown["x"] - 1143 * scale) < 8

    faces = result.locator("li.recognized-face")
    expect(faces).to_have_count(3)
    second = faces.nth(1)
    expect(second.get_by_role("link", name="Barack Obama").first).to_have_attribute(
        "href", f"/ui/people/{obama}")
    expect(second.locator(".badge")).to_have_text("match")
    expect(second.get_by_role("table").locator("tbody tr")).to_have_count(2)
    expect(faces.nth(2).get_by_text("nobody close enough")).to_be_visible()
    viewer.shot(screenshots, "recognize-desktop")

    # Stricter thresholds make the same faces doubtful.
    page.get_by_text("Thresholds and candidates").click()
    page.get_by_label("Match from").fill("0.95")
    page.get_by_label("Review from").fill("0.2")
    page.get_by_role("button", name="Recognize").click()
    expect(boxes.nth(1)).to_have_text(re.compile(r"^2 · Barack Obama\? 0\.\d\d$"))
    expect(boxes.nth(1)).to_have_class(re.compile(r"\breview\b"))
    expect(result.get_by_text("match from 0.95, review from 0.20")).to_be_visible()


def test_recognize_on_a_phone_by_dropping_a_photo(
        open_page: Callable[..., Watched], screenshots: Path, db: Database,
        people: PeopleService) -> None:
    _register(db, people, "Barack Obama", "faces/obama/obama_1.jpg")
    viewer = open_page(Role.VIEWER, viewport=PHONE)
    page = viewer.go("/ui/recognize")
    encoded = base64.b64encode(data_file("faces/obama/obama_2.jpg").read_bytes()).decode()
    dropped = page.evaluate_handle("""(data) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "dropped.jpg", {type: "image/jpeg"}));
        return transfer;
    }""", encoded)
    page.locator(".dropzone").first.dispatch_event("drop", {"dataTransfer": dropped})
    expect(page.get_by_text("1 file(s) chosen")).to_be_visible()
    page.get_by_role("button", name="Recognize").click()
    box = page.locator("#recognize-result .box")
    expect(box).to_have_text(re.compile(r"^1 · Barack Obama 0\.\d\d$"))
    viewer.shot(screenshots, "recognize-phone")


def test_verify_two_photos(open_page: Callable[..., Watched], screenshots: Path,
                           tmp_path: Path) -> None:
    editor = open_page(Role.EDITOR, viewport=PHONE)
    page = editor.go("/ui/recognize")
    page.get_by_label("First photo").set_input_files(data_file("faces/obama/obama_1.jpg"))
    page.get_by_label("Second photo").set_input_files(data_file("faces/obama/obama_2.jpg"))
    expect(page.get_by_role("img", name="Second photo, as chosen")).to_be_visible()
    page.get_by_role("button", name="Compare").click()
    verdict = page.locator("#verify-result")
    expect(verdict.locator(".badge")).to_have_text("same person")
    expect(verdict).to_contain_text("(obama_1.jpg · obama_2.jpg)")
    expect(verdict.get_by_text(re.compile(r"^Threshold 0\.\d\d"))).to_be_visible()
    similarity = float(verdict.locator("strong").inner_text())
    assert similarity > 0.5
    editor.shot(screenshots, "verify-phone")

    page.get_by_label("Second photo").set_input_files(data_file("faces/biden/biden_1.jpg"))
    page.get_by_role("button", name="Compare").click()
    expect(verdict.locator(".badge")).to_have_text("not the same person")
    page.get_by_label("Same from").fill("-0.5")  # a threshold anyone passes
    page.get_by_role("button", name="Compare").click()
    expect(verdict.locator(".badge")).to_have_text("same person")
    expect(verdict.get_by_text("Threshold -0.50: from there, the same person.")).to_be_visible()
    editor.shot(screenshots, "verify-threshold-phone")

    blank = tmp_path / "blank.png"  # no face: said above the page, not a failed request
    cv2.imwrite(str(blank), np.full((240, 240, 3), 200, np.uint8))
    page.get_by_label("Second photo").set_input_files(blank)
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#flash").get_by_role("alert")).to_contain_text("no face")
