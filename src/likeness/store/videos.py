"""Every query on videos, their tracks and detections, tags and the review queue."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, defer

from likeness.enums import ReviewStatus, TagSource, TrackStatus
from likeness.errors import Conflict, NotFound
from likeness.store import vectors
from likeness.store.models import Person, ReviewItem, Track, Video, VideoTag


@dataclass(frozen=True, slots=True)
class NewTrack:
    """A track of a finished scan and its detections, ready to store."""

    track: dict[str, Any]  # Track columns but video_id
    detections: list[dict[str, Any]]  # detections columns but video_id and track_id
    review_person: tuple[int, float] | None = None  # (person, similarity) to propose


# ---------------------------------------------------------------- videos

def add_video(session: Session, values: dict[str, Any]) -> tuple[Video, bool]:
    """The video with this content (sha256), created if new; (video, created)."""
    statement = pg_insert(Video).values(**values).on_conflict_do_nothing(
        index_elements=["sha256"]).returning(Video.id)
    new_id = session.execute(statement).scalar()
    if new_id is not None:
        return session.get_one(Video, new_id), True
    return session.scalars(select(Video).where(Video.sha256 == values["sha256"])).one(), False


def video_with_sha256(session: Session, sha256: str) -> Video | None:
    return session.scalars(select(Video).where(Video.sha256 == sha256)).one_or_none()


def get_video(session: Session, video_id: int) -> Video:
    video = session.get(Video, video_id)
    if video is None:
        raise NotFound(f"video {video_id} does not exist")
    return video


def get_track(session: Session, track_id: int) -> Track:
    track = session.get(Track, track_id)
    if track is None:
        raise NotFound(f"track {track_id} does not exist")
    return track


def list_videos(session: Session, *, status: str | None, limit: int, offset: int
                ) -> tuple[list[Video], int]:
    query = select(Video)
    if status:
        query = query.where(Video.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(session.scalars(query.order_by(Video.id).limit(limit).offset(offset))), total


def delete_video(session: Session, video_id: int) -> Video:
    """The video with its tracks, detections, tags and review items (cascade)."""
    video = get_video(session, video_id)
    session.delete(video)
    return video


def set_status(session: Session, video_id: int, **values: Any) -> None:
    session.execute(update(Video).where(Video.id == video_id).values(**values))


# ---------------------------------------------------------------- scan results

def replace_scan(session: Session, video_id: int, model: str,
                 tracks: Sequence[NewTrack]) -> list[int]:
    """Store a finished scan, replacing whatever an earlier attempt stored, so a retried
    job never duplicates; the ids of the new tracks, in order. The video's row is locked
    first: two attempts finishing at once (a worker taken for dead that was only slow)
    replace one after the other instead of both inserting."""
    session.execute(select(Video.id).where(Video.id == video_id).with_for_update())
    session.execute(delete(Track).where(Track.video_id == video_id))
    session.execute(delete(VideoTag).where(VideoTag.video_id == video_id,
                                           VideoTag.source != TagSource.REVIEW))
    ids: list[int] = []
    for new in tracks:
        track_id = session.execute(pg_insert(Track).values(
            video_id=video_id, model=model, **new.track).returning(Track.id)).scalar_one()
        ids.append(track_id)
        if new.detections:
            session.execute(text("""
                INSERT INTO detections (video_id, track_id, time_ms, frame_index, bbox,
                                        det_score, quality, embedding, crop_jpeg)
                SELECT :video, :track, d.time_ms, d.frame_index, d.bbox, d.det_score,
                       d.quality, d.embedding, d.crop_jpeg
                FROM unnest(CAST(:times AS int[]), CAST(:frames AS int[]),
                            CAST(:boxes AS jsonb[]), CAST(:scores AS real[]),
                            CAST(:qualities AS jsonb[]), CAST(:embeddings AS vector[]),
                            CAST(:crops AS bytea[]))
                     AS d(time_ms, frame_index, bbox, det_score, quality, embedding,
                          crop_jpeg)"""), {
                "video": video_id, "track": track_id,
                "times": [d["time_ms"] for d in new.detections],
                "frames": [d["frame_index"] for d in new.detections],
                "boxes": [json.dumps(d["bbox"]) for d in new.detections],
                "scores": [d["det_score"] for d in new.detections],
                "qualities": [json.dumps(d["quality"]) for d in new.detections],
                "embeddings": [np.asarray(d["embedding"], np.float32)
                               for d in new.detections],
                "crops": [d["crop_jpeg"] for d in new.detections]})
        if new.review_person is not None:
            propose(session, track_id, *new.review_person)
    return ids


def get_tag(session: Session, video_id: int, person_id: int) -> VideoTag | None:
    return session.get(VideoTag, (video_id, person_id))


def put_tag(session: Session, video_id: int, person_id: int, confidence: float,
            segments: list[list[int]], source: str) -> None:
    """Tag the video with the person (replacing the tag's segments and confidence)."""
    values = {"confidence": confidence, "first_ms": segments[0][0],
              "last_ms": segments[-1][1], "segments": segments, "source": source}
    session.execute(pg_insert(VideoTag).values(video_id=video_id, person_id=person_id,
                                               **values)
                    .on_conflict_do_update(index_elements=["video_id", "person_id"],
                                           set_=values))


def tags_of_video(session: Session, video_id: int) -> list[tuple[VideoTag, str]]:
    get_video(session, video_id)
    rows = session.execute(select(VideoTag, Person.name).join(
        Person, Person.id == VideoTag.person_id).where(VideoTag.video_id == video_id)
        .order_by(VideoTag.first_ms))
    return [(tag, name) for tag, name in rows]


def tags_of_person(session: Session, person_id: int) -> list[tuple[VideoTag, Video]]:
    rows = session.execute(select(VideoTag, Video).join(Video, Video.id == VideoTag.video_id)
                           .where(VideoTag.person_id == person_id).order_by(Video.id))
    return [(tag, video) for tag, video in rows]


def track_counts(session: Session, video_id: int) -> dict[str, int]:
    rows = session.execute(select(Track.status, func.count()).where(Track.video_id == video_id)
                           .group_by(Track.status))
    return {status: count for status, count in rows}


def tracks_like(session: Session, embedding: np.ndarray, model: str, min_similarity: float,
                limit: int = 1000) -> list[tuple[Track, float]]:
    """Untagged tracks of any video at least `min_similarity` to `embedding` (an exact
    scan, or the external index's candidates: store/vectors.py)."""
    distance = Track.embedding.cosine_distance(np.asarray(embedding, np.float32))
    query = select(Track, distance).where(
        Track.model == model, Track.status != TrackStatus.TAGGED,
        distance <= 1 - min_similarity)
    ids = vectors.within(session, vectors.TRACKS, embedding, min_similarity, {"model": model})
    if ids is not None:
        query = query.where(text(vectors.TRACKS.candidates("tracks.id")).bindparams(ids=ids))
    rows = session.execute(query.order_by(distance).limit(limit))
    return [(track, 1 - float(d)) for track, d in rows]


# ---------------------------------------------------------------- review

def propose(session: Session, track_id: int, person_id: int, similarity: float
            ) -> int | None:
    """Queue a review item unless this track was already proposed for this person
    (a rejection is remembered); the new item's id, None when none was added."""
    statement = pg_insert(ReviewItem).values(
        track_id=track_id, person_id=person_id, similarity=similarity).on_conflict_do_nothing(
        constraint="review_items_track_person_key").returning(ReviewItem.id)
    return session.execute(statement).scalar()


def review_page(session: Session, *, status: str, limit: int, offset: int
                ) -> tuple[list[tuple[ReviewItem, Track, str]], int]:
    return review_queue(session, status=status, limit=limit, offset=offset)


def pending_item(session: Session, item_id: int) -> tuple[ReviewItem, Track]:
    item = session.get(ReviewItem, item_id, with_for_update=True)
    if item is None:
        raise NotFound(f"review item {item_id} does not exist")
    if item.status != ReviewStatus.PENDING:
        raise Conflict(f"review item {item_id} is already {item.status}")
    return item, session.get_one(Track, item.track_id)


def decide(session: Session, item: ReviewItem, status: ReviewStatus) -> None:
    item.status = status
    item.decided_at = datetime.now(UTC)


def track_detections(session: Session, track_id: int) -> list[Any]:
    return list(session.execute(text(
        "SELECT id, time_ms, bbox, det_score, quality, embedding, crop_jpeg FROM detections "
        "WHERE track_id = :track ORDER BY time_ms"), {"track": track_id}))



# ---------------------------------------------------------------- the web UI's lists

def video_listing(session: Session, *, status: str | None, limit: int, offset: int
                  ) -> tuple[list[tuple[Video, list[str], int]], int]:
    """Videos newest first, each with the names of who is tagged in it (by first
    appearance) and its pending review items; three queries whatever the page size."""
    query = select(Video)
    if status:
        query = query.where(Video.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    videos = list(session.scalars(query.order_by(Video.id.desc()).limit(limit).offset(offset)))
    ids = [video.id for video in videos]
    names: dict[int, list[str]] = {}
    for video_id, name in session.execute(
            select(VideoTag.video_id, Person.name).join(Person, Person.id == VideoTag.person_id)
            .where(VideoTag.video_id.in_(ids)).order_by(VideoTag.first_ms, Person.name)):
        names.setdefault(video_id, []).append(name)
    pending: dict[int, int] = {video_id: n for video_id, n in session.execute(
        select(Track.video_id, func.count()).join(ReviewItem, ReviewItem.track_id == Track.id)
        .where(Track.video_id.in_(ids), ReviewItem.status == ReviewStatus.PENDING)
        .group_by(Track.video_id))}
    return [(video, names.get(video.id, []), pending.get(video.id, 0))
            for video in videos], total


def review_queue(session: Session, *, status: str, person_id: int | None = None,
                 video_id: int | None = None, limit: int, offset: int
                 ) -> tuple[list[tuple[ReviewItem, Track, str]], int]:
    """Review items of a status, oldest first, optionally only those that propose one
    person or come from one video. The page's ids are chosen first, on the items alone
    (tracks joined only to filter by video), and only its rows load their tracks, without
    the embeddings and crops nobody shows."""
    ids = select(ReviewItem.id).where(ReviewItem.status == status)
    if person_id is not None:
        ids = ids.where(ReviewItem.person_id == person_id)
    if video_id is not None:
        ids = ids.join(Track, Track.id == ReviewItem.track_id).where(Track.video_id == video_id)
    total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    page = ids.order_by(ReviewItem.id).limit(limit).offset(offset).subquery()
    rows = session.execute(
        select(ReviewItem, Track, Person.name).join(page, page.c.id == ReviewItem.id)
        .join(Track, Track.id == ReviewItem.track_id)
        .join(Person, Person.id == ReviewItem.person_id)
        .options(defer(Track.embedding), defer(Track.crop_jpeg))
        .order_by(ReviewItem.id))
    return [(item, track, name) for item, track, name in rows], total


def review_people(session: Session, *, status: str, limit: int = 300
                  ) -> list[tuple[int, str, int]]:
    """(person, name, items) for the people that review items of a status propose, the
    most proposed first."""
    count = func.count(ReviewItem.id)
    rows = session.execute(
        select(Person.id, Person.name, count).join(ReviewItem, ReviewItem.person_id == Person.id)
        .where(ReviewItem.status == status).group_by(Person.id)
        .order_by(count.desc(), Person.name).limit(limit))
    return [(person_id, name, n) for person_id, name, n in rows]


def review_videos(session: Session, *, status: str, limit: int = 300
                  ) -> list[tuple[int, str, int]]:
    """(video, source, items) for the videos with review items of a status, the most
    first."""
    count = func.count(ReviewItem.id)
    rows = session.execute(
        select(Video.id, Video.source, count).select_from(ReviewItem)
        .join(Track, Track.id == ReviewItem.track_id).join(Video, Video.id == Track.video_id)
        .where(ReviewItem.status == status).group_by(Video.id)
        .order_by(count.desc(), Video.id).limit(limit))
    return [(video_id, source, n) for video_id, source, n in rows]


def video_sources(session: Session, video_ids: Sequence[int]) -> dict[int, str]:
    """Each video's source (what it was called when added)."""
    return {video_id: source for video_id, source in session.execute(
        select(Video.id, Video.source).where(Video.id.in_(list(video_ids))))}


def best_faces(session: Session, person_ids: Sequence[int], per_person: int
               ) -> dict[int, list[int]]:
    """The ids of each person's best enrolled faces (highest detection score first)."""
    rows = session.execute(text("""
        SELECT person_id, id FROM (
            SELECT person_id, id, row_number() OVER (
                PARTITION BY person_id ORDER BY det_score DESC, id) AS rank
            FROM faces WHERE person_id = ANY(:people)) AS ranked
        WHERE rank <= :n ORDER BY person_id, rank"""),
        {"people": list(person_ids), "n": per_person})
    faces: dict[int, list[int]] = {}
    for person_id, face_id in rows:
        faces.setdefault(person_id, []).append(face_id)
    return faces


def review_entry(session: Session, item_id: int) -> tuple[ReviewItem, Track, str, str]:
    """A review item with its track, the proposed person's name and the video's source."""
    row = session.execute(select(ReviewItem, Track, Person.name, Video.source)
                          .join(Track, Track.id == ReviewItem.track_id)
                          .join(Person, Person.id == ReviewItem.person_id)
                          .join(Video, Video.id == Track.video_id)
                          .where(ReviewItem.id == item_id)).one_or_none()
    if row is None:
        raise NotFound(f"review item {item_id} does not exist")
    item, track, name, source = row
    return item, track, name, source
