"""Clustering of unknown faces: BCubed accuracy against Immich-style DBSCAN, sensitivity to
the parameters, and speed from scratch and incremental.

    python bench/cluster.py                     # dev set, then 10k and 100k synthetic faces
    python bench/cluster.py --sizes 10000       # a quicker speed run

Accuracy: shared/data/celeba_dev (60 people, 10 photos each), the largest face of each
photo embedded with buffalo_s; a photo without a face counts as an unclustered face. BCubed
precision and recall per face, unclustered faces as clusters of their own. "Degraded": the
same photos with a random 30% shrunk until the face is 20-36 px and blurred (sigma
0.5-1.5), to see what poor faces do. Speed: synthetic identities built as bench/search.py
builds them, "uniform" (5 faces each) and "skewed" (a few people with thousands of faces,
many with one; see identities()); then 1,000 faces added to each clustering, half of
known people, half of 100 new ones.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from common import DATA, machine
from search import DIMENSION, manifold_centres, noisy, unit

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.services.clustering import (
    ClusterParams,
    Clusters,
    assign,
    bcubed,
    cluster,
    face_weight,
    immich_style,
    neighbour_links,
)

BATCH = 32
DEGRADED_SHARE = 0.3
FACES_PER_PERSON = 5
ADDED = 1000
NEW_PEOPLE = 100


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


def identities(size: int, kind: str, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(faces, their owners, centres of the owners and of NEW_PEOPLE people with no face
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
    people = len(counts) + NEW_PEOPLE
    centres = unit(rng.normal(size=(people, DIMENSION))) if kind == "uniform" \
        else manifold_centres(people, 16, rng)
    return faces_of(kind, centres, owners, rng), owners, centres


def faces_of(kind: str, centres: np.ndarray, owners: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    if kind == "uniform":
        return noisy(centres[owners], rng)
    scale = rng.uniform(0.7, 1.1, (len(owners), 1)) / np.sqrt(DIMENSION)
    return unit(centres[owners] + rng.normal(size=(len(owners), DIMENSION)) * scale)


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


def incremental(kind: str, head: str, faces: np.ndarray, owners: np.ndarray,
                centres: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> None:
    """Half the added faces of known people (drawn face by face, so the prolific people
    more often), half of NEW_PEOPLE new ones."""
    known = owners[rng.integers(0, len(owners), ADDED // 2)]
    new = len(centres) - NEW_PEOPLE + np.arange(ADDED // 2) % NEW_PEOPLE
    added_owners = np.concatenate([known, new])
    added = faces_of(kind, centres, added_owners, rng)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    engine = FaceEngine.from_settings(Settings(model="buffalo_s", model_dir=Path("/nonexistent")))
    print(f"Machine: {machine()}")
    print(f"Command: python bench/cluster.py --sizes {' '.join(map(str, args.sizes))}; model "
          f"buffalo_s; numpy {np.__version__}\n")
    try:
        accuracy_tables(engine)
    finally:
        engine.close()
    speed_table(args.sizes)


if __name__ == "__main__":
    main()
