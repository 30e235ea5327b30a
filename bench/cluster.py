"""Clustering of unknown faces: BCubed accuracy against Immich-style DBSCAN, sensitivity to
the parameters, and speed from scratch and incremental, in memory and through the database.

    python bench/cluster.py                     # dev set, then 10k and 100k faces in memory
    python bench/cluster.py --sizes 10000       # a quicker speed run
    python bench/cluster.py --tables database   # ClusterService on PostgreSQL (long)
    python bench/cluster.py --tables accuracy speed database   # everything

Accuracy: shared/data/celeba_dev (60 people, 10 photos each), the largest face of each
photo embedded with buffalo_s; a photo without a face counts as an unclustered face. BCubed
precision and recall per face, unclustered faces as clusters of their own. "Degraded": the
same photos with a random 30% shrunk until the face is 20-36 px and blurred (sigma
0.5-1.5), to see what poor faces do. Speed: synthetic identities built as bench/search.py
builds them, "uniform" (5 faces each) and "skewed" (a few people with thousands of faces,
many with one; see identities()); then 1,000 faces added to each clustering, half of
known people, half of 100 new ones. Database: the same kinds of faces loaded as the
photo faces of an event in an embedded PostgreSQL (build/bench-cluster), clustered by
ClusterService.rebuild, then twice 1,000 more by ClusterService.update, each pass timed by
part, its stored clustering scored, next to the Immich-style DBSCAN on the same faces in
memory (see database_table()); not in the default run, which it lengthens by about 20
minutes on 2 cores with today's store.
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
from common import DATA, REPO, machine
from search import DIMENSION, MODEL, manifold_centres, noisy, unit
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.services import clusters as cluster_service
from likeness.services.clustering import (
    COLUMN_BLOCK,
    ROW_BLOCK,
    ClusterParams,
    Clusters,
    assign,
    bcubed,
    cluster,
    face_weight,
    immich_style,
    neighbour_links,
)
from likeness.services.clusters import ClusterService, Updated
from likeness.store import Database
from likeness.store import clusters as cluster_store
from likeness.store import events as events_store
from likeness.store.bulk import bulk_loading
from likeness.store.models import Photo, PhotoFace
from likeness.store.search_index import vector_indexes

BATCH = 32
DEGRADED_SHARE = 0.3
FACES_PER_PERSON = 5
ADDED = 1000
NEW_PEOPLE = 100
CHUNK = 5000  # faces per COPY
TABLES = ("accuracy", "speed", "database")
DEFAULT_TABLES = ("accuracy", "speed")
CHECKED = 20_000  # the baseline is checked against immich_style up to this many faces


@dataclass
class DevSet:
    truth: np.ndarray  # identity of every photo
    found: np.ndarray  # photos with a face
    embeddings: np.ndarray  # of the photos with a face
    weights: np.ndarray
    sizes: np.ndarray  # face size in pixels

    def score(self, labels: np.ndarray) -> tuple[float, float, float]:
        return bcubed(self.truth, self.labels_of_photos(labels))

    def labels_of_photos(self, labels: np.ndarray) -> np.ndarray:
        every = np.full(len(self.truth), -1)
        every[self.found] = labels
        return every


def read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return image


def embed(engine: FaceEngine, images: list[np.ndarray], truth: np.ndarray) -> DevSet:
    """The largest face of each image."""
    found, embeddings, weights, sizes = [], [], [], []
    for start in range(0, len(images), BATCH):
        for offset, faces in enumerate(engine.analyze_batch(images[start:start + BATCH])):
            if faces:
                found.append(start + offset)
                embeddings.append(faces[0].require_embedding())
                weights.append(face_weight(faces[0].quality, faces[0].det_score))
                sizes.append(faces[0].quality.face_size)
    return DevSet(truth, np.array(found), np.array(embeddings),
                  np.array(weights, np.float32), np.array(sizes))


def degrade(images: list[np.ndarray], dev: DevSet,
            rng: np.random.Generator) -> list[np.ndarray]:
    face_size = np.zeros(len(images))
    face_size[dev.found] = dev.sizes
    degraded = []
    for image, size in zip(images, face_size, strict=True):
        if size and rng.random() < DEGRADED_SHARE:
            scale = rng.uniform(20, 36) / size
            if scale < 1:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.5))
        degraded.append(image)
    return degraded


def row(name: str, dev: DevSet, labels: np.ndarray) -> str:
    precision, recall, f1 = dev.score(labels)
    every = dev.labels_of_photos(labels)
    clusters = len(np.unique(every[every >= 0]))
    return (f"| {name} | {precision:.3f} | {recall:.3f} | **{f1:.3f}** | {clusters} | "
            f"{int(np.sum(every < 0))} |")


def accuracy_tables(engine: FaceEngine) -> None:
    paths = sorted((DATA / "celeba_dev").glob("*/*.jpg"))
    images = [read(path) for path in paths]
    truth = np.array([int(path.parent.name) for path in paths])
    dev = embed(engine, images, truth)
    worse = embed(engine, degrade(images, dev, np.random.default_rng(7)), truth)
    defaults = ClusterParams()
    print(f"### Accuracy: {len(paths)} photos of {len(set(truth))} people; no face found in "
          f"{len(paths) - len(dev.found)} (degraded: {len(paths) - len(worse.found)})\n")
    print("| set | method | BCubed P | R | F1 | clusters | unclustered |")
    print("|---|---|---|---|---|---|---|")
    for name, data in (("dev", dev), ("degraded", worse)):
        for method, labels in (
                ("Immich-style DBSCAN (similarity >= 0.5, 3 faces)",
                 immich_style(data.embeddings)),
                ("Immich-style, best distance on dev (similarity >= 0.4)",
                 immich_style(data.embeddings, max_distance=0.6)),
                ("ours, no quality weights", cluster(data.embeddings, None, defaults)),
                ("**ours**", cluster(data.embeddings, data.weights, defaults))):
            print(row(f"{name} | {method}", data, labels))
    sensitivity(dev, worse, defaults)


def sensitivity(dev: DevSet, worse: DevSet, defaults: ClusterParams) -> None:
    def f1(data: DevSet, params: ClusterParams) -> str:
        return f"{data.score(cluster(data.embeddings, data.weights, params))[2]:.3f}"

    floors = (0.12, 0.15, 0.18, 0.20, 0.22, 0.25)
    print("\n### Sensitivity: BCubed F1 on dev (degraded) by link (rows) and link_floor\n")
    print("| link | " + " | ".join(f"floor {floor:.2f}" for floor in floors) + " |")
    print("|---|" + "---|" * len(floors))
    for link in (0.22, 0.25, 0.28, 0.30, 0.32, 0.35):
        cells = [f"{f1(dev, params)} ({f1(worse, params)})"
                 for floor in floors for params in [replace(defaults, link=link,
                                                            link_floor=floor)]]
        print(f"| {link:.2f} | " + " | ".join(cells) + " |")
    print("\n| other parameter (the rest at defaults) | F1 dev | F1 degraded |")
    print("|---|---|---|")
    for name, params in [(f"neighbours {k}", replace(defaults, neighbours=k))
                         for k in (3, 5, 20)] + [
            (f"min_size {size}", replace(defaults, min_size=size)) for size in (2, 4)] + [
            (f"min_weight {weight}", replace(defaults, min_weight=weight)) for weight in (0, 2)]:
        print(f"| {name} | {f1(dev, params)} | {f1(worse, params)} |")
    print(f"| **defaults**: {defaults} | {f1(dev, defaults)} | {f1(worse, defaults)} |")


def identities(size: int, kind: str, rng: np.random.Generator, spare: int = NEW_PEOPLE
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(faces, their owners, centres of the owners and of `spare` people with no face
    yet). uniform: 5 faces each, centres uniform on the sphere (bench/search.py's default).
    skewed: Zipf(1.6) faces per person capped at 2,000 (a few people with hundreds or
    thousands of faces, many with one), centres on a 16-d manifold (bench/search.py's
    --manifold-dim), each face's noise scale 0.7-1.1 (same-person cosine 0.45-0.67)."""
    if kind == "uniform":
        counts = np.full(size // FACES_PER_PERSON, FACES_PER_PERSON)
    else:
        counts = np.minimum(rng.zipf(1.6, size), 2000)
        counts = counts[:np.searchsorted(np.cumsum(counts), size) + 1]
        counts[-1] -= counts.sum() - size
    owners = np.repeat(np.arange(len(counts)), counts)
    people = len(counts) + spare
    centres = unit(rng.normal(size=(people, DIMENSION))) if kind == "uniform" \
        else manifold_centres(people, 16, rng)
    return faces_of(kind, centres, owners, rng), owners, centres


def faces_of(kind: str, centres: np.ndarray, owners: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    if kind == "uniform":
        return noisy(centres[owners], rng)
    scale = rng.uniform(0.7, 1.1, (len(owners), 1)) / np.sqrt(DIMENSION)
    return unit(centres[owners] + rng.normal(size=(len(owners), DIMENSION)) * scale)


def similar_pairs(embeddings: np.ndarray, floor: float
                  ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every pair (first < second) of faces at least `floor` similar with its similarity,
    a block of rows at a time (exact dot products over the upper triangle)."""
    for row in range(0, len(embeddings), ROW_BLOCK):
        rows = embeddings[row:row + ROW_BLOCK]
        for column in range(row, len(embeddings), COLUMN_BLOCK):
            block = rows @ embeddings[column:column + COLUMN_BLOCK].T
            i, j = np.nonzero(block >= floor)
            above = i + row < j + column
            i, j = i[above], j[above]
            yield i + row, j + column, block[i, j]


def immich_streamed(embeddings: np.ndarray, max_distance: float = 0.5,
                    min_faces: int = 3) -> np.ndarray:
    """clustering.immich_style, the same DBSCAN, without its sorting of every pair above
    the threshold: a person with 2,000 faces has 2 million such pairs, and the skewed 100k
    faces 48 million, which immich_style holds as neighbour lists and re-sorts (10 minutes
    here). The pairs are kept as found, a block at a time (12 bytes each); cores are the
    faces with min_faces neighbours, themselves included; the cores linked to each other
    are joined (a root per face, each block's links reduced to distinct pairs of roots
    first), and any other face takes the root of the most similar core linked to it."""
    embeddings = np.asarray(embeddings, np.float32)
    count = len(embeddings)
    blocks = [(first.astype(np.int32), second.astype(np.int32), scores) for first, second,
              scores in similar_pairs(embeddings, 1 - max_distance)]
    degree = np.zeros(count, np.int64)
    for first, second, _ in blocks:
        degree += np.bincount(first, minlength=count) + np.bincount(second, minlength=count)
    core = degree + 1 >= min_faces
    roots = np.arange(count)
    best_core = np.full(count, -1)
    best_score = np.full(count, -np.inf, np.float32)
    for first, second, scores in blocks:
        both = core[first] & core[second]
        roots = joined(roots, first[both], second[both])
        faces = np.concatenate([first, second])
        cores = np.concatenate([second, first])
        border = ~core[faces] & core[cores]
        faces, cores = faces[border], cores[border]
        border_scores = np.concatenate([scores, scores])[border]
        order = np.lexsort((-border_scores, faces))
        faces, cores, border_scores = faces[order], cores[order], border_scores[order]
        head = np.ones(len(faces), bool)
        head[1:] = faces[1:] != faces[:-1]
        better = border_scores[head] > best_score[faces[head]]
        best_core[faces[head][better]] = cores[head][better]
        best_score[faces[head][better]] = border_scores[head][better]
    bordering = best_core >= 0
    roots[bordering] = roots[best_core[bordering]]
    clustered = core | bordering
    labels = np.full(count, -1)
    _, labels[clustered] = np.unique(roots[clustered], return_inverse=True)
    return labels


def joined(roots: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Roots (each face's component, the lowest face of it) after linking these pairs;
    `roots` points straight at roots, and so does the result."""
    a, b = roots[first], roots[second]
    differ = a != b
    if not differ.any():
        return roots
    pairs = np.unique(np.minimum(a, b)[differ] * len(roots) + np.maximum(a, b)[differ])
    low_end, high_end = pairs // len(roots), pairs % len(roots)
    lowest = np.arange(len(roots))
    while True:  # the lowest root of each component of the roots: propagate it
        low = np.minimum(lowest[low_end], lowest[high_end])
        spread = lowest.copy()
        np.minimum.at(spread, low_end, low)
        np.minimum.at(spread, high_end, low)
        spread = spread[spread]
        if np.array_equal(spread, lowest):
            return lowest[roots]
        lowest = spread


def speed_table(sizes: list[int]) -> None:
    print("\n### Speed: synthetic identities\n")
    print("| identities | faces | step | s | BCubed F1 |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(2026)
    params = ClusterParams()
    for kind in ("uniform", "skewed"):
        for size in sizes:
            faces, owners, centres = identities(size, kind, rng)
            started = time.perf_counter()
            first, second, _ = neighbour_links(faces, params.neighbours, params.link_floor)
            searched = time.perf_counter()
            labels = cluster(faces, None, params, links=(first, second))
            done = time.perf_counter()
            head = f"| {kind} | {size:,}"
            print(f"{head} | neighbour search (exact, blockwise) | {searched - started:.1f} | |")
            print(f"{head} | agglomeration | {done - searched:.1f} | |")
            print(f"{head} | **from scratch, in all** | **{done - started:.1f}** | "
                  f"{bcubed(owners, labels)[2]:.3f} |", flush=True)
            incremental(kind, f"{head} + {ADDED:,}", faces, owners, centres, labels, rng)


def more_faces(kind: str, owners: np.ndarray, centres: np.ndarray,
               rng: np.random.Generator, first_new: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """ADDED faces and their owners: half of known people (drawn face by face, so the
    prolific people more often), half of NEW_PEOPLE new ones, from person `first_new` on
    (default: the last NEW_PEOPLE of the centres)."""
    known = owners[rng.integers(0, len(owners), ADDED // 2)]
    first_new = len(centres) - NEW_PEOPLE if first_new is None else first_new
    new = first_new + np.arange(ADDED // 2) % NEW_PEOPLE
    added_owners = np.concatenate([known, new])
    return faces_of(kind, centres, added_owners, rng), added_owners


def incremental(kind: str, head: str, faces: np.ndarray, owners: np.ndarray,
                centres: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> None:
    added, added_owners = more_faces(kind, owners, centres, rng)
    started = time.perf_counter()
    state = Clusters.from_labels(faces, labels)
    built = time.perf_counter()
    placed = assign(added, state)
    done = time.perf_counter()
    total = bcubed(np.concatenate([owners, added_owners]), np.concatenate([labels, placed]))
    print(f"{head} | clusters' sums from the labels (once; the database would keep them) | "
          f"{built - started:.1f} | |")
    print(f"{head} | **assign**: {ADDED // 2} faces of known people, {ADDED // 2} of "
          f"{NEW_PEOPLE} new | **{done - built:.2f}** | {total[2]:.3f} (all faces) |",
          flush=True)


# Where a pass's time goes: the functions of services/clusters.py's collaborators timed
# while it runs, by part (the session's commit too); the rest is the service's own code.
PARTS: dict[str, tuple[tuple[ModuleType, str], ...]] = {
    "read faces": ((cluster_store, "faces"),),
    "read clusters": ((cluster_store, "live_clusters"), (cluster_store, "settled_ids")),
    "check departed": tuple((cluster_store, name) for name in (
        "lock", "detach_departed", "exclusions")),
    "algorithm": ((cluster_service, "assign"),),
    "write faces": ((cluster_store, "set_members"),),
    "write clusters": tuple((cluster_store, name) for name in (
        "create_clusters", "save_totals", "delete_clusters")),
}
COLUMNS = (*PARTS, "commit")


@contextmanager
def stopwatch(session: Session) -> Iterator[dict[str, float]]:
    """Seconds spent in each part of PARTS (and "commit", "in all") within the block."""
    spent: dict[str, float] = defaultdict(float)

    def timed(part: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[part] += time.perf_counter() - started
        return run

    targets: list[tuple[Any, str, str]] = [(module, name, part) for part, names in
                                           PARTS.items() for module, name in names]
    targets.append((session, "commit", "commit"))
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]
    for owner, name, part in targets:
        setattr(owner, name, timed(part, getattr(owner, name)))
    started = time.perf_counter()
    try:
        yield spent
    finally:
        spent["in all"] = time.perf_counter() - started
        for owner, name, original in originals:
            if owner is session:
                delattr(session, name)  # the class's method again
            else:
                setattr(owner, name, original)


def add_faces(database: Database, event_id: int, faces: np.ndarray, first: int,
              bulk: bool) -> None:
    """Faces as photo_faces of the event, one photo each keyed by its face's index
    (`first` on); `bulk`: through bulk_loading, the vector index built once at the end."""
    with database.session() as session:
        if bulk:
            with bulk_loading(session, "photo_faces"):
                insert_faces(session, event_id, faces, first)
        else:
            insert_faces(session, event_id, faces, first)


def insert_faces(session: Session, event_id: int, faces: np.ndarray, first: int) -> None:
    for start in range(0, len(faces), CHUNK):
        chunk = faces[start:start + CHUNK]
        photos = events_store.add_photos(
            session, event_id, [str(first + start + i) for i in range(len(chunk))],
            "embedding")
        events_store.add_photo_faces(session, [{
            "photo_id": photo, "event_id": event_id, "embedding": face, "model": MODEL,
            "det_score": 0.8, "bbox": [0, 0, 100, 100], "landmarks": None, "weight": 1.0,
            "crop_jpeg": None} for photo, face in zip(photos, chunk, strict=True)])
    session.commit()


def stored_labels(database: Database, event_id: int, count: int) -> np.ndarray:
    """Each face's stored cluster id by face index, -1 where none."""
    with database.session() as session:
        rows = session.execute(select(Photo.photo_key, PhotoFace.cluster_id)
                               .join(Photo, Photo.id == PhotoFace.photo_id)
                               .where(PhotoFace.event_id == event_id)).all()
    labels = np.full(count, -1, np.int64)
    for key, cluster_id in rows:
        labels[int(key)] = -1 if cluster_id is None else cluster_id
    return labels


def timed_pass(database: Database, method: Callable[[Session, int | None, str], Updated],
               event_id: int) -> dict[str, float]:
    """Seconds of a ClusterService pass over the event, by part (stopwatch)."""
    with database.session() as session, stopwatch(session) as spent:
        method(session, event_id, MODEL)
    return spent


def database_row(head: str, step: str, spent: dict[str, float], truth: np.ndarray,
                 labels: np.ndarray) -> str:
    precision, recall, f1 = bcubed(truth, labels)
    parts = " | ".join(f"{spent.get(part, 0):.2f}" for part in COLUMNS)
    return (f"{head} | {step} | **{spent['in all']:.1f}** | {parts} | {precision:.3f} | "
            f"{recall:.3f} | {f1:.3f} | {len(np.unique(labels[labels >= 0])):,} |")


def database_table(sizes: list[int]) -> None:
    """ClusterService.rebuild of an event's faces from scratch, then two updates of ADDED
    more faces each (half of known people, half of NEW_PEOPLE new ones), each pass timed
    whole (reading from PostgreSQL, clustering, writing cluster ids and totals,
    committing) and by part; the clustering read back from the database is scored. Each
    run has the database to itself (its event's faces only). Autovacuum is off on the
    tables, so that the planner's statistics are the same at every run: the first update
    runs on those of the load (no cluster ids yet), as an update does until autovacuum
    analyses the tables (within a minute or so of a large change); the second after an
    ANALYZE."""
    data_dir = REPO / "build" / "bench-cluster"
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = Settings(data_dir=data_dir)
    database = Database.open(settings)
    service = ClusterService()
    with database.engine.begin() as connection:
        for table in ("photos", "photo_faces", "clusters"):
            connection.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = off)"))
    print(f"\n### Through the database: ClusterService on an event's photo faces "
          f"(PostgreSQL 18 embedded, shared_buffers {settings.embedded_shared_buffers})\n")
    print("| identities | faces | pass | s | " + " | ".join(COLUMNS)
          + " | BCubed P | R | F1 | clusters |")
    print("|---|---|---|---|" + "---|" * len(COLUMNS) + "---|---|---|---|")
    rng = np.random.default_rng(2027)
    checked: list[str] = []
    indexed = True
    try:
        for kind in ("uniform", "skewed"):
            for size in sizes:
                faces, owners, centres = identities(size, kind, rng, spare=2 * NEW_PEOPLE)
                event_id = new_event(database, f"{kind} {size}")
                add_faces(database, event_id, faces, 0, bulk=True)
                with database.engine.connect() as connection:
                    indexed &= bool(vector_indexes(connection, "photo_faces"))
                head = f"| {kind} | {size:,}"
                spent = timed_pass(database, service.rebuild, event_id)
                print(database_row(head, "**rebuild** (from scratch)", spent, owners,
                                   stored_labels(database, event_id, size)), flush=True)
                print(baseline_row(head, faces, owners, checked, kind), flush=True)
                truth = owners
                for batch, step in enumerate((
                        "**update** right after the rebuild (statistics of the load)",
                        "**update** after ANALYZE")):
                    if batch:
                        with database.engine.begin() as connection:
                            connection.execute(text("ANALYZE photo_faces, clusters"))
                    added, added_owners = more_faces(
                        kind, owners, centres, rng,
                        first_new=len(centres) - (2 - batch) * NEW_PEOPLE)
                    add_faces(database, event_id, added, len(truth), bulk=False)
                    spent = timed_pass(database, service.update, event_id)
                    truth = np.concatenate([truth, added_owners])
                    print(database_row(f"{head} + {len(truth) - size:,}", step, spent, truth,
                                       stored_labels(database, event_id, len(truth))),
                          flush=True)
    finally:
        database.close()
    print(f"\nUpdates: {ADDED // 2} faces of known people and {ADDED // 2} of {NEW_PEOPLE} "
          "new ones each; BCubed over all the event's faces. Columns after s: seconds in "
          "services/clusters.py's calls to store/clusters.py (read faces: `faces`; read "
          "clusters: `live_clusters`, `settled_ids`; check departed: `lock`, "
          "`detach_departed`, `exclusions`; write faces: `set_members`; write clusters: "
          "`create_clusters`, `save_totals`, `delete_clusters`), in `assign` (algorithm), "
          "and committing. photo_faces had its HNSW index in every run: "
          f"{'yes' if indexed else '**no**'}. Baseline: clustering.immich_style's DBSCAN "
          "computed as immich_streamed does" + (f" (the same clusters as immich_style itself: "
                                    f"{', '.join(checked)})" if checked else "") + ".")


def new_event(database: Database, name: str) -> int:
    """An event in an otherwise empty database."""
    with database.engine.begin() as connection:
        connection.execute(text("TRUNCATE events, clusters CASCADE"))
    with database.session() as session:
        event_id: int = events_store.create_event(session, name).id
        session.commit()
    return event_id


def baseline_row(head: str, faces: np.ndarray, owners: np.ndarray, checked: list[str],
                 kind: str) -> str:
    """The Immich-style DBSCAN on the same faces, in memory; below CHECKED faces, checked
    against clustering.immich_style (noted in `checked`)."""
    started = time.perf_counter()
    labels = immich_streamed(faces)
    took = time.perf_counter() - started
    if len(faces) <= CHECKED:
        _, same = np.unique(immich_style(faces), return_inverse=True)
        agree = np.array_equal(same, np.unique(labels, return_inverse=True)[1])
        checked.append(f"{'yes' if agree else '**no**'} on {kind} {len(faces):,}")
    precision, recall, f1 = bcubed(owners, labels)
    return (f"{head} | Immich-style DBSCAN, in memory (baseline) | {took:.1f} | "
            + " | ".join(f"{took:.2f}" if part == "algorithm" else "" for part in COLUMNS)
            + f" | {precision:.3f} | {recall:.3f} | {f1:.3f} | "
            f"{len(np.unique(labels[labels >= 0])):,} |")

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=list(DEFAULT_TABLES),
                        help="which tables to print (default: accuracy speed)")
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    print(f"Command: python bench/cluster.py --sizes {' '.join(map(str, args.sizes))} "
          f"--tables {' '.join(args.tables)}; model buffalo_s; numpy {np.__version__}\n")
    began = time.perf_counter()
    if "accuracy" in args.tables:
        engine = FaceEngine.from_settings(Settings(model="buffalo_s",
                                                   model_dir=Path("/nonexistent")))
        try:
            accuracy_tables(engine)
        finally:
            engine.close()
    if "speed" in args.tables:
        speed_table(args.sizes)
    if "database" in args.tables:
        database_table(args.sizes)
    print(f"\nThe run took {time.perf_counter() - began:.0f} s.")

if __name__ == "__main__":
    main()
