"""1:N search on PostgreSQL + pgvector: load rate, index build, latency, recall.

    python bench/search.py                      # 10k and 100k faces
    python bench/search.py --million            # and 1M (about 10 minutes on 2 cores)
    python bench/search.py --backend milvus     # and Milvus (milvus-lite) beside pgvector

Galleries are clustered like real identities: each person has --faces-per-person noisy
faces around their own centre (same-person cosine ~0.65, strangers ~0, as ArcFace gives).
The centres are spread uniformly over the sphere (the worst case for graph search), or
with --manifold-dim D on a curved D-dimensional manifold, as real face embeddings lie
(their intrinsic dimension measures 10-20: Gong, Boddeti & Jain, CVPR 2019); strangers
keep cosine ~0 +- 0.044 either way, with look-alikes in the tail. They are loaded
through the store's bulk path: binary COPY, then the index layout the store plans for the
gallery's size (store/search_index.py: HNSW below 200k faces, IVFFlat in 2 shards searched
in parallel above; --index and --shards override). Each query is a
fresh noisy face of a random enrolled person, searched exactly as /recognize does
(store.search_people: top 5 people, each by their best face); recall@1 is how often the top
person equals the one exact brute-force search over every face finds. Prints Markdown.

With --backend milvus the same gallery is then copied into Milvus (milvus-lite in a file,
in this process: `likeness db reindex --backend milvus`'s rebuild) and searched through it
(Milvus's candidates, re-ranked by PostgreSQL: store/vectors.py), in the same run and
table; then the storage each takes, and what the outbox triggers cost a bulk load.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import psutil
from common import REPO, machine
from sqlalchemy import text

from likeness.config import Settings
from likeness.store import Database, vectors
from likeness.store import people as store
from likeness.store.bulk import bulk_loading
from likeness.store.milvus import HNSW_BUILD, MIN_EF
from likeness.store.search_index import Layout, layout_for

DIMENSION = 512
MODEL = "buffalo_s"
CHUNK = 5000
# Noise scale s of a face around its identity's unit centre: cos(a, b) ~ 1 / (1 + s^2)
# between two faces of one person; 0.73 gives ~0.65, ArcFace's typical same-person score.
NOISE = 0.73


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def manifold_centres(people: int, dimension: int, rng: np.random.Generator) -> np.ndarray:
    """Identity centres on a curved `dimension`-manifold: random Fourier features of
    points of the unit sphere in that dimension (gamma 3 keeps strangers at cosine
    0 +- 0.044, each identity's most similar of 18k at ~0.2)."""
    weights = rng.normal(size=(DIMENSION, dimension)) * 3.0
    phases = rng.uniform(0, 2 * np.pi, DIMENSION)
    points = unit(rng.normal(size=(people, dimension)))
    features = np.cos(points @ weights.T + phases)
    return unit(features - features.mean(axis=1, keepdims=True))


def noisy(centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(size=centres.shape).astype(np.float32) * (NOISE / np.sqrt(DIMENSION))
    return unit(centres + noise)


def load(database: Database, faces: np.ndarray, owners: np.ndarray, people: int,
         layout: Layout | None) -> tuple[float, float]:
    """(faces/s of the load, seconds of the index build)."""
    with database.engine.begin() as connection:
        connection.execute(text("TRUNCATE people, faces RESTART IDENTITY CASCADE"))
    with database.session() as session:
        started = time.perf_counter()
        with bulk_loading(session, layout=layout):
            ids = np.array(store.add_people(session, [f"person {i}" for i in range(people)]))
            for start in range(0, len(faces), CHUNK):
                store.add_faces(session, [{
                    "person_id": int(ids[owners[i]]), "embedding": faces[i], "model": MODEL,
                    "det_score": 0.8, "bbox": [0, 0, 100, 100], "landmarks": [],
                    "quality": {}, "image_sha256": f"{i:064x}", "source_name": None,
                    "crop_jpeg": b""} for i in range(start, min(start + CHUNK, len(faces)))])
            session.commit()
            loaded = time.perf_counter()
        built = time.perf_counter()
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE faces"))
    return len(faces) / (loaded - started), built - loaded


def measure(database: Database, faces: np.ndarray, owners: np.ndarray, queries: np.ndarray
            ) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, recall@1) of one-face searches through `database`'s backend."""
    latencies, hits = [], 0
    with database.session() as session:
        person_ids = np.array(session.scalars(text("SELECT id FROM people ORDER BY id")).all())
        # Brute force first, not between searches: scanning 2 GB of faces there would
        # flush the CPU caches the server's searches run in.
        exact = person_ids[owners[np.concatenate([np.argmax(faces @ chunk.T, axis=0)
                                                  for chunk in np.array_split(queries, 10)])]]
        for query in queries[:20]:  # warm the pool's connections and the caches
            store.search_people(session, query, MODEL, top_k=5)
            session.rollback()
        for query, truth in zip(queries, exact, strict=True):
            started = time.perf_counter()
            found = store.search_people(session, query, MODEL, top_k=5)
            latencies.append((time.perf_counter() - started) * 1000)
            hits += bool(found) and found[0].person_id == truth
            session.rollback()  # one transaction per search, as a request has
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return statistics.median(latencies), p99, hits / len(queries)


def measure_pgvector(url: str, faces: np.ndarray, owners: np.ndarray, queries: np.ndarray,
                     effort: int) -> tuple[float, float, float]:
    """measure() at this ef_search (HNSW) or number of probes (IVFFlat), set on every
    connection as LIKENESS_HNSW_EF_SEARCH and LIKENESS_IVFFLAT_PROBES do."""
    database = Database(url, ef_search=effort, probes=effort)
    try:
        return measure(database, faces, owners, queries)
    finally:
        database.engine.dispose()


def megabytes(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


class MilvusRun:
    """The gallery copied into Milvus (milvus-lite, in this process) and searched through
    it; the feed is off while PostgreSQL loads, as the pgvector rows measure that."""

    def __init__(self, database: Database, data_dir: Path) -> None:
        self.path = data_dir / "milvus.db"
        self.database = Database.open(Settings(
            data_dir=data_dir, database_url=database.url, vector_backend="milvus",
            milvus_uri=str(self.path)))
        index = vectors.external_index(self.database.engine)
        assert index is not None
        self.index = index
        self.stop_feed()

    def stop_feed(self) -> None:
        with self.database.engine.begin() as connection:
            vectors.disable_feed(connection)

    def build(self) -> tuple[float, float]:
        """(seconds to copy PostgreSQL's faces into Milvus, MB of this process's memory
        that took)."""
        memory = psutil.Process().memory_info().rss
        started = time.perf_counter()
        vectors.rebuild(self.database.engine, self.index)
        took = time.perf_counter() - started
        return took, (psutil.Process().memory_info().rss - memory) / 1e6

    def close(self) -> None:
        self.database.close()


def storage(database: Database, faces: int) -> str:
    """PostgreSQL's faces: the table (no crops here) and its indexes, MB and faces/GB."""
    with database.engine.connect() as connection:
        table, indexes = connection.execute(text(
            "SELECT pg_table_size('faces'), pg_indexes_size('faces')")).one()
    total = (table + indexes) / 1e6
    return (f"PostgreSQL: faces table {table / 1e6:,.0f} MB + indexes {indexes / 1e6:,.0f} "
            f"MB = {total:,.0f} MB, {faces / total * 1000:,.0f} faces/GB")


def outbox_cost(database: Database, milvus: MilvusRun, faces: np.ndarray,
                owners: np.ndarray, people: int, layout: Layout) -> str:
    """A bulk load's rate with the outbox triggers on (milvus) and off (pgvector)."""
    off, _ = load(database, faces, owners, people, layout)
    with milvus.database.engine.begin() as connection:
        vectors.enable_feed(connection)
    on, _ = load(database, faces, owners, people, layout)
    with database.engine.connect() as connection:
        written = vectors.pending(connection)
    milvus.stop_feed()
    return (f"Bulk load of {len(faces):,} faces (binary COPY): {off:,.0f} faces/s with the "
            f"feed off, {on:,.0f} faces/s with the outbox triggers on ({written:,} outbox "
            f"rows written; {(1 / on - 1 / off) * 1e6:.1f} us per face)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--million", action="store_true", help="add a 1,000,000-face run")
    parser.add_argument("--faces-per-person", type=int, default=5)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--index", choices=["auto", "hnsw", "ivfflat"], default="auto",
                        help="auto: the store's choice by gallery size (store/search_index)")
    parser.add_argument("--shards", type=int, default=None)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[40, 100])
    parser.add_argument("--probes", type=int, nargs="+", default=[30, 40, 50])
    parser.add_argument("--manifold-dim", type=int, default=0,
                        help="identity centres on a manifold of this dimension; 0: uniform")
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--shared-buffers", default=None,
                        help="the embedded server's; default 1GB, 4GB with --million")
    parser.add_argument("--backend", choices=["pgvector", "milvus"], default="pgvector",
                        help="milvus: Milvus (milvus-lite) too, beside pgvector")
    parser.add_argument("--outbox-faces", type=int, default=100_000,
                        help="with milvus: a bulk load of this many faces with the outbox "
                             "triggers off and on (0: none)")
    args = parser.parse_args()
    sizes = args.sizes + ([1_000_000] if args.million else [])

    data_dir = REPO / "build" / "bench-search"
    shutil.rmtree(data_dir, ignore_errors=True)
    database_settings = Settings(data_dir=data_dir, embedded_shared_buffers=args.shared_buffers
                                 or ("4GB" if args.million else "1GB"))
    database = Database.open(database_settings)
    milvus = MilvusRun(database, data_dir) if args.backend == "milvus" else None
    notes: list[str] = []
    print(f"Machine: {machine()}; PostgreSQL 18 embedded, shared_buffers "
          f"{database_settings.embedded_shared_buffers}; indexes on halfvec, re-ranked in "
          f"full precision; {args.faces_per_person} faces/person, {args.queries} queries; "
          f"identity centres "
          f"{f'on a {args.manifold_dim}-d manifold' if args.manifold_dim else 'uniform'}\n")
    print("| faces | people | backend, index | load faces/s | index build s "
          "| ef_search or probes | p50 ms | p99 ms | recall@1 |")
    print("|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(2026)
    try:
        for size in sizes:
            people = size // args.faces_per_person
            centres = manifold_centres(people, args.manifold_dim, rng) if args.manifold_dim \
                else unit(rng.normal(size=(people, DIMENSION)))
            owners = np.repeat(np.arange(people), args.faces_per_person)
            faces = noisy(centres[owners], rng)
            layout = layout_for(size, None if args.index == "auto" else args.index,
                                args.shards)
            layout = replace(layout, m=args.m, ef_construction=args.ef_construction)
            rate, build = load(database, faces, owners, people, layout)
            queries = noisy(centres[rng.integers(0, people, args.queries)], rng)
            efforts = args.ef_search if layout.kind == "hnsw" else args.probes
            for index, effort in enumerate(efforts):
                p50, p99, recall = measure_pgvector(database.url, faces, owners, queries,
                                                    effort)
                first = index == 0
                shape = (f"{layout.kind}, {layout.shards} shards x {layout.lists} lists"
                         if layout.kind == "ivfflat" else layout.kind)
                print(f"| {size:,} | {people:,} | {'pgvector, ' + shape if first else ''} | "
                      f"{f'{rate:,.0f}' if first else ''} | {f'{build:.1f}' if first else ''} "
                      f"| {effort} | {p50:.1f} | {p99:.1f} | {recall:.3f} |", flush=True)
            if milvus is None:
                continue
            notes.append(f"{size:,} faces: {storage(database, size)}")
            build, memory = milvus.build()
            p50, p99, recall = measure(milvus.database, faces, owners, queries)
            print(f"| {size:,} | {people:,} | milvus-lite, hnsw (m={HNSW_BUILD['M']}, "
                  f"ef_construction={HNSW_BUILD['efConstruction']}) | | {build:.1f} | "
                  f"{MIN_EF} | {p50:.1f} | {p99:.1f} | {recall:.3f} |", flush=True)
            milvus.stop_feed()  # the next size loads as pgvector does
            notes.append(f"{size:,} faces: Milvus (milvus-lite): {megabytes(milvus.path):,.0f}"
                         f" MB on disk, {memory:,.0f} MB more memory in this process")
        if milvus is not None and args.outbox_faces:
            size = args.outbox_faces
            people = size // args.faces_per_person
            owners = np.repeat(np.arange(people), args.faces_per_person)
            faces = noisy(unit(rng.normal(size=(people, DIMENSION)))[owners], rng)
            notes.append(outbox_cost(database, milvus, faces, owners, people,
                                     layout_for(size)))
    finally:
        if milvus is not None:
            milvus.close()
        database.close()
    print("\n" + "\n".join(f"- {note}" for note in notes))


if __name__ == "__main__":
    main()
