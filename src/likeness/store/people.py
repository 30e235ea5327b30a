"""Every query on people and their faces, the vector searches included."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

import numpy as np
from sqlalchemy import Connection, Row, TextClause, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from likeness import metrics
from likeness.errors import Conflict, NotFound
from likeness.store import vectors
from likeness.store.bulk import copy_rows
from likeness.store.models import EMBEDDING_DIMENSION, FaceRecord, Person
from likeness.store.search_index import LAYOUTS, shard_predicate


def _rowcount(result: Result[Any]) -> int:
    """The rows a DELETE or UPDATE matched: Session.execute is typed as returning a
    Result, which for these statements is a CursorResult."""
    return cast(CursorResult[Any], result).rowcount


@dataclass(frozen=True, slots=True)
class Candidate:
    person_id: int
    name: str
    similarity: float  # of the person's best-matching face
    face_id: int  # that face


# ---------------------------------------------------------------- people

def create_person(session: Session, name: str, external_id: str | None = None,
                  attributes: dict[str, Any] | None = None) -> Person:
    person = Person(name=name, external_id=external_id, attributes=attributes or {})
    session.add(person)
    _flush_or_conflict(session, external_id)
    return person


def _flush_or_conflict(session: Session, external_id: str | None) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"external_id {external_id!r} belongs to another person") from exc


def add_people(session: Session, names: Sequence[str]) -> list[int]:
    """Create many people at once; their ids, in order."""
    if not names:
        return []
    ids = session.scalars(insert(Person).returning(Person.id, sort_by_parameter_order=True),
                          [{"name": name, "attributes": {}} for name in names])
    return list(ids)


def find_person(session: Session, person_id: int) -> Person | None:
    return session.get(Person, person_id)


def get_person(session: Session, person_id: int) -> Person:
    person = find_person(session, person_id)
    if person is None:
        raise NotFound(f"person {person_id} does not exist")
    return person


def people_named(session: Session, name: str) -> list[Person]:
    """People whose name is `name`, ignoring case."""
    query = select(Person).where(func.lower(Person.name) == name.lower()).order_by(Person.id)
    return list(session.scalars(query))


def face_counts(session: Session, person_ids: Sequence[int]) -> dict[int, int]:
    rows = session.execute(select(FaceRecord.person_id, func.count())
                           .where(FaceRecord.person_id.in_(person_ids))
                           .group_by(FaceRecord.person_id))
    return {person_id: count for person_id, count in rows}


def list_people(session: Session, *, name_contains: str | None, limit: int, offset: int
                ) -> tuple[list[Person], int]:
    """A page of people ordered by id, and how many match in all."""
    query = select(Person)
    if name_contains:
        escaped = name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Person.name.ilike(f"%{escaped}%", escape="\\"))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(query.order_by(Person.id).limit(limit).offset(offset))
    return list(page), total


def update_person(session: Session, person: Person, changes: dict[str, Any]) -> Person:
    for field, value in changes.items():
        setattr(person, field, value)
    _flush_or_conflict(session, changes.get("external_id"))
    return person


def delete_person(session: Session, person_id: int) -> None:
    """The person and, by ON DELETE CASCADE, their faces, embeddings and crops."""
    if _rowcount(session.execute(delete(Person).where(Person.id == person_id))) == 0:
        raise NotFound(f"person {person_id} does not exist")


def merge_people(session: Session, target_id: int, source_id: int) -> int:
    """Move the source's faces to the target and delete the source; returns how many
    faces moved (a photo both already have is kept once)."""
    if target_id == source_id:
        raise Conflict("a person cannot be merged into themselves")
    get_person(session, target_id)
    get_person(session, source_id)
    target_images = select(FaceRecord.image_sha256).where(FaceRecord.person_id == target_id)
    session.execute(delete(FaceRecord).where(FaceRecord.person_id == source_id,
                                             FaceRecord.image_sha256.in_(target_images)))
    moved = _rowcount(session.execute(update(FaceRecord)
                                      .where(FaceRecord.person_id == source_id)
                                      .values(person_id=target_id)))
    session.execute(delete(Person).where(Person.id == source_id))
    return moved


# ---------------------------------------------------------------- faces

def add_face(session: Session, values: dict[str, Any]) -> tuple[FaceRecord, bool]:
    """Insert a face unless the person already has one from the same image (by sha256);
    (the face, whether it is new). Safe under concurrent enrollment of the same image."""
    statement = (pg_insert(FaceRecord).values(**values)
                 .on_conflict_do_nothing(constraint="faces_person_image_key")
                 .returning(FaceRecord.id))
    try:
        with session.begin_nested():
            new_id = session.execute(statement).scalar()
    except IntegrityError as exc:  # the unique key is handled above: the person is gone
        raise NotFound(f"person {values['person_id']} does not exist") from exc
    if new_id is not None:
        return session.get_one(FaceRecord, new_id), True
    existing = face_from_image(session, values["person_id"], values["image_sha256"])
    assert existing is not None  # the conflict says it exists
    return existing, False


_COPY_TYPES = {  # column: its wire type in a binary COPY (char(n) travels as text)
    "person_id": "int8", "embedding": "vector", "model": "varchar", "det_score": "float4",
    "bbox": "jsonb", "landmarks": "jsonb", "quality": "jsonb", "image_sha256": "text",
    "source_name": "varchar", "crop_jpeg": "bytea",
}


def add_faces(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk insert (binary COPY); rows are add_face's values. Duplicates of (person,
    image) are an error here: bulk loads bring new faces."""
    copy_rows(session, "faces", _COPY_TYPES, rows, frozenset({"bbox", "landmarks", "quality"}))


def face_from_image(session: Session, person_id: int, image_sha256: str) -> FaceRecord | None:
    return session.scalar(select(FaceRecord).where(FaceRecord.person_id == person_id,
                                                   FaceRecord.image_sha256 == image_sha256))


def faces_of(session: Session, person_id: int) -> list[FaceRecord]:
    get_person(session, person_id)
    return list(session.scalars(select(FaceRecord).where(FaceRecord.person_id == person_id)
                                .order_by(FaceRecord.id)))


def get_face(session: Session, face_id: int) -> FaceRecord:
    face = session.get(FaceRecord, face_id)
    if face is None:
        raise NotFound(f"face {face_id} does not exist")
    return face


def delete_face(session: Session, face_id: int) -> None:
    if _rowcount(session.execute(delete(FaceRecord).where(FaceRecord.id == face_id))) == 0:
        raise NotFound(f"face {face_id} does not exist")


# ---------------------------------------------------------------- search

# The vector index is on embedding::halfvec; candidates found through it are re-ranked by
# their full-precision similarity, and grouped to each person's best face. The query
# embedding is one binary parameter (pgvector's psycopg adapter), cast on the server. A
# sharded layout (store/search_index.py) is searched a shard per connection, in parallel.
# With an external index (store/vectors.py) the candidates are its ids and the outbox's.
_SEARCH = """
    WITH nearest AS (
        SELECT id, person_id, embedding FROM faces
        WHERE model = :model {nearest}
    ), ranked AS (
        SELECT DISTINCT ON (person_id) person_id, id,
               1 - (embedding <=> :query) AS similarity
        FROM nearest
        ORDER BY person_id, embedding <=> :query
    )
    SELECT ranked.person_id, people.name, ranked.similarity, ranked.id
    FROM ranked JOIN people ON people.id = ranked.person_id
    ORDER BY ranked.similarity DESC
    LIMIT :top_k
"""
_NEAREST = f"""{{shard}}
        ORDER BY embedding::halfvec({EMBEDDING_DIMENSION})
                 <=> CAST(:query AS halfvec({EMBEDDING_DIMENSION}))
        LIMIT :candidates"""
_SEARCH_CANDIDATES = text(_SEARCH.format(nearest=f"AND {vectors.FACES.candidates()}"))
DEFAULT_CANDIDATES = 40
VERIFY_CANDIDATES = 10  # of the person's faces, from an external index
_SHARD_WORKERS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="shard-search")


@cache
def _search_statement(shard: int, shards: int) -> TextClause:
    where = f"AND {shard_predicate(shard, shards)}" if shards > 1 else ""
    return text(_SEARCH.format(nearest=_NEAREST.format(shard=where)))


@metrics.timed("search")
def search_people(session: Session, embedding: np.ndarray, model: str, *, top_k: int,
                  ef_search: int | None = None) -> list[Candidate]:
    """The `top_k` people whose best face is most similar to `embedding`, best first.
    `ef_search` raises the HNSW effort for this search above the connection's
    (LIKENESS_HNSW_EF_SEARCH), as a large top_k needs. With a sharded index the shards
    other than the first are searched on connections of their own: they see committed
    faces only."""
    candidates = max(ef_search or 0, top_k * 10, DEFAULT_CANDIDATES)
    parameters = {"query": np.asarray(embedding, np.float32), "model": model,
                  "top_k": top_k, "candidates": candidates}
    ids = vectors.nearest(session, vectors.FACES, embedding, candidates, {"model": model})
    if ids is not None:
        rows = list(session.execute(_SEARCH_CANDIDATES, {**parameters, "ids": ids}))
    else:
        rows = _search_pgvector(session, parameters, ef_search)
    best: dict[int, Candidate] = {}
    for person_id, name, similarity, face_id in rows:
        if person_id not in best or similarity > best[person_id].similarity:
            best[person_id] = Candidate(person_id, name, float(similarity), face_id)
    return sorted(best.values(), key=lambda c: -c.similarity)[:top_k]


def _search_pgvector(session: Session, parameters: dict[str, Any], ef_search: int | None
                     ) -> list[Row]:
    layout = LAYOUTS.get(session.connection())
    shards = layout.shards if layout else 1

    def search(connection: Connection, shard: int) -> list[Row]:
        if ef_search is not None:
            connection.execute(text("SELECT set_config('hnsw.ef_search', :ef, true)"),
                               {"ef": str(ef_search)})
        return list(connection.execute(_search_statement(shard, shards), parameters))

    def search_apart(shard: int) -> list[Row]:
        with session.get_bind().engine.connect() as connection:
            return search(connection, shard)

    others = [_SHARD_WORKERS.submit(search_apart, shard) for shard in range(1, shards)]
    return search(session.connection(), 0) + [row for f in others for row in f.result()]


def face_embeddings(session: Session, person_ids: Sequence[int], model: str
                    ) -> dict[int, np.ndarray]:
    """Each person's face embeddings of `model`, one row per face (people without any
    are left out)."""
    rows = session.execute(select(FaceRecord.person_id, FaceRecord.embedding).where(
        FaceRecord.person_id.in_(list(person_ids)), FaceRecord.model == model))
    grouped: dict[int, list[np.ndarray]] = {}
    for person_id, embedding in rows:
        grouped.setdefault(person_id, []).append(np.asarray(embedding, np.float32))
    return {person_id: np.stack(vectors) for person_id, vectors in grouped.items()}


def best_similarity(session: Session, person_id: int, embedding: np.ndarray,
                    model: str) -> float | None:
    """Similarity of the person's face closest to `embedding` (exact: a person has few)."""
    get_person(session, person_id)
    distance = FaceRecord.embedding.cosine_distance(embedding)
    query = select(func.min(distance)).where(FaceRecord.person_id == person_id,
                                             FaceRecord.model == model)
    ids = vectors.nearest(session, vectors.FACES, embedding, VERIFY_CANDIDATES,
                          {"model": model, "person_id": person_id})
    if ids is not None:
        query = query.where(text(vectors.FACES.candidates("faces.id")).bindparams(ids=ids))
    value = session.scalar(query)
    return None if value is None else 1.0 - float(value)


def best_faces(session: Session, person_ids: Sequence[int]) -> dict[int, int]:
    """Each person's face that best shows them (a portrait for lists): frontal first (an
    unknown pose counts as frontal), then the largest; people without faces are left out.
    One query for the page's people (the (person, image) key's index finds their faces)."""
    from sqlalchemy.dialects.postgresql import distinct_on

    if not person_ids:
        return {}
    yaw = FaceRecord.quality["yaw"].as_float()
    size = FaceRecord.quality["face_size"].as_float()
    frontal = func.coalesce(func.abs(yaw) < 30, True)
    rows = session.execute(
        select(FaceRecord.person_id, FaceRecord.id)
        .where(FaceRecord.person_id.in_(list(person_ids)))
        .ext(distinct_on(FaceRecord.person_id))
        .order_by(FaceRecord.person_id, frontal.desc(), size.desc().nulls_last(),
                  FaceRecord.id))
    return {person_id: face_id for person_id, face_id in rows}
