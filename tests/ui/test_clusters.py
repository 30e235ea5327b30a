"""Unknown faces in the browser: a scan's stranger named once (the card leaves, the flash
says what naming did), hidden and shown again; an event's groups named as someone known
through the person picker, a face taken out, two groups merged; what a viewer sees."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.enums import Role, TagSource
from likeness.media import decode_image
from likeness.services.clusters import ClusterService, InlineClustering
from likeness.services.events import EventRecords, EventService, ImageInput
from likeness.services.people import PeopleRecords
from likeness.services.videos import ScanOptions, VideoRecords, VideoService
from likeness.storage import ObjectStorage
from likeness.store import Database
from likeness.store import videos as videos_store
from likeness.store.models import Cluster
from tests.conftest import DATA, data_file
from tests.ui.conftest import PHONE, Watched
from tests.ui.test_events import load_lazy_images


@pytest.fixture
def clusters(settings: Settings) -> ClusterService:
    return ClusterService.from_settings(settings)


@pytest.fixture
def inline(db: Database, clusters: ClusterService, engine: FaceEngine) -> InlineClustering:
    """Clustering at once, in the test, rather than by the server's worker."""
    return InlineClustering(db.sessions, clusters, engine.model_name)


def scanned_stranger(engine: FaceEngine, settings: Settings, db: Database, session: Session,
                     inline: InlineClustering) -> tuple[int, int]:
    """The Hamilton clip scanned with nobody enrolled: (its video, Lin-Manuel Miranda's
    cluster, the one most like a photo of him)."""
    videos = VideoService.from_settings(engine, settings, inline)
    video, _ = VideoRecords.register(session, data_file("video/hamilton_clip.mp4"),
                                     "hamilton", ScanOptions())
    videos.scan(db.sessions, video.id)
    photo = next((DATA / "faces" / "lin_manuel_miranda").iterdir()).read_bytes()
    lin = engine.analyze(decode_image(photo))[0].require_embedding()
    ids = [c.id for c in session.query(Cluster).filter(Cluster.event_id.is_(None))]
    assert ids, "the scan formed no cluster"

    def likeness(cluster_id: int) -> float:
        mean = np.asarray(session.get_one(Cluster, cluster_id).weighted_sum)
        return float(mean @ lin / np.linalg.norm(mean))

    return video.id, max(ids, key=likeness)


def test_a_scanned_stranger_is_hidden_shown_again_and_named(
        open_page: Callable[..., Watched], screenshots: Path, engine: FaceEngine,
        settings: Settings, db: Database, session: Session, inline: InlineClustering
        ) -> None:
    video_id, lin = scanned_stranger(engine, settings, db, session, inline)

    viewer = open_page(Role.VIEWER, viewport=PHONE)
    page = viewer.go("/ui/clusters")
    card = page.locator(f"#cluster-{lin}")
    expect(card.get_by_role("heading")).to_contain_text(f"Unknown #{lin}")
    expect(card.get_by_role("link", name="hamilton")).to_have_attribute(
        "href", f"/ui/videos/{video_id}")
    expect(card.get_by_role("img").first).to_have_js_property("complete", True)
    expect(page.get_by_role("button", name="Name")).to_have_count(0)  # viewers look only
    expect(page.get_by_role("button", name="Hide")).to_have_count(0)
    viewer.shot(screenshots, "clusters-viewer-phone")

    editor = open_page(Role.EDITOR)
    page = editor.go("/ui/clusters")
    card = page.locator(f"#cluster-{lin}")
    for image in card.get_by_role("img").all():
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") > 0
    editor.shot(screenshots, "clusters-desktop")

    card.get_by_role("button", name="Hide").click()
    expect(card).to_have_count(0)
    expect(page.locator("#flash")).to_contain_text(f"Cluster #{lin} is hidden")
    page.get_by_role("link", name="Show hidden").click()
    expect(page.get_by_role("heading", name="Hidden faces")).to_be_visible()
    card = page.locator(f"#cluster-{lin}")
    expect(card.get_by_text("hidden", exact=True)).to_be_visible()
    editor.shot(screenshots, "clusters-hidden-desktop")
    card.get_by_role("button", name="Show again").click()
    expect(card).to_have_count(0)
    page.get_by_role("link", name="Back to unknown faces").click()

    card = page.locator(f"#cluster-{lin}")
    card.get_by_label("Who is this?").fill("Lin-Manuel Miranda")
    card.get_by_role("button", name="Name", exact=True).click()
    expect(card).to_have_count(0)
    flash = page.locator("#flash")
    expect(flash).to_contain_text("Named Lin-Manuel Miranda (new person):")
    expect(flash).to_contain_text(" enrolled")
    expect(flash).to_contain_text("; tagged in hamilton.")
    expect(page.locator("#clusters-count")).to_have_text("0 groups")
    editor.shot(screenshots, "clusters-named-desktop")
    person = PeopleRecords().named(session, "Lin-Manuel Miranda")
    assert person is not None
    expect(flash.get_by_role("link", name="See Lin-Manuel Miranda")).to_have_attribute(
        "href", f"/ui/people/{person.id}")
    tag = videos_store.get_tag(session, video_id, person.id)
    assert tag is not None and tag.source == TagSource.CLUSTER
    page.reload()
    expect(page.locator(f"#cluster-{lin}")).to_have_count(0)


EVENT_PHOTOS = ([p for person in ("obama", "biden", "alex_lacamoire", "rose_leslie")
                 for p in sorted((DATA / "faces" / person).iterdir())]
                + [DATA / "scenes" / name for name in ("obama_and_biden.jpg",
                                                       "kit_with_rose.jpg")])


def test_an_events_groups_named_as_someone_known_split_and_merged(
        open_page: Callable[..., Watched], screenshots: Path, engine: FaceEngine,
        settings: Settings, session: Session, clusters: ClusterService,
        inline: InlineClustering) -> None:
    """The event page's groups take the same decisions as the unknown faces."""
    storage = ObjectStorage.from_settings(settings)
    event_id = EventRecords(storage).create(session, "Gala").event.id
    EventService(engine, storage, keep_originals=True, clusters=inline).ingest_images(
        session, event_id, [ImageInput(p.name, p.read_bytes()) for p in EVENT_PHOTOS])
    obama = PeopleRecords().create(session, "Barack Obama").person
    groups = [c for c, _ in clusters.page_with_faces(session, event_id).items]
    assert [c.size for c in groups][:2] == [5, 3] and len(groups) >= 3, groups
    biggest, second, third = groups[:3]

    editor = open_page(Role.EDITOR, viewport=PHONE)
    page = editor.go(f"/ui/events/{event_id}")
    card = page.locator(f"#cluster-{biggest.id}")
    expect(card.get_by_role("heading")).to_contain_text("5 faces")
    load_lazy_images(page)  # as a person sees them, before taking one out
    editor.shot(screenshots, "event-clusters-phone")

    # Not this person: the card again, a face fewer.
    card.get_by_role("button", name=f"Not this person: take face 1 out of unknown "
                                    f"#{biggest.id}").click()
    expect(card.get_by_role("heading")).to_contain_text("4 faces")

    # Two groups merged: the first selected keeps its card.
    merge = page.get_by_role("button", name="Merge selected")
    expect(merge).to_be_disabled()
    page.locator(f"#cluster-{second.id}").get_by_label("Select").check()
    page.locator(f"#cluster-{third.id}").get_by_label("Select").check()
    expect(page.get_by_text("2 selected")).to_be_visible()
    merge.click()
    expect(page.locator(f"#cluster-{third.id}")).to_have_count(0)
    expect(page.locator(f"#cluster-{second.id}").get_by_role("heading")).to_contain_text(
        f"{second.size + third.size} faces")
    expect(page.locator("#flash")).to_contain_text(f"Merged 2 clusters into #{second.id}.")
    expect(page.locator("#clusters-count")).to_have_text(f"{len(groups) - 1} groups")

    # Named as someone known, found by part of the name.
    card.get_by_text("Someone already known?").click()
    card.get_by_label("Search people by name").fill("oba")
    card.get_by_role("button", name="Barack Obama").click()
    expect(card).to_have_count(0)
    expect(page.locator("#flash")).to_contain_text("Named Barack Obama: ")
    assert PeopleRecords().get(session, obama.id).face_count >= 1
    editor.shot(screenshots, "event-clusters-named-phone")
