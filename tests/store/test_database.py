"""The database's lifecycle: embedded server start, reuse, restart, migrations, pgvector."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, make_url, text

from likeness.config import Settings
from likeness.errors import DatabaseUnavailable
from likeness.store import Database
from likeness.store import people as store
from likeness.store.database import _psycopg_url


def _face_values(person_id: int) -> dict:
    embedding = np.random.default_rng(person_id).normal(size=512).astype(np.float32)
    return {"person_id": person_id, "embedding": embedding / np.linalg.norm(embedding),
            "model": "buffalo_s", "det_score": 0.9, "bbox": [0, 0, 1, 1], "landmarks": [],
            "quality": {}, "image_sha256": "a" * 64, "source_name": None, "crop_jpeg": b"x"}


def _postgres_running(data_dir: Path) -> bool:
    return (data_dir / "postgres" / "postmaster.pid").exists()


def test_a_restart_keeps_everything(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    database = Database.open(settings)
    with database.session() as session:
        person = store.create_person(session, "kept", "ext-1", {"k": "v"})
        store.add_face(session, _face_values(person.id))
        session.commit()
    database.close()
    assert not _postgres_running(tmp_path)  # stopped cleanly on close
    database = Database.open(settings)
    with database.session() as session:
        (again,) = store.people_named(session, "kept")
        assert again.external_id == "ext-1" and again.attributes == {"k": "v"}
        assert len(store.faces_of(session, again.id)) == 1
    database.prepare()  # migrations are idempotent
    database.close()


def test_another_process_joins_the_running_server(tmp_path: Path) -> None:
    database = Database.open(Settings(data_dir=tmp_path))
    pid = (tmp_path / "postgres" / "postmaster.pid").read_text().split()[0]
    script = ("from pathlib import Path; from likeness.config import Settings; "
              "from likeness.store import Database; "
              f"d = Database.open(Settings(data_dir=Path({str(tmp_path)!r}))); "
              "print((Path(d.url.split('host=')[1].replace('%2F', '/')) / 'postmaster.pid')"
              ".read_text().split()[0]); d.close()")
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True)
    assert other.stdout.strip() == pid  # the same server, not a second one
    with database.session() as session:  # and it is still up for us
        assert session.execute(text("SELECT 1")).scalar() == 1
    database.close()


def test_handles_in_one_process_are_counted(tmp_path: Path) -> None:
    first = Database.open(Settings(data_dir=tmp_path))
    second = Database.open(Settings(data_dir=tmp_path))
    second.close()
    with first.session() as session:
        assert session.execute(text("SELECT 1")).scalar() == 1
    first.close()
    assert not _postgres_running(tmp_path)


def test_a_user_killed_with_sigkill_does_not_keep_the_server_up(tmp_path: Path) -> None:
    database = Database.open(Settings(data_dir=tmp_path))
    users = tmp_path / "postgres" / ".handle_pids.json"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process id that no longer runs, as a worker killed with -9 leaves
    pids = json.loads(users.read_text())
    users.write_text(json.dumps([*pids, dead.pid]))
    database.close()
    assert not _postgres_running(tmp_path)


def test_missing_pgvector_is_said_clearly(database: Database) -> None:
    admin = create_engine(database.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS no_vector"))
        connection.execute(text("DROP ROLE IF EXISTS plain_user"))
        connection.execute(text("CREATE ROLE plain_user LOGIN"))
        connection.execute(text("CREATE DATABASE no_vector OWNER plain_user"))
    url = make_url(database.url).set(username="plain_user", password=None,
                                     database="no_vector").render_as_string()
    with pytest.raises(DatabaseUnavailable, match="pgvector is not installed"):
        Database.open(Settings(database_url=url))
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE no_vector"))
        connection.execute(text("DROP ROLE plain_user"))
    admin.dispose()


def test_unreachable_server() -> None:
    with pytest.raises(DatabaseUnavailable, match="cannot open the database"):
        Database.open(Settings(database_url="postgresql://nobody@127.0.0.1:1/none"))


def test_urls_get_the_psycopg_driver() -> None:
    assert _psycopg_url("postgresql://u:p@h:5/db") == "postgresql+psycopg://u:p@h:5/db"
    assert _psycopg_url("postgres://h/db") == "postgresql+psycopg://h/db"
    assert _psycopg_url("postgresql+psycopg://h/db") == "postgresql+psycopg://h/db"
