"""Events: photo ingest throughput against FaceAnalysis one photo at a time, and selfie
match latency in events of 10k and 100k faces.

    python bench/events.py            # or: make bench

Ingest: the photos of shared/data (faces/, scenes/, edge/), decoded and ingested through
EventService.ingest_decoded in batches of 8 (the path of `likeness ingest`: detection in
parallel, one recognizer batch, every face stored in PostgreSQL), against a loop of
cv2.imdecode + FaceAnalysis.get per photo that stores nothing; rounds alternate and the
ratio is the median of per-round ratios. Match: synthetic identities as in
bench/search.py (5 faces each, one face per photo), loaded through the store's bulk
path into one event while another event of 10k faces shares the table; each query is a
fresh face of a random identity, matched exactly as POST /events/{id}/match does (top_k
20, the pack's threshold); recall is the share of that identity's photos returned.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time

import cv2
import numpy as np
from common import DATA, REPO, machine, median, pack_directory, rates, reference_analysis
from search import noisy, unit

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.services.events import EventService, ImageInput
from likeness.storage import ObjectStorage
from likeness.store import Database
from likeness.store import events as store
from likeness.store.bulk import bulk_loading

BATCH = 8
FACES_PER_PERSON = 5
CHUNK = 5000


def ingest_table(engine: FaceEngine, database: Database, service: EventService,
                 rounds: int) -> None:
    paths = sorted(p for folder in ("faces", "scenes", "edge")
                   for p in (DATA / folder).rglob("*") if p.is_file())
    payloads = [p.read_bytes() for p in paths]
    reference = reference_analysis(pack_directory(engine, REPO / "build" / "bench-pack"))
    with database.session() as session:
        event_id = store.create_event(session, "bench").id
        session.commit()
        counter = iter(range(10**9))

        def likeness() -> int:
            round_id = next(counter)
            for start in range(0, len(payloads), BATCH):
                chunk = payloads[start : start + BATCH]
                items = [(ImageInput(f"{round_id}/{start + i}", data),
                          cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
                         for i, data in enumerate(chunk)]
                service.ingest_decoded(session, event_id, items)
            return len(payloads)

        def one_at_a_time() -> int:
            for data in payloads:
                reference.get(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
            return len(payloads)

        ref, ours = rates(rounds, one_at_a_time, likeness)
        faces = store.event_counts(session, [event_id])[event_id][1] // (rounds + 1)
    ratio = median([o / r for o, r in zip(ours, ref, strict=True)])
    print(f"### Ingest ({len(payloads)} photos, {faces} faces per round, {rounds} rounds)\n")
    print("| path | photos/s |")
    print("|---|---|")
    print(f"| FaceAnalysis, one photo at a time (nothing stored) | {median(ref):.1f} |")
    print(f"| Likeness ingest, batches of {BATCH}, stored in PostgreSQL | {median(ours):.1f} |")
    print(f"| Likeness / FaceAnalysis (median of rounds) | **{ratio:.2f}x** |\n")


def load_event(database: Database, name: str, faces: np.ndarray) -> int:
    with database.session() as session:
        event_id = store.create_event(session, name).id
        session.commit()
        with bulk_loading(session, "photo_faces"):
            for start in range(0, len(faces), CHUNK):
                chunk = faces[start : start + CHUNK]
                ids = store.add_photos(session, event_id,
                                       [f"{start + i}" for i in range(len(chunk))], "embedding")
                store.add_photo_faces(session, [{
                    "photo_id": photo, "event_id": event_id, "embedding": face,
                    "model": "buffalo_s", "det_score": 0.8, "bbox": [0, 0, 100, 100],
                    "landmarks": None, "weight": 1.0, "crop_jpeg": None}
                    for photo, face in zip(ids, chunk, strict=True)])
            session.commit()
    return event_id


def match_table(database: Database, service: EventService, sizes: list[int],
                queries: int) -> None:
    rng = np.random.default_rng(7)
    print(f"### Match (top_k 20, threshold {service.threshold_or(None):.2f}, {queries} "
          "queries)\n")
    print("| faces in the event | load + index s | p50 ms | p99 ms | recall of the "
          "identity's photos |")
    print("|---|---|---|---|---|")
    other = unit(rng.normal(size=(10_000, 512)))
    load_event(database, "neighbour", other)
    for size in sizes:
        people = size // FACES_PER_PERSON
        centres = unit(rng.normal(size=(people, 512)))
        owners = np.repeat(np.arange(people), FACES_PER_PERSON)
        started = time.perf_counter()
        event_id = load_event(database, f"event {size}", noisy(centres[owners], rng))
        loaded = time.perf_counter() - started
        asked = rng.integers(0, people, queries)
        latencies, found = [], 0
        with database.session() as session:
            for person in asked:
                query = noisy(centres[[person]], rng)[0]
                began = time.perf_counter()
                matches, _ = service.match(session, event_id, embedding=query.tolist())
                latencies.append((time.perf_counter() - began) * 1000)
                wanted = {str(i) for i in np.flatnonzero(owners == person)}
                found += len(wanted & {m.photo_key for m in matches})
                session.rollback()
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(f"| {size:,} | {loaded:.0f} | {statistics.median(latencies):.1f} | "
              f"{p99:.1f} | {found / (queries * FACES_PER_PERSON):.3f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    data_dir = REPO / "build" / "bench-events"
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = Settings(data_dir=data_dir)
    engine = FaceEngine.from_settings(settings)
    database = Database.open(settings)
    service = EventService.from_settings(engine, ObjectStorage.from_settings(settings), settings)
    print(f"Machine: {machine()}; model {engine.model_name}, providers {engine.providers}; "
          f"PostgreSQL 18 embedded\n")
    try:
        ingest_table(engine, database, service, args.rounds)
        match_table(database, service, args.sizes, args.queries)
    finally:
        database.close()
        engine.close()


if __name__ == "__main__":
    main()
