"""Every query on camera streams and their sightings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session, defer

from likeness.enums import Decision
from likeness.errors import NotFound
from likeness.store.models import Person, Sighting, Stream

# ---------------------------------------------------------------- streams


def add_stream(session: Session, name: str, url: str, fps: float) -> Stream:
    stream = Stream(name=name, url=url, fps=fps)
    session.add(stream)
    session.flush()
    return stream


def get_stream(session: Session, stream_id: int) -> Stream:
    stream = session.get(Stream, stream_id)
    if stream is None:
        raise NotFound(f"stream {stream_id} does not exist")
    return stream


def find_stream(session: Session, stream_id: int) -> Stream | None:
    return session.get(Stream, stream_id)


def list_streams(session: Session, *, limit: int, offset: int) -> tuple[list[Stream], int]:
    total = session.scalar(select(func.count()).select_from(Stream)) or 0
    return list(session.scalars(select(Stream).order_by(Stream.id).limit(limit)
                                .offset(offset))), total


def delete_stream(session: Session, stream_id: int) -> None:
    """The stream and its sightings (cascade)."""
    if session.execute(delete(Stream).where(Stream.id == stream_id)
                       .returning(Stream.id)).scalar() is None:
        raise NotFound(f"stream {stream_id} does not exist")


def set_stream(session: Session, stream_id: int, **values: Any) -> bool:
    """Update the stream's columns; False when the stream is gone (deleted)."""
    return session.execute(update(Stream).where(Stream.id == stream_id).values(**values)
                           .returning(Stream.id)).scalar() is not None


def count_frames(session: Session, stream_id: int, frames: int, **values: Any) -> bool:
    """Add `frames` to the stream's count and set the other columns; False when the
    stream is gone."""
    return set_stream(session, stream_id, frames=Stream.frames + frames, **values)


# ---------------------------------------------------------------- sightings


def add_sighting(session: Session, stream_id: int, values: dict[str, Any]) -> int | None:
    """The new sighting's id; None when its stream is gone. The stream's row stays locked
    against deletion until the transaction ends."""
    if session.execute(select(Stream.id).where(Stream.id == stream_id)
                       .with_for_update(key_share=True)).scalar() is None:
        return None
    sighting = Sighting(stream_id=stream_id, **values)
    session.add(sighting)
    session.flush()
    return sighting.id


def set_sighting(session: Session, sighting_id: int, **values: Any) -> bool:
    """False when the sighting is gone (its stream was deleted)."""
    return session.execute(update(Sighting).where(Sighting.id == sighting_id)
                           .values(**values).returning(Sighting.id)).scalar() is not None


def get_sighting(session: Session, sighting_id: int) -> Sighting:
    sighting = session.get(Sighting, sighting_id)
    if sighting is None:
        raise NotFound(f"sighting {sighting_id} does not exist")
    return sighting


def sightings_page(session: Session, *, stream_id: int | None = None,
                   person_id: int | None = None, decision: Decision | None = None,
                   since: datetime | None = None, limit: int, offset: int
                   ) -> tuple[list[tuple[Sighting, str | None, str | None]], int]:
    """Sightings seen last most recently first, each with its stream's and person's
    names; and how many match the filters. `since`: seen at or after that time."""
    where = []
    if stream_id is not None:
        where.append(Sighting.stream_id == stream_id)
    if person_id is not None:
        where.append(Sighting.person_id == person_id)
    if decision is not None:
        where.append(Sighting.decision == decision)
    if since is not None:
        where.append(Sighting.last_seen_at >= since)
    total = session.scalar(select(func.count()).select_from(Sighting).where(*where)) or 0
    rows = session.execute(
        select(Sighting, Stream.name, Person.name)
        .outerjoin(Stream, Stream.id == Sighting.stream_id)
        .outerjoin(Person, Person.id == Sighting.person_id)
        .where(*where).options(defer(Sighting.crop_jpeg), defer(Sighting.embedding))
        .order_by(Sighting.last_seen_at.desc(), Sighting.id.desc())
        .limit(limit).offset(offset))
    return [(s, stream, person) for s, stream, person in rows], total


def sighted_people(session: Session, limit: int) -> list[tuple[int, str]]:
    """The people with sightings (matched or proposed), by name: (person, name)."""
    seen = select(Sighting.id).where(Sighting.person_id == Person.id).exists()
    return [(person_id, name) for person_id, name in session.execute(
        select(Person.id, Person.name).where(seen).order_by(Person.name, Person.id)
        .limit(limit))]


def last_seen(session: Session, stream_ids: Sequence[int], per_stream: int, scan: int = 200
              ) -> dict[int, list[tuple[int, str, datetime]]]:
    """For each stream, the `per_stream` people matched on it most recently: (person,
    name, last seen), among its latest `scan` matched sightings. One statement for all
    the streams (the cameras page polls it)."""
    found: dict[int, list[tuple[int, str, datetime]]] = {s: [] for s in stream_ids}
    if not stream_ids:
        return found
    rows = session.execute(text("""
        SELECT streams.id, seen.person_id, seen.name, seen.at
        FROM unnest(CAST(:streams AS bigint[])) AS streams (id)
        CROSS JOIN LATERAL (
            SELECT recent.person_id, people.name, max(recent.last_seen_at) AS at
            FROM (SELECT person_id, last_seen_at FROM sightings
                  WHERE stream_id = streams.id AND decision = 'match'
                  ORDER BY last_seen_at DESC LIMIT :scan) AS recent
            JOIN people ON people.id = recent.person_id
            GROUP BY recent.person_id, people.name
            ORDER BY at DESC, recent.person_id LIMIT :per_stream) AS seen
        ORDER BY streams.id, seen.at DESC, seen.person_id"""), {
        "streams": [int(s) for s in stream_ids], "scan": scan, "per_stream": per_stream})
    for stream_id, person_id, name, at in rows:
        found[stream_id].append((person_id, name, at))
    return found
