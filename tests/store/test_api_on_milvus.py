"""The API's search tests again with Milvus as the vector index, and the app's own job
worker draining the outbox: recognize and verify right after enrolling (read-your-
writes: the faces may still wait in the outbox), event ingest and selfie match."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from likeness.api import create_app
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.store import Database, vectors
from tests.api.test_events_api import test_ingest_three_ways_and_match  # noqa: F401
from tests.api.test_people_api import (  # noqa: F401 - run here on milvus
    test_delete_person_leaves_no_rows,
    test_merge,
    test_recognize_and_verify,
)
from tests.conftest import AUTH, data_file


@pytest.fixture
def db(milvus_db: Database) -> Database:
    return milvus_db


@pytest.fixture
def api(milvus_settings: Settings, engine: FaceEngine, db: Database,
        tmp_path: Path) -> Iterator[TestClient]:
    """An app on the milvus-backed database with its own job worker (which drains the
    outbox), allowed to download from the local test server."""
    local = milvus_settings.model_copy(update={
        "worker_in_serve": True, "fetch_allow_private": True, "storage_dir": tmp_path})
    with TestClient(create_app(local, engine=engine, database=db), headers=AUTH) as client:
        yield client
    index = vectors.external_index(db.engine)
    assert index is not None and index.ready  # the searches went to Milvus


def test_the_worker_drains_the_outbox(api: TestClient, db: Database) -> None:
    response = api.post("/register", data={"name": "biden"}, files={"file": (
        "b.jpg", data_file("faces/biden/biden_1.jpg").read_bytes(), "image/jpeg")})
    assert response.status_code == 201
    index = vectors.external_index(db.engine)
    assert index is not None
    deadline = time.monotonic() + 20  # the drain job comes every 10 s
    while index.count(vectors.FACES) == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert index.count(vectors.FACES) == 1
    with db.engine.connect() as connection:
        assert vectors.pending(connection) == 0
