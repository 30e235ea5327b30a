"""Events end to end on shared/data: ingest by upload, URL and embedding; a selfie finds
exactly the photos of its person, group scenes included; events stay isolated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.errors import Conflict, InvalidInput, NotFound
from likeness.jobs.queue import JobQueue
from likeness.media.fetch import FetchPolicy
from likeness.services.events import EventRecords, EventService, ImageInput
from likeness.storage import ObjectStorage
from likeness.store import Database
from likeness.store import events as store
from tests.conftest import DATA, data_file
from tests.web import serving

PHOTOS = sorted(p.relative_to(DATA).as_posix() for folder in ("faces", "scenes")
                for p in (DATA / folder).rglob("*") if p.is_file())
OBAMA = {p for p in PHOTOS if p.startswith("faces/obama/")} | {
    "scenes/two_people.jpg", "scenes/obama_and_biden.jpg"}
SELFIE = "edge/obama-480p.jpg"  # not in the event


@pytest.fixture
def service(engine: FaceEngine, settings: Settings, tmp_path: Path) -> EventService:
    storage = ObjectStorage.from_settings(settings.model_copy(update={"storage_dir": tmp_path}))
    return EventService.from_settings(engine, storage, settings)


def uploads(paths: list[str]) -> list[ImageInput]:
    return [ImageInput(p, (DATA / p).read_bytes()) for p in paths]


def count(session: Session, sql: str) -> int:
    return session.execute(text(sql)).scalar_one()


def matched(service: EventService, session: Session, event_id: int, **query: object
            ) -> list[str]:
    matches, _ = service.match(session, event_id, **query)
    return [m.photo_key for m in matches]


def test_a_selfie_finds_exactly_its_persons_photos(service: EventService,
                                                   session: Session) -> None:
    event = store.create_event(session, "wedding")
    session.commit()
    results = service.ingest_images(session, event.id, uploads(PHOTOS))
    assert all(r.created for r in results)
    faces = {r.photo.photo_key: len(r.faces) for r in results}
    assert faces["scenes/obama_and_biden.jpg"] == 3 and faces["scenes/two_people.jpg"] == 2
    assert all(f.bbox is not None for r in results for f in r.faces)

    matches, threshold = service.match(session, event.id,
                                       selfie=data_file(SELFIE).read_bytes())
    assert {m.photo_key for m in matches} == OBAMA
    assert len(matches) == len(OBAMA)  # each photo once
    assert threshold == service.engine.thresholds.verify
    similarities = [m.similarity for m in matches]
    assert similarities == sorted(similarities, reverse=True)
    group = next(m for m in matches if m.photo_key == "scenes/two_people.jpg")
    assert group.bbox is not None and group.bbox[0] < 300  # obama, on the left (README)
    assert matched(service, session, event.id, selfie=data_file(SELFIE).read_bytes(),
                   top_k=2) == [m.photo_key for m in matches[:2]]

    # Ingesting the same photo ids again stores nothing new.
    before = count(session, "SELECT count(*) FROM photo_faces")
    again = service.ingest_images(session, event.id, uploads(PHOTOS[:3]))
    assert not any(r.created for r in again)
    assert count(session, "SELECT count(*) FROM photo_faces") == before
    with pytest.raises(Conflict, match="other content"):
        service.ingest_images(session, event.id, [ImageInput(
            PHOTOS[0], data_file("faces/rose_leslie/rose_1.jpg").read_bytes())])


def test_events_are_isolated(service: EventService, session: Session) -> None:
    first, second = store.create_event(session, "a"), store.create_event(session, "b")
    session.commit()
    service.ingest_images(session, first.id, uploads(["faces/obama/obama_1.jpg"]))
    service.ingest_images(session, second.id, uploads(["faces/biden/biden_1.jpg",
                                                       "faces/obama/obama_2.jpg"]))
    selfie = data_file(SELFIE).read_bytes()
    assert matched(service, session, first.id, selfie=selfie) == ["faces/obama/obama_1.jpg"]
    assert matched(service, session, second.id, selfie=selfie) == ["faces/obama/obama_2.jpg"]
    EventRecords(service.storage).delete_event(session, second.id)
    assert matched(service, session, first.id, selfie=selfie) == ["faces/obama/obama_1.jpg"]
    with pytest.raises(NotFound):
        service.match(session, second.id, selfie=selfie)


@pytest.fixture
def site() -> Iterator[str]:
    with serving(DATA) as base:
        yield base


def test_url_ingest_downloads_in_a_job_and_refuses_private_addresses(
        service: EventService, session: Session, db: Database, settings: Settings,
        site: str) -> None:
    event = store.create_event(session, "by url")
    session.commit()
    queue = JobQueue(db, settings)
    with pytest.raises(InvalidInput, match="loopback"):  # the default policy
        EventRecords(service.storage, queue=queue).request_url(
            session, event.id, "x", f"{site}/faces/obama/obama_1.jpg")
    assert count(session, "SELECT count(*) FROM photos") == 0

    policy = FetchPolicy(allow_private=True, timeout_s=5)
    records = EventRecords(service.storage, policy, queue)
    local = EventService(service.engine, service.storage, fetch_policy=policy)
    paths = ["faces/obama/obama_3.jpg", "scenes/obama_and_biden.jpg", "faces/biden/biden_2.jpg"]
    for path in paths:
        requested = records.request_url(session, event.id, path, f"{site}/{path}")
        assert requested.job_id is not None and requested.photo.status == "pending"
        local.complete_url(session, requested.photo.id, last_attempt=False)  # the job's work
    assert count(session, "SELECT count(*) FROM procrastinate_jobs "
                          "WHERE task_name = 'ingest_photo_url'") == 3
    broken = records.request_url(session, event.id, "gone", f"{site}/missing.jpg").photo
    local.complete_url(session, broken.id, last_attempt=False)  # 404: no retry helps
    session.expire_all()
    assert store.get_photo(session, broken.id).status == "failed"
    assert "HTTP 404" in (store.get_photo(session, broken.id).error or "")
    flaky = records.request_url(session, event.id, "flaky", f"{site}/status/503").photo
    with pytest.raises(Exception, match="HTTP 503"):  # re-raised: the queue retries it
        local.complete_url(session, flaky.id, last_attempt=False)
    local.complete_url(session, flaky.id, last_attempt=True)
    session.expire_all()
    assert store.get_photo(session, flaky.id).status == "failed"

    assert set(matched(local, session, event.id, selfie=data_file(SELFIE).read_bytes())) == {
        "faces/obama/obama_3.jpg", "scenes/obama_and_biden.jpg"}
    again = records.request_url(session, event.id, paths[0], f"{site}/{paths[0]}")
    assert again.job_id is None  # already stored: not downloaded again


def test_embedding_ingest_and_match(service: EventService, engine: FaceEngine,
                                    session: Session) -> None:
    event = store.create_event(session, "embeddings")
    session.commit()
    embeddings = {}
    for path in ["faces/obama/obama_4.jpg", "faces/rose_leslie/rose_1.jpg"]:
        image = (DATA / path).read_bytes()
        face = service.ingest_images(session, None, [ImageInput(path, image)])[0].faces[0]
        embeddings[path] = np.asarray(face.embedding)
        scaled = (embeddings[path] * 3.0).tolist()  # normalised on the way in
        assert service.ingest_embedding(session, event.id, path, scaled).created
    assert not service.ingest_embedding(session, event.id, "faces/obama/obama_4.jpg",
                                        embeddings["faces/obama/obama_4.jpg"].tolist()).created
    selfie = service.ingest_images(session, None, uploads([SELFIE]))[0].faces[0]
    assert matched(service, session, event.id, embedding=list(map(float, selfie.embedding))
                   ) == ["faces/obama/obama_4.jpg"]
    assert matched(service, session, event.id, selfie=data_file(SELFIE).read_bytes(),
                   threshold=-1.0) == ["faces/obama/obama_4.jpg", "faces/rose_leslie/rose_1.jpg"]


@pytest.mark.parametrize(("values", "message"), [
    ([0.1] * 511, "512 numbers"), ([float("nan")] + [0.1] * 511, "NaN"),
    ([0.0] * 512, "zero"), ([[0.1] * 512], "512 numbers")])
def test_bad_embeddings_are_refused(service: EventService, session: Session,
                                    values: list, message: str) -> None:
    event = store.create_event(session, "x")
    session.commit()
    with pytest.raises(InvalidInput, match=message):
        service.ingest_embedding(session, event.id, "p", values)
    with pytest.raises(InvalidInput, match=message):
        service.match(session, event.id, embedding=values)
    assert count(session, "SELECT count(*) FROM photos") == 0


def test_deleting_an_event_removes_rows_and_stored_originals(
        engine: FaceEngine, settings: Settings, session: Session, tmp_path: Path) -> None:
    storage = ObjectStorage.from_settings(settings.model_copy(update={"storage_dir": tmp_path}))
    keeping = EventService(engine, storage, keep_originals=True)
    event = store.create_event(session, "private")
    session.commit()
    result = keeping.ingest_images(session, event.id, uploads(["faces/biden/biden_1.jpg"]))[0]
    assert result.photo.original_location is not None
    original = tmp_path / result.photo.original_location.removeprefix("fs://")
    assert original.read_bytes() == data_file("faces/biden/biden_1.jpg").read_bytes()
    EventRecords(storage).delete_event(session, event.id)
    assert not original.exists()
    for table in ("events", "photos", "photo_faces"):
        assert count(session, f"SELECT count(*) FROM {table}") == 0
