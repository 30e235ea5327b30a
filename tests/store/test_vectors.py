"""Milvus as the vector index (milvus-lite in a file): the outbox that feeds it from
PostgreSQL, read-your-writes, crashes between the two, deletes, reindex and /health."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from likeness.api import create_app
from likeness.cli import app
from likeness.config import Settings, get_settings
from likeness.engine import FaceEngine
from likeness.errors import VectorIndexUnavailable
from likeness.services.people import PeopleRecords, PeopleService, Upload
from likeness.store import Database, vectors
from likeness.store import people as store
from likeness.store.milvus import MilvusIndex
from tests.conftest import AUTH, data_file, read_bgr

runner = CliRunner()


def upload(relative: str) -> Upload:
    return Upload(relative, data_file(relative).read_bytes())


@pytest.fixture
def index(milvus_db: Database) -> MilvusIndex:
    found = vectors.external_index(milvus_db.engine)
    assert isinstance(found, MilvusIndex) and found.ready
    return found


@pytest.fixture
def session(milvus_db: Database) -> Iterator[Session]:
    with milvus_db.session() as opened:
        yield opened


@pytest.fixture
def people(engine: FaceEngine, milvus_settings: Settings) -> PeopleService:
    return PeopleService.from_settings(engine, milvus_settings)


def outbox(session: Session) -> list[tuple[str, int | None, str]]:
    session.commit()
    return [tuple(row) for row in session.execute(text(
        "SELECT collection, row_id, op FROM vector_outbox ORDER BY id"))]


def test_pgvector_has_no_feed(session: Session, database: Database) -> None:
    with database.engine.connect() as connection:
        assert not vectors.feed_enabled(connection)
        assert vectors.external_index(database.engine) is None
        assert vectors.health(database.engine) == (True, "pgvector")


def test_enrolled_faces_are_found_before_and_after_the_drain(
        session: Session, people: PeopleService, index: MilvusIndex,
        milvus_db: Database) -> None:
    obama = people.register(session, "obama", [upload("faces/obama/obama_1.jpg"),
                                               upload("faces/obama/obama_2.jpg")])
    biden = people.register(session, "biden", [upload("faces/biden/biden_1.jpg")])
    assert sorted(outbox(session)) == [("faces", 1, "upsert"), ("faces", 2, "upsert"),
                                       ("faces", 3, "upsert")]
    assert index.count(vectors.FACES) == 0
    query = read_bgr("faces/obama/obama_3.jpg")
    (waiting,) = people.recognize(session, query)  # found in the outbox: read-your-writes
    assert waiting.person is not None and waiting.person.person_id == obama.person.person.id

    assert vectors.drain(milvus_db.engine) == 3
    assert outbox(session) == [] and index.count(vectors.FACES) == 3
    (drained,) = people.recognize(session, query)  # found through Milvus
    assert drained.candidates == waiting.candidates
    embedding = waiting.face.require_embedding()
    assert store.search_people(session, embedding, people.model, top_k=2) == \
        _pgvector_search(session, embedding, people.model)
    assert people.verify(session, read_bgr("faces/biden/biden_2.jpg"),
                         biden.person.person.id).same_person


def _pgvector_search(session: Session, embedding: np.ndarray, model: str
                     ) -> list[store.Candidate]:
    """The same search through pgvector's index, on the same rows."""
    rows = store._search_pgvector(session, {"query": embedding, "model": model, "top_k": 2,
                                            "candidates": 40}, None)
    return [store.Candidate(p, n, float(s), f) for p, n, s, f in rows]


def test_a_failed_drain_leaves_the_outbox_for_the_next(
        session: Session, people: PeopleService, index: MilvusIndex,
        milvus_db: Database) -> None:
    people.register(session, "biden", [upload("faces/biden/biden_1.jpg")])
    uri = index.uri
    index.close()
    index.uri = "http://127.0.0.1:9"  # nothing listens: the write to Milvus fails
    try:
        with pytest.raises(VectorIndexUnavailable):
            vectors.drain(milvus_db.engine)
        (result,) = people.recognize(session, read_bgr("faces/biden/biden_2.jpg"))
        assert result.person is not None  # the search fell back to pgvector
    finally:
        index.close()
        index.uri = uri
    assert outbox(session) == [("faces", 1, "upsert")]  # committed in PostgreSQL, kept
    assert vectors.drain(milvus_db.engine) == 1
    assert outbox(session) == [] and index.count(vectors.FACES) == 1


def test_a_crash_after_milvus_acknowledged_is_applied_again_idempotently(
        session: Session, people: PeopleService, index: MilvusIndex,
        milvus_db: Database) -> None:
    people.register(session, "obama", [upload("faces/obama/obama_1.jpg"),
                                       upload("faces/obama/obama_2.jpg")])
    with milvus_db.engine.connect() as connection:  # Milvus has them; PostgreSQL forgets
        rows = connection.execute(text("SELECT id, collection, row_id, op FROM vector_outbox"))
        vectors._apply(connection, index, vectors.FACES, list(rows))
        connection.rollback()
    assert index.count(vectors.FACES) == 2 and len(outbox(session)) == 2
    assert vectors.drain(milvus_db.engine) == 2
    assert index.count(vectors.FACES) == 2  # upserted again, not duplicated


def test_deletes_merges_and_bulk_loads_reach_milvus(
        session: Session, people: PeopleService, index: MilvusIndex,
        milvus_db: Database) -> None:
    obama = people.register(session, "obama", [upload("faces/obama/obama_1.jpg")])
    barack = people.register(session, "barack", [upload("faces/obama/obama_2.jpg")])
    biden = people.register(session, "biden", [upload("faces/biden/biden_1.jpg")])
    vectors.drain(milvus_db.engine)
    records = PeopleRecords()
    records.merge(session, obama.person.person.id, barack.person.person.id)
    records.delete(session, biden.person.person.id)
    assert outbox(session) == [("faces", 2, "upsert"), ("faces", 3, "delete")]
    assert vectors.drain(milvus_db.engine) == 2
    assert index.count(vectors.FACES) == 2
    moved = store.get_face(session, 2)  # Milvus filters verify by its new person
    assert index.nearest(vectors.FACES, np.asarray(moved.embedding), 5,
                         {"model": people.model, "person_id": obama.person.person.id}) \
        == [2, 1]
    (result,) = people.recognize(session, read_bgr("faces/biden/biden_2.jpg"))
    assert result.person is None and all(c.name == "obama" for c in result.candidates)

    # a bulk load (binary COPY): one statement, one outbox row per face
    bulk = store.create_person(session, "bulk")
    store.add_faces(session, [{
        "person_id": bulk.id, "embedding": np.asarray(moved.embedding), "model": "other",
        "det_score": 0.9, "bbox": moved.bbox, "landmarks": moved.landmarks,
        "quality": moved.quality, "image_sha256": f"{n:064x}", "source_name": None,
        "crop_jpeg": moved.crop_jpeg} for n in range(50)])
    assert len(outbox(session)) == 50
    vectors.drain(milvus_db.engine, batch=20)  # in three batches
    assert outbox(session) == [] and index.count(vectors.FACES) == 52


@pytest.fixture
def cli_environment(milvus_settings: Settings, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI on the milvus-backed database and Milvus file."""
    monkeypatch.setenv("LIKENESS_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LIKENESS_DATA_DIR", str(milvus_settings.data_dir))
    monkeypatch.setenv("LIKENESS_DATABASE_URL", str(milvus_settings.database_url))
    monkeypatch.setenv("LIKENESS_VECTOR_BACKEND", "milvus")
    monkeypatch.setenv("LIKENESS_MILVUS_URI", str(milvus_settings.milvus_uri))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_reindex_rebuilds_milvus_from_postgresql(
        session: Session, people: PeopleService, index: MilvusIndex,
        cli_environment: None) -> None:
    people.register(session, "obama", [upload("faces/obama/obama_1.jpg"),
                                       upload("faces/obama/obama_2.jpg")])
    index.clear(vectors.FACES)  # Milvus lost them
    assert index.count(vectors.FACES) == 0 and len(outbox(session)) == 2
    result = runner.invoke(app, ["db", "reindex", "--backend", "milvus"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "faces 2, photo_faces 0, tracks 0" in result.stdout
    assert index.count(vectors.FACES) == 2 and outbox(session) == []
    status = runner.invoke(app, ["db", "status"], env={"COLUMNS": "200"})
    assert "vector backend: milvus at" in status.stdout and "faces 2" in status.stdout


def test_reindex_for_milvus_needs_the_milvus_backend(settings: Settings) -> None:
    result = runner.invoke(app, ["db", "reindex", "--backend", "milvus"],
                           env={"COLUMNS": "200", "LIKENESS_DATA_DIR": str(settings.data_dir)})
    assert result.exit_code == 2 and "LIKENESS_VECTOR_BACKEND=milvus" in result.output


def test_health_reports_the_vector_backend(milvus_settings: Settings, engine: FaceEngine,
                                           milvus_db: Database, client: TestClient) -> None:
    on_pgvector = client.get("/health").json()
    assert on_pgvector["vector_backend"] == "pgvector"
    assert "vectors" not in on_pgvector["components"]
    app_on_milvus = create_app(milvus_settings, engine=engine, database=milvus_db)
    with TestClient(app_on_milvus, headers=AUTH) as milvus_client:
        on_milvus = milvus_client.get("/health").json()
    assert on_milvus["vector_backend"] == "milvus"
    vector_index = on_milvus["components"]["vectors"]
    assert vector_index["state"] == "up" and not vector_index["required"]
    assert vector_index["detail"].startswith(f"milvus at {milvus_settings.milvus_uri}: faces 0")
