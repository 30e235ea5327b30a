"""The milvus backend's fixtures: milvus-lite in a temporary file, and a PostgreSQL
database of its own on the test session's server (its outbox triggers stay out of the
other tests' way)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from likeness.config import Settings
from likeness.services.access import AccessService
from likeness.store import Database, vectors
from tests.conftest import ADMIN_KEY

MILVUS_DATABASE = "likeness_milvus"
TABLES = ("people, faces, videos, events, photos, users, api_keys, audit_log, streams, "
          "sightings, webhooks, procrastinate_jobs")


@pytest.fixture(scope="session")
def milvus_settings(settings: Settings, database: Database,
                    tmp_path_factory: pytest.TempPathFactory) -> Settings:
    url = make_url(database.url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {MILVUS_DATABASE} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {MILVUS_DATABASE}"))
    admin.dispose()
    milvus_file: Path = tmp_path_factory.mktemp("milvus") / "milvus.db"
    return settings.model_copy(update={
        "database_url": url.set(database=MILVUS_DATABASE).render_as_string(hide_password=False),
        "vector_backend": "milvus", "milvus_uri": str(milvus_file)})


@pytest.fixture(scope="session")
def milvus_database(milvus_settings: Settings) -> Iterator[Database]:
    opened = Database.open(milvus_settings)
    with opened.session() as session:
        AccessService().ensure_key(session, ADMIN_KEY)
    yield opened
    opened.close()


@pytest.fixture
def milvus_db(milvus_database: Database) -> Iterator[Database]:
    """The milvus-backed database, emptied after the test (the truncation reaches Milvus
    through the outbox)."""
    yield milvus_database
    with milvus_database.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    vectors.drain(milvus_database.engine)
    with milvus_database.session() as session:
        AccessService().ensure_key(session, ADMIN_KEY)
