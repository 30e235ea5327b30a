"""The web UI's speed: how long the server takes to produce each page's HTML with 10k
people and 1k videos in the database.

    python bench/ui.py                   # about 2 minutes on 2 cores, most of it loading
    python bench/ui.py --keep --rounds 100   # the same database again, more rounds
    python bench/ui.py --keep --explain  # and each page's slowest SQL, with its plan

The issue's bar: every page's HTML is produced in 100 ms or less with 10k people and 1k
videos in the database, and lists paginate. The database is an embedded PostgreSQL of its
own (build/bench-ui), loaded through binary COPY (store/bulk.copy_rows) with what real use
leaves there:

- 10,000 people, one enrolled face each (embedding, and a real 160 px JPEG crop made by
  the engine from the photos of shared/data/faces, as enrolment makes them); names share
  surnames, 50 people to a surname, so a surname search finds a page and more;
- 1,000 scanned videos (done), 12 tracks each (8 tagged, 2 waiting for review, 2 unknown),
  4 detections per track, the tags of the tagged tracks (some people are in many videos),
  a pending review item per review track, and the unknown tracks in 500 open clusters;
- 10 events of 300 photos with 2 faces each, the first clustered; 5,000 audit entries,
  10 API keys and 3 users.

The app is the real one (create_app with the loaded engine, no job worker), asked through
FastAPI's TestClient in this process, signed in as an admin through the login form as a
browser is (the session cookie is kept). Each page is asked --rounds times, the pages
taking turns round by round, after 3 warm-up requests each. For each page:

- median and p95 ms: the wall time of the whole request (routing, the session check, the
  services' queries, rendering); a page meets the bar when its p95 is 100 ms or less;
- CPU ms: this process's CPU time per request (Python: the route, the ORM, Jinja, the
  test client; PostgreSQL's is not counted), steadier than wall time on a busy machine;
- SQL ms and statements: the time spent in SQL statements, and how many a request makes
  (an N+1 shows as a count that grows with the page); --queries lists each page's
  slowest, --explain adds the plan of the slowest (EXPLAIN ANALYZE);
- size KB: the HTML.

A page that is not there (404) is listed as skipped, with the status of one that fails.
Add a page to PAGES. --keep reuses the database the last run loaded.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np
from common import DATA, REPO, machine
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from likeness.api import create_app
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.enums import Role
from likeness.services.access import AccessService
from likeness.services.faces import thumbnail
from likeness.store import Database
from likeness.store import people as people_store
from likeness.store.bulk import bulk_loading, copy_rows

BAR_MS = 100.0
MODEL = "buffalo_s"
PEOPLE = 10_000
VIDEOS = 1_000
TRACKS = (8, 2, 2)  # per video: tagged, review, unknown
DETECTIONS_PER_TRACK = 4
PER_CLUSTER = 4
EVENTS, PHOTOS_PER_EVENT, FACES_PER_PHOTO = 10, 300, 2
AUDIT = 5_000
CHUNK = 5_000
USER, PASSWORD = "bench-admin", "bench password 1"

# (label, path): {person}, {typical}, {video}, {event}, {cluster} and {surname} are filled
# in with the person in the most videos, one in a few, a video (each has 12 tracks), the
# first event (all are alike, and the first is clustered), an open cluster and a surname
# 50 people share.
PAGES: list[tuple[str, str]] = [
    ("home", "/ui"),
    ("people", "/ui/people"),
    ("people, search", "/ui/people?q={surname}"),
    ("people, last page", "/ui/people?offset=9960"),
    ("person, in many videos", "/ui/people/{person}"),
    ("person, in few videos", "/ui/people/{typical}"),
    ("recognize", "/ui/recognize"),
    ("review", "/ui/review"),
    ("review, last page", "/ui/review?offset=1980"),
    ("clusters", "/ui/clusters"),
    ("videos", "/ui/videos"),
    ("videos, last page", "/ui/videos?offset=980"),
    ("video", "/ui/videos/{video}"),
    ("events", "/ui/events"),
    ("event", "/ui/events/{event}"),
    ("settings", "/ui/settings"),
]

FIRST = [a + b for a in ("Al", "Be", "Ca", "Da", "El", "Fa", "Ga", "Ha", "Is", "Jo",
                         "Ka", "Le", "Ma", "Na", "Ol", "Pa", "Ra", "Sa", "Ta", "Va")
         for b in ("na", "ric", "mon", "lia", "ven", "tor", "ine", "ley", "ro", "sha")]
LAST = [a + b + c for a in ("Ash", "Bran", "Cor", "Dun", "Fen", "Hol", "Kest", "Lind",
                            "Mar", "Nor")
        for b in ("ford", "wick", "ley", "dale")
        for c in ("", "son", "er", "ton", "man")]  # 10 x 4 x 5 = 200 surnames


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def noisy(centres: np.ndarray, rng: np.random.Generator, scale: float = 0.7) -> np.ndarray:
    return unit(centres + rng.normal(size=centres.shape).astype(np.float32)
                * (scale / np.sqrt(centres.shape[-1])))


def real_crops(engine: FaceEngine) -> list[bytes]:
    """The JPEG crops enrolment stores, of the faces in shared/data/faces."""
    crops = []
    for path in sorted((DATA / "faces").rglob("*")):
        image = cv2.imread(str(path)) if path.is_file() else None
        if image is not None:
            crops += [thumbnail(image, face) for face in engine.analyze(image, max_faces=1)]
    assert crops, f"no faces found under {DATA / 'faces'}"
    return crops


@contextmanager
def without_vector_indexes(session: Session, tables: list[str]) -> Iterator[None]:
    """Drop the tables' vector indexes for the load and create them again after it, as
    they were (one build instead of an insert per row)."""
    saved = session.execute(text(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(:tables) "
        "AND (indexdef LIKE '%USING hnsw%' OR indexdef LIKE '%USING ivfflat%')"),
        {"tables": tables}).all()
    for name, _ in saved:
        session.execute(text(f"DROP INDEX {name}"))
    session.commit()
    yield
    session.execute(text("SET maintenance_work_mem = '1GB'"))
    for _, definition in saved:
        session.connection().exec_driver_sql(definition)
    session.commit()


def ids_of(session: Session, table: str) -> np.ndarray:
    return np.array(session.scalars(text(f"SELECT id FROM {table} ORDER BY id")).all())


@dataclass
class Loaded:
    person: int = 0
    typical: int = 0
    busiest: int = 0  # videos of `person`
    video: int = 0
    event: int = 0
    cluster: int = 0
    surname: str = ""
    counts: dict[str, int] = field(default_factory=dict)


def load(database: Database, crops: list[bytes], rng: np.random.Generator) -> None:
    now = datetime.now(UTC)
    with database.session() as session:
        # ------------------------------------------------------------ people, faces
        names = [f"{FIRST[i % len(FIRST)]} {LAST[i * len(LAST) // PEOPLE]}"
                 for i in range(PEOPLE)]
        centres = unit(rng.normal(size=(PEOPLE, 512)).astype(np.float32))
        with bulk_loading(session):
            person_ids = np.array(people_store.add_people(session, names))
            for start in range(0, PEOPLE, CHUNK):
                people_store.add_faces(session, [{
                    "person_id": int(person_ids[i]), "embedding": centres[i], "model": MODEL,
                    "det_score": 0.85, "bbox": [40.0, 40.0, 200.0, 220.0],
                    "landmarks": [[90.0, 110.0], [150.0, 110.0], [120.0, 140.0],
                                  [95.0, 175.0], [145.0, 175.0]],
                    "quality": {"face_size": 160.0, "blur": 120.0, "yaw": 5.0,
                                "pitch": 3.0}, "image_sha256": f"{i:064x}",
                    "source_name": f"portrait-{i}.jpg", "crop_jpeg": crops[i % len(crops)]}
                    for i in range(start, min(start + CHUNK, PEOPLE))])
            session.commit()

        # ------------------------------------------------------------ videos
        tagged, review, unknown = TRACKS
        per_video = tagged + review + unknown
        durations = rng.integers(60_000, 600_000, VIDEOS)
        copy_rows(session, "videos", {
            "source": "varchar", "path": "varchar", "sha256": "text", "status": "varchar",
            "sample_fps": "float4", "keyframes": "bool", "duration_ms": "int4",
            "fps": "float4", "width": "int4", "height": "int4", "samples_total": "int4",
            "samples_done": "int4", "started_at": "timestamptz",
            "finished_at": "timestamptz"}, [{
                "source": f"meeting-{v:04d}.mp4", "path": f"/srv/videos/meeting-{v:04d}.mp4",
                "sha256": f"{v + 1:064x}", "status": "done", "sample_fps": 2.0,
                "keyframes": False, "duration_ms": int(durations[v]), "fps": 25.0,
                "width": 1280, "height": 720, "samples_total": int(durations[v]) // 500,
                "samples_done": int(durations[v]) // 500,
                "started_at": now - timedelta(minutes=VIDEOS - v, seconds=50),
                "finished_at": now - timedelta(minutes=VIDEOS - v)} for v in range(VIDEOS)])
        session.commit()
        video_ids = ids_of(session, "videos")
        # Who is in a video: a few regulars in many, the rest once or twice (Zipf).
        weights = 1 / np.arange(1, PEOPLE + 1) ** 0.8
        weights /= weights.sum()
        cast = np.stack([rng.choice(PEOPLE, tagged + review, replace=False, p=weights)
                         for _ in range(VIDEOS)])
        unknown_total = VIDEOS * unknown
        clusters = unknown_total // PER_CLUSTER
        unknown_centres = unit(rng.normal(size=(clusters, 512)).astype(np.float32))
        unknown_faces = noisy(np.repeat(unknown_centres, PER_CLUSTER, axis=0), rng)
        copy_rows(session, "clusters", {
            "event_id": "int8", "model": "varchar", "status": "varchar", "size": "int4",
            "weight": "float4", "weighted_sum": "vector"}, [{
                "event_id": None, "model": MODEL, "status": "open", "size": PER_CLUSTER,
                "weight": float(PER_CLUSTER),
                "weighted_sum": unknown_faces[c * PER_CLUSTER:(c + 1) * PER_CLUSTER].sum(0)}
                for c in range(clusters)])
        session.commit()
        cluster_ids = ids_of(session, "clusters")

        track_rows: list[dict[str, Any]] = []
        tag_rows: list[dict[str, Any]] = []
        review_of: list[tuple[int, int]] = []  # (track index, person index)
        for v in range(VIDEOS):
            length = int(durations[v])
            for t in range(per_video):
                first = int(rng.integers(0, length - 10_000))
                last = first + int(rng.integers(2_000, 10_000))
                status = "tagged" if t < tagged else "review" if t < tagged + review \
                    else "unknown"
                if status == "unknown":
                    u = v * unknown + (t - tagged - review)
                    embedding, person, cluster = unknown_faces[u], None, cluster_ids[
                        u // PER_CLUSTER]
                else:
                    person = int(cast[v, t])
                    embedding, cluster = noisy(centres[[person]], rng)[0], None
                if status == "review":
                    review_of.append((len(track_rows), person))
                track_rows.append({
                    "video_id": int(video_ids[v]), "model": MODEL, "first_ms": first,
                    "last_ms": last, "detections": DETECTIONS_PER_TRACK,
                    "embedding": embedding, "status": status,
                    "person_id": int(person_ids[person]) if status == "tagged" else None,
                    "similarity": {"tagged": 0.62, "review": 0.41}.get(status),
                    "crop_jpeg": crops[(v + t) % len(crops)],
                    "cluster_id": int(cluster) if cluster is not None else None,
                    "weight": 0.8})
                if status == "tagged":
                    tag_rows.append({
                        "video_id": int(video_ids[v]), "person_id": int(person_ids[person]),
                        "confidence": 0.62, "first_ms": first, "last_ms": last,
                        "segments": [[first, last]], "source": "scan"})
        track_types = {"video_id": "int8", "model": "varchar", "first_ms": "int4",
                       "last_ms": "int4", "detections": "int4", "embedding": "vector",
                       "status": "varchar", "person_id": "int8", "similarity": "float4",
                       "crop_jpeg": "bytea", "cluster_id": "int8", "weight": "float4"}
        with without_vector_indexes(session, ["tracks", "detections", "photo_faces"]):
            for start in range(0, len(track_rows), CHUNK):
                copy_rows(session, "tracks", track_types, track_rows[start:start + CHUNK])
            session.commit()
            track_ids = ids_of(session, "tracks")
            detection_types = {"video_id": "int8", "track_id": "int8", "time_ms": "int4",
                               "frame_index": "int4", "bbox": "jsonb", "det_score": "float4",
                               "quality": "jsonb", "embedding": "vector", "crop_jpeg": "bytea"}
            rows: list[dict[str, Any]] = []
            for track, track_id in zip(track_rows, track_ids, strict=True):
                step = (track["last_ms"] - track["first_ms"]) // DETECTIONS_PER_TRACK
                for d in range(DETECTIONS_PER_TRACK):
                    time_ms = track["first_ms"] + d * step
                    rows.append({
                        "video_id": track["video_id"], "track_id": int(track_id),
                        "time_ms": time_ms, "frame_index": time_ms * 25 // 1000,
                        "bbox": [400.0 + d, 200.0, 560.0 + d, 390.0], "det_score": 0.8,
                        "quality": {"face_size": 160.0, "blur": 90.0, "yaw": 10.0,
                                    "pitch": 4.0}, "embedding": track["embedding"],
                        "crop_jpeg": track["crop_jpeg"]})
                if len(rows) >= CHUNK:
                    copy_rows(session, "detections", detection_types, rows,
                              frozenset({"bbox", "quality"}))
                    rows = []
            copy_rows(session, "detections", detection_types, rows,
                      frozenset({"bbox", "quality"}))
            copy_rows(session, "video_tags", {
                "video_id": "int8", "person_id": "int8", "confidence": "float4",
                "first_ms": "int4", "last_ms": "int4", "segments": "jsonb",
                "source": "varchar"}, tag_rows, frozenset({"segments"}))
            copy_rows(session, "review_items", {
                "track_id": "int8", "person_id": "int8", "similarity": "float4",
                "status": "varchar"}, [{
                    "track_id": int(track_ids[index]), "person_id": int(person_ids[person]),
                    "similarity": 0.41, "status": "pending"} for index, person in review_of])
            session.commit()

            # -------------------------------------------------------- events
            event_ids = [session.scalar(text(
                "INSERT INTO events (name) VALUES (:name) RETURNING id"),
                {"name": f"Conference day {e + 1}"}) for e in range(EVENTS)]
            copy_rows(session, "photos", {
                "event_id": "int8", "photo_key": "varchar", "source": "varchar",
                "image_sha256": "text", "width": "int4", "height": "int4",
                "status": "varchar"}, [{
                    "event_id": event_id, "photo_key": f"IMG_{p:05d}.jpg", "source": "upload",
                    "image_sha256": f"{e:032x}{p:032x}", "width": 1600, "height": 1067,
                    "status": "ready"}
                    for e, event_id in enumerate(event_ids) for p in range(PHOTOS_PER_EVENT)])
            session.commit()
            photo_ids = ids_of(session, "photos")
            event_clusters = PHOTOS_PER_EVENT * FACES_PER_PHOTO // 10
            copy_rows(session, "clusters", {
                "event_id": "int8", "model": "varchar", "status": "varchar", "size": "int4",
                "weight": "float4", "weighted_sum": "vector"}, [{
                    "event_id": event_ids[0], "model": MODEL, "status": "open", "size": 10,
                    "weight": 10.0, "weighted_sum": np.ones(512, np.float32)}
                    for _ in range(event_clusters)])
            session.commit()
            first_event_clusters = ids_of(session, "clusters")[-event_clusters:]
            guests = unit(rng.normal(size=(len(photo_ids) * FACES_PER_PHOTO, 512)))
            copy_rows(session, "photo_faces", {
                "photo_id": "int8", "event_id": "int8", "embedding": "vector",
                "model": "varchar", "det_score": "float4", "bbox": "jsonb",
                "weight": "float4", "crop_jpeg": "bytea", "cluster_id": "int8"}, [{
                    "photo_id": int(photo), "event_id": event_ids[p // PHOTOS_PER_EVENT],
                    "embedding": guests[p * FACES_PER_PHOTO + f], "model": MODEL,
                    "det_score": 0.8, "bbox": [300.0 + 500 * f, 200.0, 460.0 + 500 * f,
                                               390.0], "weight": 0.9,
                    "crop_jpeg": crops[(p + f) % len(crops)],
                    "cluster_id": int(first_event_clusters[(p * FACES_PER_PHOTO + f) // 10])
                    if p < PHOTOS_PER_EVENT else None}
                    for p, photo in enumerate(photo_ids) for f in range(FACES_PER_PHOTO)],
                frozenset({"bbox"}))
            session.commit()

        # ------------------------------------------------------------ access, audit
        access = AccessService()
        access.add_user(session, USER, PASSWORD, Role.ADMIN)
        access.add_user(session, "editor", PASSWORD, Role.EDITOR)
        access.add_user(session, "viewer", PASSWORD, Role.VIEWER)
        for k in range(10):
            access.create_key(session, f"importer {k}", Role.EDITOR, created_by="bench")
        copy_rows(session, "audit_log", {
            "actor": "varchar", "action": "varchar", "target": "varchar", "status": "int4"}, [{
                "actor": f"user {USER}", "action": "update_person",
                "target": f"person_id={int(person_ids[a % PEOPLE])}", "status": 200}
                for a in range(AUDIT)])
        session.commit()

    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))


def describe(database: Database) -> Loaded:
    """What the pages are asked about, and how much the database holds."""
    with database.session() as session:
        def one(query: str) -> Any:
            return session.execute(text(query)).one()

        busiest, videos = one("SELECT person_id, count(*) FROM video_tags GROUP BY person_id "
                              "ORDER BY count(*) DESC, person_id LIMIT 1")
        typical, = one("SELECT person_id FROM video_tags GROUP BY person_id "
                       "HAVING count(*) = 2 ORDER BY person_id LIMIT 1")
        return Loaded(
            person=busiest, typical=typical, busiest=videos, surname=LAST[7],
            video=one("SELECT min(id) FROM videos")[0],
            event=one("SELECT min(id) FROM events")[0],
            cluster=one("SELECT min(id) FROM clusters WHERE event_id IS NULL")[0],
            counts={table: one(f"SELECT count(*) FROM {table}")[0] for table in (
                "people", "faces", "videos", "tracks", "detections", "video_tags",
                "review_items", "clusters", "events", "photos", "photo_faces",
                "audit_log")})


class Statements:
    """The SQL statements of the requests in progress, with their durations."""

    def __init__(self, database: Database) -> None:
        self.seen: list[tuple[float, str, Any]] = []  # (ms, statement, parameters)
        self._started: dict[int, float] = {}
        event.listen(database.engine, "before_cursor_execute", self._before)
        event.listen(database.engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self._started[id(cursor)] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any,
               *args: Any) -> None:
        began = self._started.pop(id(cursor), time.perf_counter())
        self.seen.append(((time.perf_counter() - began) * 1000, statement, parameters))


@dataclass
class Result:
    label: str
    path: str
    times: list[float] = field(default_factory=list)  # wall ms of each request
    cpu: list[float] = field(default_factory=list)  # this process's CPU ms (not the server's)
    sql: list[float] = field(default_factory=list)  # ms spent in SQL statements
    size: int = 0
    statements: list[tuple[float, str, Any]] = field(default_factory=list)  # the last request
    note: str = ""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]  # nearest rank


def measure(client: TestClient, statements: Statements, pages: list[tuple[str, str]],
            rounds: int) -> list[Result]:
    results = [Result(label, path) for label, path in pages]
    live = []
    for result in results:
        answer = client.get(result.path, follow_redirects=False)
        if answer.status_code == 404:
            result.note = "skipped: 404 (no such page yet)"
        elif answer.status_code != 200:
            result.note = f"skipped: answered {answer.status_code}"
        else:
            live.append(result)
    for result in live:  # warm-up: templates compiled, pool connections opened
        for _ in range(3):
            client.get(result.path)
    for _ in range(rounds):
        for result in live:
            statements.seen.clear()
            cpu, started = time.process_time(), time.perf_counter()
            answer = client.get(result.path, follow_redirects=False)
            result.times.append((time.perf_counter() - started) * 1000)
            result.cpu.append((time.process_time() - cpu) * 1000)
            assert answer.status_code == 200, (result.path, answer.status_code)
            result.size = len(answer.content)
            result.statements = list(statements.seen)
            result.sql.append(sum(ms for ms, _, _ in statements.seen))
    return results


def report(results: list[Result], queries: bool, explain: Database | None) -> None:
    print(f"| page | path | median ms | p95 ms | CPU ms | SQL ms | SQL statements | size KB "
          f"| ≤ {BAR_MS:.0f} ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for result in results:
        if result.note:
            print(f"| {result.label} | `{result.path}` | | | | | | | {result.note} |")
            continue
        median, p95 = statistics.median(result.times), percentile(result.times, 0.95)
        print(f"| {result.label} | `{result.path}` | {median:.1f} | {p95:.1f} | "
              f"{statistics.median(result.cpu):.1f} | {statistics.median(result.sql):.1f} | "
              f"{len(result.statements)} | {result.size / 1024:.1f} | "
              f"{'yes' if p95 <= BAR_MS else '**no**'} |")
    if not queries and explain is None:
        return
    for result in results:
        if result.note:
            continue
        slowest = sorted(result.statements, key=lambda seen: -seen[0])[:3]
        print(f"\n{result.label} ({result.path}): {len(result.statements)} statements, "
              f"{sum(ms for ms, _, _ in result.statements):.1f} ms in all; the slowest:")
        for ms, statement, _ in slowest:
            print(f"  {ms:7.1f} ms  {' '.join(statement.split())[:300]}")
        if explain is not None and slowest:
            _, statement, parameters = slowest[0]
            with explain.engine.connect() as connection:
                plan = connection.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).scalars().all()
            print("\n".join("      " + line for line in plan))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--keep", action="store_true",
                        help="reuse the database of the last run (build/bench-ui), if loaded")
    parser.add_argument("--queries", action="store_true",
                        help="print each page's three slowest SQL statements")
    parser.add_argument("--explain", action="store_true",
                        help="and the plan (EXPLAIN ANALYZE) of each page's slowest")
    args = parser.parse_args()

    data_dir = REPO / "build" / "bench-ui"
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    settings = Settings(data_dir=data_dir, worker_in_serve=False)
    engine = FaceEngine.from_settings(settings)
    database = Database.open(settings)
    try:
        started = time.perf_counter()
        with database.session() as session:
            people = session.scalar(text("SELECT count(*) FROM people"))
        if people != PEOPLE:
            if people:
                raise SystemExit(f"{data_dir} holds another database: run without --keep")
            load(database, real_crops(engine), np.random.default_rng(13))
        loading = time.perf_counter() - started
        loaded = describe(database)
        pages = [(label, path.format(person=loaded.person, typical=loaded.typical,
                                     video=loaded.video,
                                     event=loaded.event, cluster=loaded.cluster,
                                     surname=loaded.surname)) for label, path in PAGES]
        statements = Statements(database)
        app = create_app(settings, engine=engine, database=database)
        with TestClient(app, raise_server_exceptions=False) as client:
            signed_in = client.post("/ui/login", data={
                "username": USER, "password": PASSWORD, "next": "/ui"},
                follow_redirects=False)
            assert signed_in.status_code == 303 and signed_in.headers["location"] == "/ui", \
                "the bench could not sign in"
            results = measure(client, statements, pages, args.rounds)
        kept = " (kept from the last run)" if loading < 5 else f" (loaded in {loading:.0f} s)"
        print(f"Machine: {machine()}; PostgreSQL 18 embedded; load average "
              f"{os.getloadavg()[0]:.1f} at the end; {args.rounds} rounds per page (the "
              f"pages taking turns), after 3 warm-up requests each\n")
        print("Database: " + ", ".join(f"{count:,} {table}" for table, count in
                                       loaded.counts.items()) + kept + "; the person in "
              f"many videos is in {loaded.busiest}, the other in 2\n")
        report(results, args.queries, database if args.explain else None)
    finally:
        database.close()
        engine.close()


if __name__ == "__main__":
    main()
