"""The vector indexes of the embedding tables, and their lifecycle.

Up to a few hundred thousand faces one HNSW index answers a search in a few milliseconds.
Past that, with identities spread over the sphere as ArcFace spreads them, HNSW's greedy
walk loses its way (recall@1 0.60 at 1M faces, bench/search.py), so a large gallery gets
IVFFlat instead: cells of about 250 faces, split into shards (partial indexes on
`id % shards`) that one search scans in parallel, a connection each. IVFFlat's cells are
trained on the faces present when it is built: `likeness db reindex` rebuilds the layout
that suits the gallery (once it has doubled, say), without blocking searches or writes.

Index names carry the layout: `faces_embedding_idx` for one index, `faces_embedding_s0of2`
and `faces_embedding_s1of2` for two shards; the kind, lists and the gallery size it was
built for are read back from the catalog.
"""

from __future__ import annotations

import re
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Literal

from psycopg.errors import LockNotAvailable
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from likeness.errors import Conflict, InvalidInput
from likeness.store.models import EMBEDDING_DIMENSION

Kind = Literal["hnsw", "ivfflat"]

# Galleries from this many faces (of all models) are given IVFFlat; measured with
# bench/search.py: HNSW meets recall 0.99 at 100k faces and fails at 1M.
IVFFLAT_FROM_FACES = 200_000
FACES_PER_LIST = 250  # cell size: 2000 lists per 500k-face shard, measured best at 1M
DEFAULT_SHARDS = 2
SWAP_ATTEMPTS = 20
_SHARD_NAME = re.compile(r"^(?P<table>\w+)_embedding_s(?P<shard>\d+)of(?P<shards>\d+)$")


@dataclass(frozen=True, slots=True)
class Layout:
    """How a table's embeddings are indexed. `lists` is per shard (IVFFlat only); `faces`
    is the table's size the layout was built for."""

    kind: Kind = "hnsw"
    shards: int = 1
    lists: int = 0
    m: int = 16
    ef_construction: int = 64
    faces: int = 0

    def describe(self) -> str:
        shape = (f"lists={self.lists}" if self.kind == "ivfflat"
                 else f"m={self.m}, ef_construction={self.ef_construction}")
        shards = f"{self.shards} shards, " if self.shards > 1 else ""
        return f"{self.kind} ({shards}{shape}), built for {self.faces:,} faces"


def layout_for(faces: int, kind: Kind | None = None, shards: int | None = None,
               lists: int | None = None) -> Layout:
    """The layout for a table of `faces` faces: HNSW below IVFFLAT_FROM_FACES, else
    IVFFlat in DEFAULT_SHARDS shards of FACES_PER_LIST-face cells. Arguments override."""
    kind = kind or ("hnsw" if faces < IVFFLAT_FROM_FACES else "ivfflat")
    if kind == "hnsw":
        return Layout("hnsw", shards or 1, faces=faces)
    shards = shards or DEFAULT_SHARDS
    return Layout("ivfflat", shards, lists or max(1, faces // shards // FACES_PER_LIST),
                  faces=faces)


def count_faces(connection: Connection, table: str = "faces") -> int:
    return connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0


def needs_rebuild(current: Layout | None, faces: int) -> bool:
    """Whether the table has outgrown its index: none at all, HNSW past the IVFFlat
    threshold, or IVFFlat cells trained on less than half of today's faces."""
    if current is None:
        return True
    if current.kind == "hnsw":
        return faces >= IVFFLAT_FROM_FACES
    return faces > 2 * current.faces


# ---------------------------------------------------------------- reading the layout

_INDEXES = text("""
    SELECT c.relname, am.amname, c.reloptions, obj_description(c.oid, 'pg_class'),
           i.indisvalid
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_am am ON am.oid = c.relam
    WHERE i.indrelid = CAST(:table AS regclass) AND am.amname IN ('hnsw', 'ivfflat')
""")


def vector_indexes(connection: Connection, table: str) -> list[str]:
    """Every HNSW and IVFFlat index of the table, valid or left by a failed build."""
    return [row[0] for row in connection.execute(_INDEXES, {"table": table})]


def current_layout(connection: Connection, table: str = "faces") -> Layout | None:
    """The table's index layout in use (a complete, valid set), or None: no index."""
    found: dict[str, tuple[Kind, list[str], str | None]] = {}  # _INDEXES: hnsw or ivfflat
    for name, kind, options, comment, valid in connection.execute(_INDEXES, {"table": table}):
        if valid:
            found[name] = (kind, options or [], comment)
    sets: dict[int, list[str]] = {}
    for name in found:
        if (match := _SHARD_NAME.match(name)) and match["table"] == table:
            sets.setdefault(int(match["shards"]), []).append(name)
    complete = [n for n, names in sets.items() if len(names) == n]
    if complete:
        shards = max(complete)
        name = f"{table}_embedding_s0of{shards}"
    elif f"{table}_embedding_idx" in found:
        shards, name = 1, f"{table}_embedding_idx"
    else:
        return None
    kind, options, comment = found[name]
    values = dict(option.split("=", 1) for option in options)
    built_for = re.search(r"(\d+) faces", comment or "")
    faces = int(built_for[1]) if built_for else 0
    return Layout(kind, shards, int(values.get("lists", 100)) if kind == "ivfflat" else 0,
                  int(values.get("m", 16)), int(values.get("ef_construction", 64)), faces)


class LayoutCache:
    """current_layout, re-read at most every `seconds`: every search needs it, and it
    changes only when the indexes are rebuilt (at once in the process that rebuilds them,
    within `seconds` elsewhere). A stale answer costs speed for a moment, never results:
    shard predicates are ordinary filters on any index."""

    def __init__(self, seconds: float = 10.0) -> None:
        self.seconds = seconds
        self._read: dict[tuple[Engine, str], tuple[float, Layout | None]] = {}

    def get(self, connection: Connection, table: str = "faces") -> Layout | None:
        key = (connection.engine, table)
        read_at, layout = self._read.get(key, (-self.seconds, None))
        if time.monotonic() - read_at >= self.seconds:
            layout = current_layout(connection, table)
            self._read[key] = (time.monotonic(), layout)
        return layout

    def forget(self) -> None:
        self._read.clear()


LAYOUTS = LayoutCache()


# ---------------------------------------------------------------- building

def index_names(table: str, shards: int) -> list[str]:
    if shards == 1:
        return [f"{table}_embedding_idx"]
    return [f"{table}_embedding_s{shard}of{shards}" for shard in range(shards)]


def shard_predicate(shard: int, shards: int) -> str:
    """The partial-index predicate of a shard; searches repeat it literally (a bound
    parameter would not let the planner prove the partial index applies)."""
    return f"id % {int(shards)} = {int(shard)}"


def _definition(table: str, name: str, layout: Layout, shard: int, how: str) -> str:
    options = (f"lists = {int(layout.lists)}" if layout.kind == "ivfflat"
               else f"m = {int(layout.m)}, ef_construction = {int(layout.ef_construction)}")
    where = f" WHERE {shard_predicate(shard, layout.shards)}" if layout.shards > 1 else ""
    return (f"CREATE INDEX {how}{name} ON {table} USING {layout.kind} "
            f"((embedding::halfvec({EMBEDDING_DIMENSION})) halfvec_cosine_ops) "
            f"WITH ({options}){where}")


def build(connection: Connection, layout: Layout, table: str = "faces", *,
          concurrently: bool = False, memory: str = "2GB") -> None:
    """Replace the table's embedding indexes with `layout`: the new indexes are built
    beside the old ones, then swapped in one short transaction. Concurrently (needs an
    autocommit connection) searches and writes go on during the build."""
    final = index_names(table, layout.shards)
    temporary = [f"{name}_new" for name in final]
    how = "CONCURRENTLY " if concurrently else ""
    connection.execute(text("SELECT set_config('maintenance_work_mem', :memory, false)"),
                       {"memory": memory})
    for name in temporary:  # left by an interrupted build
        connection.execute(text(f"DROP INDEX {how}IF EXISTS {name}"))
    for shard, name in enumerate(temporary):
        try:
            connection.execute(text(_definition(table, name, layout, shard, how)))
        except DBAPIError as exc:  # pgvector says what it lacks: memory, say
            raise InvalidInput(f"cannot build {layout.describe()}: {exc.orig}") from exc
    # Dropping takes the table's exclusive lock: give up after a few seconds of waiting
    # for a long transaction (every search would queue behind us), and try again.
    swap = ["SET LOCAL lock_timeout = '3s'"]
    swap += [f"DROP INDEX {name}" for name in vector_indexes(connection, table)
             if name not in temporary]
    for name, new in zip(temporary, final, strict=True):
        swap += [f"ALTER INDEX {name} RENAME TO {new}",
                 f"COMMENT ON INDEX {new} IS 'built for {int(layout.faces)} faces'"]
    for attempt in range(SWAP_ATTEMPTS):
        try:  # one simple query: a single transaction even on an autocommit connection
            with nullcontext() if concurrently else connection.begin_nested():
                connection.exec_driver_sql("; ".join(swap))
            break
        except OperationalError as exc:
            if not isinstance(exc.orig, LockNotAvailable) or attempt == SWAP_ATTEMPTS - 1:
                raise Conflict(f"the new index is built ({', '.join(temporary)}) but "
                               f"a long transaction on {table} kept it from being "
                               f"swapped in: {exc.orig}") from exc
    LAYOUTS.forget()
