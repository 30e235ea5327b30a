"""Clusters of unknown faces end to end, on real photos and the Hamilton clip, through the
real database: events' faces cluster by person, a scan's unknown tracks cluster and are
named once, and people's decisions (a face taken out, a hidden cluster, a merge) hold
through incremental passes and rebuilds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.enums import ClusterStatus, TagSource, TrackStatus
from likeness.errors import Conflict, InvalidInput, NotFound
from likeness.services.clustering import bcubed
from likeness.services.clusters import ClusterService, InlineClustering
from likeness.services.events import EventService, ImageInput
from likeness.services.people import PeopleService
from likeness.services.videos import ScanOptions, VideoRecords, VideoService
from likeness.storage import ObjectStorage
from likeness.store import Database
from likeness.store import events as events_store
from likeness.store import videos as videos_store
from likeness.store.models import Cluster
from tests.conftest import DATA, data_file

DEV = DATA / "celeba_dev"
IDENTITIES = sorted(p.name for p in DEV.iterdir() if p.is_dir())[:12]


@pytest.fixture
def clusters(settings: Settings) -> ClusterService:
    return ClusterService.from_settings(settings)


@pytest.fixture
def events(engine: FaceEngine, settings: Settings, tmp_path: Path) -> EventService:
    storage = ObjectStorage.from_settings(settings.model_copy(update={"storage_dir": tmp_path}))
    return EventService.from_settings(engine, storage, settings)


def dev_photos(identities: list[str], photos: slice = slice(None)) -> list[ImageInput]:
    return [ImageInput(f"{person}/{path.name}", path.read_bytes())
            for person in identities for path in sorted((DEV / person).iterdir())[photos]]


def event_labels(session: Session, event_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Each face's identity (its photo's folder) and cluster (-1: none)."""
    rows = session.execute(text(
        "SELECT p.photo_key, coalesce(f.cluster_id, -f.id) FROM photo_faces f "
        "JOIN photos p ON p.id = f.photo_id WHERE f.event_id = :event ORDER BY f.id"),
        {"event": event_id}).all()
    return np.array([key.split("/")[0] for key, _ in rows]), np.array([c for _, c in rows])


def largest_face_only(events: EventService, session: Session, event_id: int,
                      inputs: list[ImageInput]) -> None:
    """Ingest, keeping each photo's largest face: CelebA photos hold one labelled person,
    and sometimes a bystander."""
    for result in events.ingest_images(session, event_id, inputs):
        extra = sorted(result.faces, key=lambda f: -(f.bbox[2] - f.bbox[0]))[1:]
        for face in extra:
            session.delete(face)
    session.commit()


def test_an_events_faces_cluster_by_person_incrementally(
        events: EventService, clusters: ClusterService, session: Session) -> None:
    event_id = events_store.create_event(session, "gala").id
    session.commit()
    largest_face_only(events, session, event_id, dev_photos(IDENTITIES, slice(0, 6)))
    first = clusters.update(session, event_id, events.model)
    assert first.formed >= 10 and first.joined == 0
    largest_face_only(events, session, event_id, dev_photos(IDENTITIES, slice(6, None)))
    second = clusters.update(session, event_id, events.model)
    assert second.joined >= 0.8 * second.faces  # later photos join the clusters they match
    truth, found = event_labels(session, event_id)
    precision, recall, f1 = bcubed(truth, found)
    assert precision >= 0.98 and f1 >= 0.9, (precision, recall, f1)

    rebuilt = clusters.rebuild(session, event_id, events.model)
    truth, found_again = event_labels(session, event_id)
    assert bcubed(truth, found_again)[0] >= 0.98
    kept = set(found[found > 0]) & set(found_again[found_again > 0])
    assert len(kept) >= 0.8 * len(set(found[found > 0]))  # ids survive a rebuild
    assert rebuilt.faces == len(truth)

    page = clusters.page(session, event_id, limit=5)
    assert page.total >= 10 and len(page.items) == 5
    assert [c.size for c in page.items] == sorted((c.size for c in page.items), reverse=True)
    faces = clusters.faces(session, page.items[0].id, limit=100)
    assert len(faces.items) == page.items[0].size == faces.total
    assert all(f.photo_key and f.photo_id and f.bbox for f in faces.items)
    assert clusters.thumbnail(session, page.items[0].id, faces.items[0].id)[:2] == b"\xff\xd8"


def test_decisions_hold_through_updates_and_rebuilds(
        events: EventService, clusters: ClusterService, session: Session) -> None:
    event_id = events_store.create_event(session, "party").id
    session.commit()
    largest_face_only(events, session, event_id, dev_photos(IDENTITIES[:4]))
    clusters.update(session, event_id, events.model)
    biggest, second, *_ = clusters.page(session, event_id).items
    taken = clusters.faces(session, biggest.id).items[0].id

    clusters.remove_face(session, biggest.id, taken)
    with pytest.raises(NotFound):
        clusters.remove_face(session, biggest.id, taken)
    clusters.update(session, event_id, events.model)
    clusters.rebuild(session, event_id, events.model)
    assert taken not in {f.id for f in clusters.faces(session, biggest.id, limit=100).items}
    assert clusters.get(session, biggest.id).size == biggest.size - 1

    merged = clusters.merge(session, biggest.id, second.id)
    assert merged.size == biggest.size - 1 + second.size
    with pytest.raises(NotFound):
        clusters.get(session, second.id)
    with pytest.raises(InvalidInput):
        clusters.merge(session, biggest.id, biggest.id)

    hidden = clusters.set_hidden(session, biggest.id, True)
    assert hidden.status == ClusterStatus.HIDDEN
    assert biggest.id not in {c.id for c in clusters.page(session, event_id).items}
    clusters.rebuild(session, event_id, events.model)
    assert clusters.get(session, biggest.id).size == merged.size  # left as it was
    other = events_store.create_event(session, "elsewhere").id
    session.commit()
    with pytest.raises(Conflict):  # events never mix
        largest_face_only(events, session, other, dev_photos(IDENTITIES[4:5]))
        clusters.update(session, other, events.model)
        clusters.merge(session, biggest.id, clusters.page(session, other).items[0].id)


def test_a_scans_unknown_tracks_are_named_once(
        engine: FaceEngine, settings: Settings, db: Database, session: Session,
        clusters: ClusterService, people: PeopleService) -> None:
    inline = InlineClustering(db.sessions, clusters, engine.model_name)
    videos = VideoService.from_settings(engine, settings, inline)
    video, _ = VideoRecords.register(session, data_file("video/hamilton_clip.mp4"),
                                     "hamilton", ScanOptions())
    videos.scan(db.sessions, video.id)
    page = clusters.page(session, None)
    assert page.total >= 1
    lin_photo = (DATA / "faces" / "lin_manuel_miranda").iterdir().__next__().read_bytes()
    lin_face = people.recognize_photo(session, lin_photo).faces[0].face
    lin = max(page.items, key=lambda c: _similarity(session, c.id, lin_face.embedding))
    assert lin.videos and lin.videos[0].video_id == video.id
    assert lin.videos[0].first_ms < lin.videos[0].last_ms

    named = clusters.name(session, lin.id, name="Lin-Manuel Miranda")
    assert named.created and named.enrolled >= 1 and named.videos == [video.id]
    tag = videos_store.get_tag(session, video.id, named.person_id)
    assert tag is not None and tag.source == TagSource.CLUSTER
    assert lin.id not in {c.id for c in clusters.page(session, None).items}
    assert session.execute(text(
        "SELECT count(*) FROM tracks WHERE cluster_id = :c AND status <> :tagged"),
        {"c": lin.id, "tagged": TrackStatus.TAGGED.value}).scalar_one() == 0
    with pytest.raises(Conflict):
        clusters.name(session, lin.id, person_id=named.person_id)
    # Named once: a photo of him is now recognised as the person.
    recognized = people.recognize_photo(session, lin_photo).faces[0]
    assert recognized.person is not None and recognized.person.person_id == named.person_id

    # A rescan replaces the tracks: the clustering mends itself on its next pass.
    videos.scan(db.sessions, video.id)
    assert all(c.size == clusters.get(session, c.id).size
               for c in clusters.page(session, None).items)


def _similarity(session: Session, cluster_id: int, embedding: np.ndarray) -> float:
    mean = np.asarray(session.get_one(Cluster, cluster_id).weighted_sum)
    return float(mean @ embedding / np.linalg.norm(mean))
