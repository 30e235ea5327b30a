"""Bulk writes shared by the face tables: binary COPY, and loading without the HNSW index."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import text
from sqlalchemy.orm import Session

from likeness.store.models import EMBEDDING_DIMENSION

# Every embedding table's HNSW index: cosine on a half-precision copy of the embedding
# (half the memory, faster searches; candidates are re-ranked in full precision). The
# definitions are the migrations' (0001, 0003): keep them alike.
EMBEDDING_INDEXES = {"faces": "faces_embedding_idx", "photo_faces": "photo_faces_embedding_idx"}


def copy_rows(session: Session, table: str, types: Mapping[str, str],
              rows: Sequence[Mapping[str, Any]], json_columns: frozenset[str] = frozenset()
              ) -> None:
    """Insert `rows` with a binary COPY: embeddings travel as binary, not text, several
    times faster than INSERTs. `types` maps each column to its wire type."""
    if not rows:
        return
    connection = session.connection().connection.driver_connection
    columns = list(types)
    with connection.cursor().copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(list(types.values()))
        for row in rows:
            copy.write_row([Jsonb(row[c]) if c in json_columns and row[c] is not None
                            else row[c] for c in columns])


@contextmanager
def bulk_loading(session: Session, table: str = "faces", *, m: int = 16,
                 ef_construction: int = 64, memory: str = "2GB") -> Iterator[None]:
    """Drop the table's HNSW index for a large load and build it once at the end
    (several times faster than updating the graph row by row), then analyse the table."""
    index = EMBEDDING_INDEXES[table]
    session.execute(text(f"DROP INDEX IF EXISTS {index}"))
    session.commit()
    try:
        yield
    finally:
        session.rollback()
        session.execute(text("SELECT set_config('maintenance_work_mem', :memory, false)"),
                        {"memory": memory})
        session.execute(text(f"""
            CREATE INDEX IF NOT EXISTS {index} ON {table}
            USING hnsw ((embedding::halfvec({EMBEDDING_DIMENSION})) halfvec_cosine_ops)
            WITH (m = {int(m)}, ef_construction = {int(ef_construction)})"""))
        # Fresh statistics: with none, the planner takes a large new event for a tiny one
        # and scans it exactly instead of through HNSW (140 ms instead of 6 at 100k).
        session.execute(text(f"ANALYZE {table}"))
        session.commit()
