"""Scanning the Hamilton clip end to end: tracks, tags, review, retro-matching."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.errors import Conflict, InvalidInput, Rejected
from likeness.services.people import PeopleService, Upload
from likeness.services.videos import ScanOptions, VideoRecords, VideoService
from likeness.store import Database
from likeness.store import people as people_store
from likeness.store import videos as store
from likeness.store.models import Track
from tests.conftest import DATA, data_file

CLIP = "video/hamilton_clip.mp4"


def enroll(session: Session, people: PeopleService, name: str, folder: str) -> int:
    photos = [Upload(p.name, p.read_bytes()) for p in sorted((DATA / "faces" / folder).glob("*"))]
    return people.register(session, name, photos).person.person.id


@pytest.fixture
def videos(engine: FaceEngine, settings: Settings) -> VideoService:
    return VideoService.from_settings(engine, settings)


@pytest.fixture
def records(settings: Settings) -> VideoRecords:
    return VideoRecords.from_settings(settings)


def scan(session: Session, db: Database, videos: VideoService,
         options: ScanOptions | None = None) -> int:
    video, _ = VideoRecords.register(session, data_file(CLIP), "hamilton",
                                     options or ScanOptions())
    return videos.scan(db.sessions, video.id).id


def tags(session: Session, video_id: int) -> dict[str, list[list[int]]]:
    return {name: tag.segments for tag, name in store.tags_of_video(session, video_id)}


def test_scan_tags_lin_and_alex_and_nobody_else(session: Session, db: Database,
                                                people: PeopleService,
                                                videos: VideoService) -> None:
    lin = enroll(session, people, "lin", "lin_manuel_miranda")
    alex = enroll(session, people, "alex", "alex_lacamoire")
    video_id = scan(session, db, videos)
    found = tags(session, video_id)
    lin_segments = found.pop("lin")
    assert any(a >= 2500 and b <= 7500 and b - a >= 3000 for a, b in lin_segments)
    reviews, _ = store.review_page(session, status="pending", limit=50, offset=0)
    proposed = {item.person_id for item, _, _ in reviews}
    assert "alex" in found or alex in proposed  # tagged or proposed for review
    found.pop("alex", None)
    assert found == {}  # nobody else is tagged with anyone
    tagged = session.execute(select(Track.person_id).where(Track.status == "tagged")).all()
    assert {p for (p,) in tagged} <= {lin, alex}
    video = store.get_video(session, video_id)
    assert video.status == "done" and video.samples_done == video.samples_total == 10
    counts = session.execute(text(
        "SELECT (SELECT count(*) FROM detections), (SELECT sum(detections) FROM tracks)")).one()
    assert counts[0] == counts[1] > 20  # every detection stored, each in one track


def test_retro_matching_finds_lin_without_decoding(session: Session, db: Database,
                                                   people: PeopleService, videos: VideoService,
                                                   records: VideoRecords) -> None:
    video_id = scan(session, db, videos)
    assert tags(session, video_id) == {}
    enrolled = people.register(session, "lin", [  # retro-matching comes with enrollment
        Upload(p.name, p.read_bytes())
        for p in sorted((DATA / "faces" / "lin_manuel_miranda").glob("*"))])
    assert enrolled.found.tagged_videos == 1
    (segments,) = tags(session, video_id).values()
    assert any(a >= 2500 and b <= 7500 for a, b in segments)
    lin = enrolled.person.person.id
    again = records.retro_match(session, lin, people.model, people.thresholds())  # idempotent
    assert again.tagged_videos == 0 and again.review_items == 0


def test_review_approve_and_reject(session: Session, db: Database, people: PeopleService,
                                   videos: VideoService, records: VideoRecords) -> None:
    lin = enroll(session, people, "lin", "lin_manuel_miranda")
    video_id = scan(session, db, videos)
    items, _ = store.review_page(session, status="pending", limit=50, offset=0)
    item, small = next((i, t) for i, t, _ in items if i.person_id == lin)  # Lin at 40 px
    with pytest.raises(Rejected, match="below the 48 px minimum"):
        records.approve(session, item.id, add_to_gallery=True)
    session.rollback()
    records.reject(session, item.id)
    with pytest.raises(Conflict):
        records.reject(session, item.id)
    again = records.retro_match(session, lin, people.model, people.thresholds())
    assert again.review_items == 0  # the rejection is remembered
    assert session.get(Track, small.id).status == "unknown"
    # an unknown track with a large face, proposed for someone and approved into the gallery
    large = session.execute(text(
        "SELECT t.id FROM tracks t JOIN detections d ON d.track_id = t.id "
        "WHERE t.status = 'unknown' GROUP BY t.id "
        "HAVING max((d.quality->>'face_size')::float) >= 60 LIMIT 1")).scalar()
    guest = people.register(session, "guest", [Upload("b.jpg", data_file(
        "faces/biden/biden_1.jpg").read_bytes())]).person.person
    store.propose(session, large, guest.id, 0.35)
    session.commit()
    items, _ = store.review_page(session, status="pending", limit=50, offset=0)
    (pending,) = [i for i, _, _ in items if i.person_id == guest.id]
    approved = records.approve(session, pending.id, add_to_gallery=True)
    assert approved.state.video.id == video_id
    assert "guest" in tags(session, video_id)
    assert len(people_store.faces_of(session, guest.id)) == 2


def test_rescanning_replaces_instead_of_duplicating(session: Session, db: Database,
                                                    people: PeopleService,
                                                    videos: VideoService) -> None:
    enroll(session, people, "lin", "lin_manuel_miranda")
    video_id = scan(session, db, videos, ScanOptions(keyframes=True))
    first = session.execute(text("SELECT count(*) FROM detections")).scalar()
    videos.scan(db.sessions, video_id)
    assert session.execute(text("SELECT count(*) FROM detections")).scalar() == first
    assert list(tags(session, video_id)) == ["lin"]


def test_a_bad_video_is_refused_and_a_failed_scan_stores_nothing(
        session: Session, db: Database, videos: VideoService, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 5000)
    with pytest.raises(InvalidInput):
        VideoRecords.register(session, bad, "bad", ScanOptions())
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(data_file(CLIP).read_bytes())
    video, _ = VideoRecords.register(session, clip, "clip", ScanOptions())
    clip.write_bytes(data_file(CLIP).read_bytes()[:40_000])  # damaged after registration
    with pytest.raises(InvalidInput):
        videos.scan(db.sessions, video.id)
    session.expire_all()
    assert store.get_video(session, video.id).status == "failed"
    assert session.execute(text("SELECT count(*) FROM tracks")).scalar() == 0
