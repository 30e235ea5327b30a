"""The people pages in a browser: the list (portraits, search as you type, pages), a person
(adding photos with each one's verdict, renaming, removing a face, merging, deleting, the
videos they are in), and what a viewer may not do."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from playwright.sync_api import Page, expect

from likeness.enums import Role
from likeness.services.people import PeopleService, Upload
from likeness.store import Database
from likeness.store import people as people_store
from likeness.store import videos as video_store
from tests.conftest import data_file
from tests.ui.conftest import PHONE, Watched


def _register(db: Database, people: PeopleService, name: str, *photos: str) -> int:
    uploads = [Upload(Path(p).name, data_file(p).read_bytes()) for p in photos]
    with db.session() as session:
        return people.register(session, name, uploads).person.person.id


def _faces(page: Page) -> int:
    return page.locator("#faces li.face").count()


def test_create_a_person_add_photos_rename_and_remove_a_face(
        open_page: Callable[..., Watched], screenshots: Path, tmp_path: Path) -> None:
    editor = open_page(Role.EDITOR)
    page = editor.go("/ui/people")
    expect(page.get_by_text("Nobody yet")).to_be_visible()
    page.get_by_label("Name of the new person").fill("Barack")
    page.get_by_role("button", name="Add person").click()
    page.wait_for_url(re.compile(r".*/ui/people/\d+$"))
    expect(page.get_by_role("heading", name="Barack", level=1)).to_be_visible()
    expect(page.get_by_text("No faces yet")).to_be_visible()

    blank = tmp_path / "blank.png"  # no face at all: the shared photos all have one
    cv2.imwrite(str(blank), np.full((300, 300, 3), 90, np.uint8))
    page.get_by_label("Drop photos here, or choose them").set_input_files([
        data_file("faces/obama/obama_1.jpg"), data_file("faces/obama/obama_2.jpg"), blank,
        data_file("scenes/obama_and_biden.jpg")])
    expect(page.get_by_text("4 file(s) chosen")).to_be_visible()
    page.get_by_role("button", name="Add photos").click()
    outcomes = page.get_by_role("list", name="What became of each photo")
    expect(outcomes.locator("li")).to_have_count(4)
    expect(outcomes.locator("li.ok")).to_have_count(2)
    expect(outcomes.get_by_text("obama_1.jpg: added")).to_be_visible()
    expect(outcomes.get_by_text("blank.png: no face found in blank.png")).to_be_visible()
    expect(outcomes.get_by_text(re.compile("obama_and_biden.jpg: .*has 3 faces"))).to_be_visible()
    expect(page.get_by_text("For a group photo, tick")).to_be_visible()
    expect(page.locator("#faces-heading")).to_have_text("Faces (2)")
    face = page.locator("#faces li.face").first
    expect(face.get_by_text("Size")).to_be_visible()
    expect(face.get_by_text(re.compile(r"^-?\d+° / -?\d+°$"))).to_be_visible()  # pose
    expect(face.get_by_text("turned")).to_have_count(0)
    expect(face.get_by_role("img", name="Face 1 of Barack")).to_be_visible()
    expect(page.get_by_text("4 file(s) chosen")).to_be_hidden()  # the form was cleared
    editor.shot(screenshots, "person-refused-desktop")

    # The group photo is taken with its largest face when asked; a photo sent again is
    # recognised as one the person has.
    page.get_by_label("Drop photos here, or choose them").set_input_files([
        data_file("scenes/obama_and_biden.jpg"), data_file("faces/obama/obama_1.jpg")])
    page.get_by_label("In group photos, take the largest face").check()
    page.get_by_role("button", name="Add photos").click()
    expect(outcomes.get_by_text("obama_and_biden.jpg: added")).to_be_visible()
    expect(outcomes.get_by_text("obama_1.jpg: already enrolled")).to_be_visible()
    assert _faces(page) == 3
    editor.shot(screenshots, "person-desktop")

    page.get_by_text("Rename").click()
    page.get_by_label("New name").fill("Barack Obama")
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_role("heading", name="Barack Obama", level=1)).to_be_visible()
    expect(page.get_by_text("Renamed to Barack Obama.")).to_be_visible()

    page.get_by_role("button", name="Remove face 3").click()
    expect(page.locator("#faces-heading")).to_have_text("Faces (2)")
    page.reload()
    assert _faces(page) == 2
    expect(page.get_by_role("heading", name="Barack Obama", level=1)).to_be_visible()


def test_search_as_you_type_and_pages(open_page: Callable[..., Watched], screenshots: Path,
                                      db: Database, people: PeopleService) -> None:
    obama = _register(db, people, "Barack Obama", "faces/obama/obama_1.jpg")
    _register(db, people, "Joe Biden", "faces/biden/biden_1.jpg")
    with db.session() as session:
        people_store.add_people(session, [f"Extra {n:02d}" for n in range(60)])
        session.commit()
    viewer = open_page(Role.VIEWER)
    page = viewer.go("/ui/people")
    expect(page.get_by_text("62 people · 1\u201348 shown")).to_be_visible()
    expect(page.get_by_role("img", name="Barack Obama")).to_be_visible()
    expect(page.get_by_role("button", name="Add person")).to_have_count(0)
    viewer.shot(screenshots, "people-desktop")

    page.get_by_role("link", name="Next").click()
    expect(page.get_by_text("62 people · 49\u201362 shown")).to_be_visible()
    expect(page.get_by_text("page 2 of 2")).to_be_visible()
    assert "offset=48" in page.url

    page.get_by_label("Search by name").fill("bid")
    expect(page.get_by_text("1 person matching “bid”")).to_be_visible()
    grid = page.locator(".people-grid")
    expect(grid.get_by_role("link")).to_have_count(1)
    expect(grid.get_by_role("link", name="Joe Biden")).to_be_visible()
    assert "q=bid" in page.url
    page.get_by_label("Search by name").fill("nobody at all")
    expect(page.get_by_text("Nobody's name contains “nobody at all”.")).to_be_visible()

    phone = open_page(Role.VIEWER, viewport=PHONE)
    phone_page = phone.go("/ui/people?q=barack")
    phone_page.get_by_role("link", name="Barack Obama").click()
    phone_page.wait_for_url(f"**/ui/people/{obama}")
    expect(phone_page.get_by_role("img", name="Face 1 of Barack Obama")).to_be_visible()
    phone.shot(screenshots, "person-viewer-phone")
    phone.go("/ui/people")
    phone.shot(screenshots, "people-phone")


def test_a_viewer_sees_no_write_controls(open_page: Callable[..., Watched], db: Database,
                                         people: PeopleService) -> None:
    obama = _register(db, people, "Barack Obama", "faces/obama/obama_1.jpg")
    page = open_page(Role.VIEWER).go(f"/ui/people/{obama}")
    expect(page.get_by_role("heading", name="Barack Obama", level=1)).to_be_visible()
    expect(page.locator("#faces li.face")).to_have_count(1)
    for name in ("Add photos", "Remove face 1", "Save name", "Delete person"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_text("Rename")).to_have_count(0)
    expect(page.get_by_label("Find the other person")).to_have_count(0)
    expect(page.locator("input[type=file]")).to_have_count(0)


def test_videos_merge_and_delete(open_page: Callable[..., Watched], screenshots: Path,
                                 db: Database, people: PeopleService) -> None:
    obama = _register(db, people, "Barack Obama", "faces/obama/obama_1.jpg")
    twin = _register(db, people, "Obama (again)", "faces/obama/obama_2.jpg",
                     "faces/obama/obama_4.jpg")
    with db.session() as session:  # a scanned video that he is tagged in
        video, _ = video_store.add_video(session, {
            "source": "town-hall.mp4", "path": "/videos/town-hall.mp4", "sha256": "ab" * 32,
            "status": "done", "sample_fps": 1.0, "keyframes": False, "duration_ms": 95_000})
        video_store.put_tag(session, video.id, obama, 0.62, [[3_000, 9_500], [61_000, 75_000]],
                            "scan")
        session.commit()
    editor = open_page(Role.EDITOR, viewport=PHONE)
    page = editor.go(f"/ui/people/{obama}")
    expect(page.get_by_role("link", name="town-hall.mp4")).to_have_attribute(
        "href", f"/ui/videos/{video.id}")
    expect(page.get_by_role("link", name="1:01\u20131:15")).to_be_visible()
    expect(page.get_by_text("of 1:35")).to_be_visible()

    page.get_by_label("Find the other person").fill("again")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Merge Obama (again) here").click()
    expect(page.get_by_text("Merged: 2 faces moved to Barack Obama.")).to_be_visible()
    expect(page.locator("#faces li.face")).to_have_count(3)
    editor.shot(screenshots, "person-editor-phone")
    page.get_by_label("Find the other person").fill("obama")
    expect(page.get_by_text("Nobody else's name contains “obama”.")).to_be_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete person").click()
    page.wait_for_url("**/ui/people")
    expect(page.get_by_text("Nobody yet")).to_be_visible()
    with db.session() as session:
        assert people_store.find_person(session, twin) is None
        assert video_store.tags_of_person(session, obama) == []
