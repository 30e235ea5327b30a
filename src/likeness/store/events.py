"""Every query on events, photos and the faces in them, the selfie match included."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, defer

from likeness.errors import NotFound
from likeness.store import vectors
from likeness.store.bulk import copy_rows
from likeness.store.models import EMBEDDING_DIMENSION, Event, Photo, PhotoFace


@dataclass(frozen=True, slots=True)
class PhotoMatch:
    photo_id: int
    photo_key: str
    similarity: float  # of the photo's face most like the query
    bbox: list[float] | None  # that face's


# ---------------------------------------------------------------- events

def create_event(session: Session, name: str, attributes: dict[str, Any] | None = None
                 ) -> Event:
    event = Event(name=name, attributes=attributes or {})
    session.add(event)
    session.flush()
    return event


def get_event(session: Session, event_id: int) -> Event:
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound(f"event {event_id} does not exist")
    return event


def events_named(session: Session, name: str) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.name == name).order_by(Event.id)))


def list_events(session: Session, *, limit: int, offset: int, only: int | None = None
                ) -> tuple[list[Event], int]:
    query = select(Event) if only is None else select(Event).where(Event.id == only)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    events = session.scalars(query.order_by(Event.id).limit(limit).offset(offset))
    return list(events), total


def event_counts(session: Session, event_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """event id: (photos, faces)."""
    photos = dict(session.execute(select(Photo.event_id, func.count()).where(
        Photo.event_id.in_(event_ids)).group_by(Photo.event_id)).all())
    faces = dict(session.execute(select(PhotoFace.event_id, func.count()).where(
        PhotoFace.event_id.in_(event_ids)).group_by(PhotoFace.event_id)).all())
    return {e: (photos.get(e, 0), faces.get(e, 0)) for e in event_ids}


def delete_event(session: Session, event_id: int) -> list[str]:
    """Delete the event, its photos and faces; the object-storage locations of its files,
    for the caller to remove once this commits."""
    get_event(session, event_id)
    locations = _stored_locations(session, Photo.event_id == event_id)
    session.execute(delete(Event).where(Event.id == event_id))
    return locations


# ---------------------------------------------------------------- photos

def photo_by_key(session: Session, event_id: int | None, photo_key: str) -> Photo | None:
    owner = Photo.event_id.is_(None) if event_id is None else Photo.event_id == event_id
    return session.scalar(select(Photo).where(owner, Photo.photo_key == photo_key))


def stored_keys(session: Session, event_id: int, keys: Iterable[str]) -> set[str]:
    """Which of `keys` the event already holds (pending or failed ones count as absent)."""
    return set(session.scalars(select(Photo.photo_key).where(
        Photo.event_id == event_id, Photo.photo_key.in_(list(keys)),
        Photo.status == "ready")))


def add_photo(session: Session, values: dict[str, Any]) -> tuple[Photo, bool]:
    """Insert a photo unless its event already has its key; (the photo, whether it is
    new). Safe when two requests bring the same photo at once."""
    new_id = session.execute(pg_insert(Photo).values(**values).on_conflict_do_nothing(
        constraint="photos_event_key").returning(Photo.id)).scalar()
    if new_id is not None:
        return session.get_one(Photo, new_id), True
    existing = photo_by_key(session, values.get("event_id"), values["photo_key"])
    assert existing is not None  # the conflict says it exists
    return existing, False


def add_photos(session: Session, event_id: int, keys: Sequence[str], source: str
               ) -> list[int]:
    """Create many photos of an event at once (bulk loads); their ids, in order."""
    if not keys:
        return []
    return list(session.scalars(
        insert(Photo).returning(Photo.id, sort_by_parameter_order=True),
        [{"event_id": event_id, "photo_key": key, "source": source} for key in keys]))


def get_photo(session: Session, photo_id: int, *, event_id: int | None = None,
              lock: bool = False) -> Photo:
    query = select(Photo).where(Photo.id == photo_id)
    if event_id is not None:
        query = query.where(Photo.event_id == event_id)
    photo = session.scalar(query.with_for_update() if lock else query)
    if photo is None:
        raise NotFound(f"photo {photo_id} does not exist"
                       + (f" in event {event_id}" if event_id is not None else ""))
    return photo


def list_photos(session: Session, event_id: int, *, limit: int, offset: int
                ) -> tuple[list[Photo], int]:
    total = session.scalar(select(func.count()).where(Photo.event_id == event_id)) or 0
    photos = session.scalars(select(Photo).where(Photo.event_id == event_id)
                             .order_by(Photo.id).limit(limit).offset(offset))
    return list(photos), total


def update_photo(session: Session, photo_id: int, **values: Any) -> None:
    session.execute(update(Photo).where(Photo.id == photo_id).values(**values))


def delete_photo(session: Session, photo_id: int, event_id: int) -> list[str]:
    get_photo(session, photo_id, event_id=event_id)
    locations = _stored_locations(session, Photo.id == photo_id)
    session.execute(delete(Photo).where(Photo.id == photo_id))
    return locations


def _stored_locations(session: Session, where: Any) -> list[str]:
    rows = session.execute(select(Photo.original_location, Photo.annotated_location)
                           .where(where)).all()
    return [location for row in rows for location in row if location]


_FACE_TYPES = {"photo_id": "int8", "event_id": "int8", "embedding": "vector",
               "model": "varchar", "det_score": "float4", "bbox": "jsonb",
               "landmarks": "jsonb", "weight": "float4", "crop_jpeg": "bytea"}


def add_photo_faces(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk insert of faces (binary COPY); each row has the columns of _FACE_TYPES."""
    copy_rows(session, "photo_faces", _FACE_TYPES, rows, frozenset({"bbox", "landmarks"}))


def faces_of_photos(session: Session, photo_ids: Sequence[int]) -> dict[int, list[PhotoFace]]:
    faces: dict[int, list[PhotoFace]] = {p: [] for p in photo_ids}
    for face in session.scalars(select(PhotoFace).where(PhotoFace.photo_id.in_(photo_ids))
                                .options(defer(PhotoFace.embedding))  # shown: boxes
                                .order_by(PhotoFace.id)):
        faces[face.photo_id].append(face)
    return faces


# ---------------------------------------------------------------- match

# Nearest faces of the event through the HNSW index (or, for a small event, exactly
# through the event index: the planner's choice), re-ranked in full precision; each
# photo once, by its face most like the query. With an external index (store/vectors.py)
# the nearest faces are its candidates and the outbox's.
_MATCH = """
    WITH nearest AS (
        SELECT photo_id, bbox, embedding FROM photo_faces
        WHERE event_id = :event AND model = :model {nearest}
    ), best AS (
        SELECT DISTINCT ON (photo_id) photo_id, bbox,
               1 - (embedding <=> :query) AS similarity
        FROM nearest
        ORDER BY photo_id, embedding <=> :query
    )
    SELECT best.photo_id, photos.photo_key, best.similarity, best.bbox
    FROM best JOIN photos ON photos.id = best.photo_id
    WHERE best.similarity >= :threshold
    ORDER BY best.similarity DESC, best.photo_id
    LIMIT :top_k
"""
_MATCH_PGVECTOR = text(_MATCH.format(nearest=f"""
        ORDER BY embedding::halfvec({EMBEDDING_DIMENSION})
                 <=> CAST(:query AS halfvec({EMBEDDING_DIMENSION}))
        LIMIT :candidates"""))
_MATCH_CANDIDATES = text(_MATCH.format(nearest=f"AND {vectors.PHOTO_FACES.candidates()}"))
MIN_CANDIDATES = 100


def match_photos(session: Session, event_id: int, embedding: np.ndarray, model: str, *,
                 top_k: int, threshold: float) -> list[PhotoMatch]:
    """The event's `top_k` photos whose best face is at least `threshold` similar to
    `embedding`, best first."""
    candidates = max(2 * top_k, MIN_CANDIDATES)
    parameters = {"event": event_id, "model": model, "query": np.asarray(embedding, np.float32),
                  "candidates": candidates, "threshold": threshold, "top_k": top_k}
    ids = vectors.nearest(session, vectors.PHOTO_FACES, embedding, candidates,
                          {"event_id": event_id, "model": model})
    if ids is not None:
        rows = session.execute(_MATCH_CANDIDATES, {**parameters, "ids": ids})
    else:
        session.execute(text("SELECT set_config('hnsw.ef_search', :ef, true)"),
                        {"ef": str(min(candidates, 1000))})
        rows = session.execute(_MATCH_PGVECTOR, parameters)
    return [PhotoMatch(pid, key, float(similarity), bbox)
            for pid, key, similarity, bbox in rows]
