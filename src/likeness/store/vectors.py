"""Which index answers the vector searches: pgvector in PostgreSQL (the default), or an
external one (Milvus, store/milvus.py) fed from PostgreSQL through an outbox.

PostgreSQL keeps every embedding and returns every search's rows. With pgvector, the
store's SQL finds the nearest rows itself (people.py, events.py, videos.py). With an
external index, a search asks it for candidate ids, adds the rows still waiting in the
outbox (a face enrolled a moment ago is found, by the same session before it commits
too), and PostgreSQL re-ranks those candidates with the same full-precision SQL: the
same answers, ties aside. Should the index be unreachable, searches fall back to pgvector.

The outbox: while the feed is on, triggers on faces, photo_faces and tracks write
(collection, row id, op) in the writer's own transaction, so every writer is covered.
`drain` applies them (a row's state now: upserted while it exists, deleted once gone)
and deletes them only after the index acknowledged; a crash in between leaves them for
the next drain, and upserts and deletes by primary key are idempotent. `rebuild`
(`likeness db reindex --backend milvus`) recreates the collections from one snapshot and
clears the outbox rows that snapshot saw.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from sqlalchemy import Connection, Engine, RowMapping, text
from sqlalchemy.orm import Session

from likeness.config import Settings
from likeness.errors import VectorIndexUnavailable

log = logging.getLogger(__name__)

# Any constant: one drain or rebuild at a time (a drain reads each row's state and writes
# it to the index; two at once could write an older state after a newer one).
OUTBOX_LOCK = 0x76656374
DRAIN_BATCH = 2000
REBUILD_BATCH = 5000


@dataclass(frozen=True, slots=True)
class Collection:
    """A table whose embeddings the external index holds, with the bigint columns its
    searches filter on (beside `model`). Named as the table."""

    name: str
    fields: tuple[str, ...]

    @property
    def pending(self) -> str:
        """SQL: the ids of this table's rows waiting in the outbox."""
        return f"SELECT row_id FROM vector_outbox WHERE collection = '{self.name}'"

    def candidates(self, column: str = "id") -> str:
        """SQL condition: the row is one of the external index's candidates (the bound
        array `:ids`) or waits in the outbox (the index may not have it yet)."""
        return (f"{column} IN (SELECT unnest(CAST(:ids AS bigint[])) "
                f"UNION ALL {self.pending})")


FACES = Collection("faces", ("person_id",))
PHOTO_FACES = Collection("photo_faces", ("event_id", "photo_id"))
TRACKS = Collection("tracks", ())
COLLECTIONS = (FACES, PHOTO_FACES, TRACKS)

Where = Mapping[str, int | str]


class ExternalIndex(Protocol):
    """A vector index outside PostgreSQL: collections of (id, embedding, model, fields)
    searched by cosine similarity. pgvector needs none: the store's SQL searches."""

    ready: bool  # built and fed: searches may use it

    def describe(self) -> str: ...
    def ping(self) -> None: ...
    def is_built(self) -> bool: ...
    def recreate(self) -> None:
        """Drop and create every collection, empty, and forget it was built."""
    def mark_built(self) -> None: ...
    def clear(self, collection: Collection) -> None: ...
    def upsert(self, collection: Collection, rows: Sequence[Mapping[str, Any]]) -> None: ...
    def delete(self, collection: Collection, ids: Sequence[int]) -> None: ...
    def flush(self) -> None:
        """Make the writes so far fast to search (after a drain or rebuild)."""
    def nearest(self, collection: Collection, embedding: np.ndarray, limit: int,
                where: Where) -> list[int]:
        """The ids of the `limit` rows nearest to `embedding` among those matching."""
    def within(self, collection: Collection, embedding: np.ndarray, min_similarity: float,
               where: Where) -> list[int] | None:
        """The ids of every matching row at least `min_similarity` to `embedding`; None
        when more than one search can return are (the caller must search otherwise)."""
    def count(self, collection: Collection) -> int: ...
    def close(self) -> None: ...


# ---------------------------------------------------------------- which index

_ATTACHED: dict[Engine, ExternalIndex] = {}


def attach(engine: Engine, settings: Settings) -> None:
    """Give the database's searches the backend the settings name (Database.open). An
    external index is made ready now (fed, and built if it is not); unreachable, it is
    tried again by the next drain, and searches use pgvector meanwhile."""
    if settings.vector_backend != "milvus":
        return
    from likeness.store.milvus import MilvusIndex  # only milvus users import pymilvus

    index = MilvusIndex.from_settings(settings)
    _ATTACHED[engine] = index
    try:
        prepare(engine, index)
    except VectorIndexUnavailable as exc:
        log.warning("vector index %s unavailable, searching with pgvector: %s",
                    index.describe(), exc)
    except BaseException:
        detach(engine)
        raise


def detach(engine: Engine) -> None:
    index = _ATTACHED.pop(engine, None)
    if index is not None:
        index.close()


def external_index(bind: Session | Connection | Engine) -> ExternalIndex | None:
    """The external index of this database, or None: pgvector."""
    if isinstance(bind, Session):
        bind = bind.get_bind()
    return _ATTACHED.get(bind.engine)


def _usable(session: Session) -> ExternalIndex | None:
    index = external_index(session)
    return index if index is not None and index.ready else None


def nearest(session: Session, collection: Collection, embedding: np.ndarray, limit: int,
            where: Where) -> list[int] | None:
    """Candidate ids from the external index; None: search with pgvector (the backend,
    or the external index is not ready or failed)."""
    return _ask(session, lambda index: index.nearest(collection, embedding, limit, where))


def within(session: Session, collection: Collection, embedding: np.ndarray,
           min_similarity: float, where: Where) -> list[int] | None:
    """Ids of the rows at least `min_similarity` to `embedding` from the external index;
    None: search with pgvector (as for `nearest`, or too many qualify)."""
    return _ask(session, lambda index: index.within(collection, embedding, min_similarity,
                                                    where))


def _ask(session: Session, search: Callable[[ExternalIndex], list[int] | None]
         ) -> list[int] | None:
    """The external index's answer to `search`; None when it cannot answer (pgvector
    then searches: the same answers, without the index)."""
    index = _usable(session)
    if index is None:
        return None
    try:
        return search(index)
    except VectorIndexUnavailable as exc:
        log.warning("vector index search failed, searching with pgvector: %s", exc)
        return None


# ---------------------------------------------------------------- the feed (triggers)

def _trigger_statements(collection: Collection) -> list[str]:
    table = collection.name
    columns = ("embedding", "model", *collection.fields)
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
    return [
        f"CREATE OR REPLACE TRIGGER vector_outbox_insert AFTER INSERT ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION vector_outbox_row('{table}')",
        f"CREATE OR REPLACE TRIGGER vector_outbox_delete AFTER DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION vector_outbox_row('{table}')",
        f"CREATE OR REPLACE TRIGGER vector_outbox_update AFTER UPDATE OF {', '.join(columns)} "
        f"ON {table} FOR EACH ROW WHEN ({changed}) "
        f"EXECUTE FUNCTION vector_outbox_row('{table}')",
        f"CREATE OR REPLACE TRIGGER vector_outbox_truncate AFTER TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION vector_outbox_truncate('{table}')",
    ]


_TRIGGERS_PER_TABLE = 4


def feed_enabled(connection: Connection) -> bool:
    """Whether every table's outbox triggers exist."""
    found = connection.scalar(text(
        "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'vector\\_outbox\\_%' "
        "AND NOT tgisinternal AND tgrelid = ANY(CAST(:tables AS regclass[]))"),
        {"tables": [c.name for c in COLLECTIONS]})
    return found == _TRIGGERS_PER_TABLE * len(COLLECTIONS)


def enable_feed(connection: Connection) -> None:
    for collection in COLLECTIONS:
        for statement in _trigger_statements(collection):
            connection.execute(text(statement))


def disable_feed(connection: Connection) -> None:
    """Drop the triggers and empty the outbox (the pgvector backend needs neither)."""
    for collection in COLLECTIONS:
        for change in ("insert", "update", "delete", "truncate"):
            connection.execute(text(
                f"DROP TRIGGER IF EXISTS vector_outbox_{change} ON {collection.name}"))
    connection.execute(text("DELETE FROM vector_outbox"))


def pending(connection: Connection) -> int:
    return connection.scalar(text("SELECT count(*) FROM vector_outbox")) or 0


# ---------------------------------------------------------------- feeding the index

_ready_lock = threading.Lock()


def prepare(engine: Engine, index: ExternalIndex) -> None:
    """Make the index ready: the feed on and the collections built (rebuilt from
    PostgreSQL when they are not, or when the feed was off: writes went unrecorded)."""
    with _ready_lock:
        if index.ready:
            return
        with engine.begin() as connection:
            was_fed = feed_enabled(connection)
        if not (was_fed and index.is_built()):
            rebuild(engine, index, only_if_needed=was_fed)
        index.ready = True


def _rows_sql(collection: Collection, where: str) -> str:
    fields = "".join(f", coalesce({f}, 0) AS {f}" for f in collection.fields)
    return f"SELECT id, embedding, model{fields} FROM {collection.name} {where}"


def _entities(rows: Sequence[RowMapping]) -> list[dict[str, Any]]:
    """Rows as the index takes them: embeddings as float32 arrays (pgvector's binary
    adapter reads them as its own Vector)."""
    return [{**row, "embedding": row["embedding"].to_numpy().astype(np.float32)}
            for row in rows]


def rebuild(engine: Engine, index: ExternalIndex, *, only_if_needed: bool = False
            ) -> dict[str, int]:
    """Recreate the collections from PostgreSQL: the feed is turned on first, the rows
    are read from one snapshot, and the outbox rows that snapshot saw are deleted (later
    writes stay for the next drain). The rows indexed, by collection. `only_if_needed`:
    nothing is done when the index turns out built once the lock is ours (another
    process built it meanwhile)."""
    with engine.begin() as connection:
        if not feed_enabled(connection):
            enable_feed(connection)
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": OUTBOX_LOCK})
        connection.commit()
        try:
            if only_if_needed and index.is_built():
                return counts
            snapshot = connection.execution_options(isolation_level="REPEATABLE READ")
            with snapshot.begin():
                index.recreate()
                for collection in COLLECTIONS:
                    result = snapshot.execute(text(_rows_sql(collection, "ORDER BY id")),
                                              execution_options={"stream_results": True})
                    counts[collection.name] = 0
                    for batch in result.mappings().partitions(REBUILD_BATCH):
                        index.upsert(collection, _entities(batch))
                        counts[collection.name] += len(batch)
                snapshot.execute(text("DELETE FROM vector_outbox"))  # what the snapshot saw
                index.flush()
                index.mark_built()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": OUTBOX_LOCK})
            connection.commit()
    log.info("vector index %s rebuilt: %s", index.describe(), counts)
    return counts


def drain(engine: Engine, index: ExternalIndex | None = None, batch: int = DRAIN_BATCH
          ) -> int:
    """Apply the outbox to the external index, oldest first, in batches; how many outbox
    rows were applied (0 while another drain or rebuild runs)."""
    index = index or external_index(engine)
    if index is None:
        return 0
    prepare(engine, index)
    applied = 0
    while True:
        with engine.begin() as connection:
            if not connection.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"),
                                     {"key": OUTBOX_LOCK}):
                break
            rows = connection.execute(text(
                "SELECT id, collection, row_id, op FROM vector_outbox ORDER BY id "
                "LIMIT :batch"), {"batch": batch}).all()
            for collection in COLLECTIONS:
                _apply(connection, index, collection,
                       [row for row in rows if row.collection == collection.name])
            connection.execute(text("DELETE FROM vector_outbox WHERE id = ANY(:ids)"),
                               {"ids": [row.id for row in rows]})
        applied += len(rows)
        if len(rows) < batch:
            break
    if applied:
        index.flush()
    return applied


def _apply(connection: Connection, index: ExternalIndex, collection: Collection,
           rows: Sequence[Any]) -> None:
    """Bring the index's copy of these rows to their state now (the op only tells a
    truncate: every row goes first)."""
    if any(row.op == "truncate" for row in rows):
        index.clear(collection)
    ids = sorted({row.row_id for row in rows if row.row_id is not None})
    if not ids:
        return
    present = _entities(connection.execute(
        text(_rows_sql(collection, "WHERE id = ANY(:ids)")), {"ids": ids}).mappings().all())
    index.upsert(collection, present)
    gone = set(ids) - {row["id"] for row in present}
    index.delete(collection, sorted(gone))


# ---------------------------------------------------------------- health

def health(engine: Engine) -> tuple[bool, str]:
    """(up, what to say): the backend, and for an external index whether it answers,
    its rows and the outbox's backlog."""
    index = external_index(engine)
    if index is None:
        return True, "pgvector"
    try:
        index.ping()
        counts = ", ".join(f"{c.name} {index.count(c):,}" for c in COLLECTIONS)
        with engine.connect() as connection:
            backlog = pending(connection)
    except VectorIndexUnavailable as exc:
        return False, f"milvus at {index.describe()} unreachable: {exc}"
    state = "" if index.ready else " (not ready: searching with pgvector)"
    return True, (f"milvus at {index.describe()}{state}: {counts}; "
                  f"{backlog:,} change(s) in the outbox")
