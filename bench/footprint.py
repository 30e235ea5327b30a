"""Bytes per face in PostgreSQL: what a gallery of N faces costs on disk and in memory.

    python bench/footprint.py [--faces 100000]

N faces (5 a person) with real 160x160 JPEG crops (made by the engine from the shared
photos, cycled) are loaded through the store's bulk path with the index layout the store
plans for N (HNSW below 200k faces, IVFFlat shards above); then the table's heap, its
TOAST (the crops), its other indexes and its vector index are measured. The search needs
the vector index and the rows it re-ranks in memory (shared_buffers); the crops only
when thumbnails are shown. The same with the crops moved out of the row (empty crops, as
if kept in object storage) in the same run. Prints Markdown.
"""

from __future__ import annotations

import argparse
import shutil
import sys

import cv2
import numpy as np
from common import DATA, REPO, machine
from sqlalchemy import text

sys.path.insert(0, str(REPO))

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.services.faces import thumbnail
from likeness.store import Database
from likeness.store import people as store
from likeness.store.bulk import bulk_loading
from likeness.store.search_index import layout_for

CHUNK = 10_000


def real_crops(engine: FaceEngine, most: int = 200) -> list[bytes]:
    crops = []
    for path in sorted(DATA.glob("celeba_dev/*/*.jpg"))[:most]:
        image = cv2.imread(str(path))
        crops += [thumbnail(image, face) for face in engine.analyze(image)[:1]]
    return crops


def load(database: Database, faces: int, crops: list[bytes]) -> dict[str, int]:
    """Bytes of each part of the faces table once `faces` faces are in it."""
    rng = np.random.default_rng(0)
    with database.engine.begin() as connection:
        connection.execute(text("TRUNCATE people, faces RESTART IDENTITY CASCADE"))
    with database.session() as session, bulk_loading(session, layout=layout_for(faces)):
        ids = store.add_people(session, [f"person {i}" for i in range(faces // 5)])
        for start in range(0, faces, CHUNK):
            count = min(CHUNK, faces - start)
            vectors = rng.normal(size=(count, 512)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            store.add_faces(session, [{
                "person_id": ids[(start + i) // 5], "embedding": vectors[i],
                "model": "buffalo_s", "det_score": 0.8, "bbox": [10.5, 20.5, 110.5, 140.5],
                "landmarks": [[1.5, 2.5]] * 5,
                "quality": {"size": 120.0, "blur": 150.0, "yaw": 5.0, "pitch": 3.0},
                "image_sha256": f"{start + i:064x}", "source_name": "photo.jpg",
                "crop_jpeg": crops[(start + i) % len(crops)] if crops else b""}
                for i in range(count)])
        session.commit()
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE faces"))
        row = c.execute(text("""
            SELECT pg_relation_size('faces'),
                   coalesce(pg_total_relation_size(reltoastrelid), 0),
                   (SELECT coalesce(sum(pg_relation_size(indexrelid)), 0) FROM pg_index i
                     JOIN pg_class x ON x.oid = i.indexrelid
                    WHERE i.indrelid = 'faces'::regclass AND x.relname LIKE '%embedding%'),
                   pg_indexes_size('faces')
              FROM pg_class WHERE relname = 'faces'""")).one()
    heap, toast, vector_index, indexes = (int(v) for v in row)
    return {"heap": heap, "toast": toast, "vector index": vector_index,
            "other indexes": indexes - vector_index}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=100_000)
    args = parser.parse_args()
    data_dir = REPO / "build" / "bench-footprint"
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = Settings(data_dir=data_dir)
    engine = FaceEngine.from_settings(settings)
    crops = real_crops(engine)
    database = Database.open(settings)
    try:
        rows = [("crops in the row (today)", load(database, args.faces, crops)),
                ("crops in object storage", load(database, args.faces, []))]
    finally:
        database.close()
        engine.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"\n{machine()}\n")
    print(f"{args.faces:,} faces, {layout_for(args.faces).describe()}; real crops: "
          f"{len(crops)}, mean {np.mean([len(c) for c in crops]):,.0f} bytes\n")
    print("| faces table | heap B/face | crops (TOAST) B/face | vector index B/face | "
          "other indexes B/face | total B/face | faces per GB | in memory for search "
          "B/face |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, parts in rows:
        per = {k: v / args.faces for k, v in parts.items()}
        total = sum(per.values())
        hot = per["heap"] + per["vector index"]
        print(f"| {label} | {per['heap']:,.0f} | {per['toast']:,.0f} | "
              f"{per['vector index']:,.0f} | {per['other indexes']:,.0f} | {total:,.0f} | "
              f"{1e9 / total:,.0f} | {hot:,.0f} |")


if __name__ == "__main__":
    main()
