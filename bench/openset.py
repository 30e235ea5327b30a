"""Open-set recognition on the dev set: strangers auto-matched vs genuine probes matched right.

    python bench/openset.py                 # k = 1, 2, 3 gallery photos; seeds 0 1 2
    python bench/openset.py --failures      # and list the genuine probes k=1 gets wrong

shared/data/celeba_dev: 60 people x 10 photos. For each seed half the people are enrolled
(likeness.services.openset.evaluate: PeopleService.register into an embedded PostgreSQL
in a temporary directory, then PeopleService's search and greedy assignment on the
largest face of each probe, at the pack's thresholds); every other photo of theirs is a
genuine probe and every photo of the other half a stranger probe. "k=1, all" probes every
photo but the gallery one (the issue's setup); "held 3" sets each enrolled person's first
3 accepted photos aside and probes the rest, so k = 1, 2, 3 are judged on the same probes.

Then, measurement only (the policy is unchanged): the same candidates re-decided offline
under other match thresholds; brute-force similarities with no database (best-of, as the
store searches, checked against the database's answers; mean of similarities; the
centroid of a person's faces; flip-averaged embeddings) with a margin rule (match only
when the best person is `margin` above the second); and the genuine probes by face size
and pose. Prints Markdown.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
from common import DATA, REPO, machine

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.engine.align import align_face
from likeness.enums import Decision
from likeness.media import decode_image
from likeness.services.calibration import labelled_photos
from likeness.services.faces import Thresholds
from likeness.services.openset import (
    Candidate,
    FaceCache,
    OpenSetResult,
    Outcome,
    Tally,
    decide,
    evaluate,
    outcome,
    tally,
)
from likeness.services.people import PeopleService
from likeness.store import Database

# (gallery photos per person, photos set aside per person)
CONFIGS = [(1, 1), (1, 3), (2, 3), (3, 3)]
SWEEP = [round(t, 3) for t in np.arange(0.35, 0.5501, 0.025)]
MARGINS = [0.0, 0.03, 0.05, 0.08, 0.10]

Embeddings = dict[Path, np.ndarray]
# A probe offline: (identity, genuine, every enrolled person by score, best first; None:
# no face).
Row = tuple[str, bool, tuple[Candidate, ...] | None]


def config_name(config: tuple[int, int]) -> str:
    k, held = config
    return "k=1, all" if held == 1 else f"k={k}, held {held}"


def pct(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}" if total else "-"


def pooled(tallies: Sequence[Tally]) -> Tally:
    return Tally(*(sum(getattr(t, f) for t in tallies) for f in Tally.__dataclass_fields__))


def rates_cell(genuine: Tally, stranger: Tally) -> str:
    """right % / review % / strangers auto-matched %."""
    return (f"{pct(genuine.match_right, genuine.total)} / {pct(genuine.reviewed, genuine.total)}"
            f" / {100 * stranger.matched / stranger.total:.2f}")


# ---------------------------------------------------------------- the database runs

def results_table(runs: dict[tuple[int, int], list[OpenSetResult]]) -> None:
    print("| gallery | seed | genuine probes | matched right % | matched wrong % | to review % "
          "(right) | unknown % | no face | stranger probes | auto-matched % | to review % "
          "| gallery photos refused |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for config, results in runs.items():
        rows = [(str(r.seed), r.genuine, r.stranger, len(r.refused)) for r in results]
        rows.append(("all", pooled([r.genuine for r in results]),
                     pooled([r.stranger for r in results]), sum(len(r.refused) for r in results)))
        for seed, g, s, refused in rows:
            bold = "**" if seed == "all" else ""
            right = pct(g.match_right, g.total)
            print(f"| {config_name(config)} | {seed} | {g.total} | {bold}{right}{bold} | "
                  f"{pct(g.match_wrong, g.total)} | {pct(g.reviewed, g.total)} "
                  f"({g.review_right}) | {pct(g.unknown, g.total)} | {g.no_face} | {s.total} | "
                  f"{bold}{100 * s.matched / s.total:.2f}{bold} | {pct(s.reviewed, s.total)} | "
                  f"{refused} |")


def sweep_table(runs: dict[tuple[int, int], list[OpenSetResult]], review: float,
                pack: float) -> None:
    configs = [(1, 1), (3, 3)]
    print(f"\nMatch threshold sweep (review stays {review}; the database's top-5 candidates "
          "re-decided offline, pooled over seeds). Cells: genuine matched right % / to "
          "review % / strangers auto-matched %, then strangers to review %.\n")
    print("| match | " + " | ".join(f"{config_name(c)} | strangers to review %"
                                     for c in configs) + " |")
    print("|---|" + "---|---|" * len(configs))
    for match in SWEEP:
        cells = []
        for config in configs:
            g, s = zip(*(tally(r.probes, Thresholds(match, review)) for r in runs[config]),
                       strict=True)
            genuine, stranger = pooled(g), pooled(s)
            cells += [rates_cell(genuine, stranger), pct(stranger.reviewed, stranger.total)]
        mark = " (pack)" if abs(match - pack) < 1e-9 else ""
        print(f"| {match:.3f}{mark} | " + " | ".join(cells) + " |")


def scores_table(runs: dict[tuple[int, int], list[OpenSetResult]]) -> None:
    print("\nTop-1 similarities (pooled over seeds): genuine probes whose best candidate is "
          "the right person, and strangers' best candidate.\n")
    print("| gallery | genuine top-1 right: p5 / p25 / median | genuine whose top-1 is "
          "someone else | stranger top-1: median / p99 / max |")
    print("|---|---|---|---|")
    for config, results in runs.items():
        probes = [p for r in results for p in r.probes if p.candidates]
        right = np.array([p.candidates[0].similarity for p in probes
                          if p.genuine and p.candidates[0].identity == p.identity])
        wrong = sum(p.genuine and p.candidates[0].identity != p.identity for p in probes)
        strangers = np.array([p.candidates[0].similarity for p in probes if not p.genuine])
        g5, g25, g50 = np.percentile(right, [5, 25, 50])
        s50, s99 = np.percentile(strangers, [50, 99])
        print(f"| {config_name(config)} | {g5:.3f} / {g25:.3f} / {g50:.3f} | {wrong} | "
              f"{s50:.3f} / {s99:.3f} / {strangers.max():.3f} |")


# ---------------------------------------------------------------- offline, no database

def flip_averaged(engine: FaceEngine, people: PeopleService, cache: FaceCache) -> Embeddings:
    """Each face's embedding averaged with its mirror image's (aligned crop flipped)."""
    paths = [p for p, f in cache.items() if not isinstance(f, str)]
    crops = []
    for path in paths:
        face = cache[path]
        assert not isinstance(face, str)
        image = decode_image(path.read_bytes(), people.limits)
        crop = align_face(image, face.landmarks, engine.recognizer.size)
        crops += [crop, cv2.flip(crop, 1)]
    pairs = engine.recognizer.embed(crops).reshape(len(paths), 2, -1).sum(axis=1)
    pairs /= np.linalg.norm(pairs, axis=1, keepdims=True)
    return dict(zip(paths, pairs, strict=True))


Rule = Callable[[np.ndarray, np.ndarray], float]  # (probe, a person's gallery) -> score
RULES: dict[str, Rule] = {
    "best-of": lambda probe, gallery: float(np.max(gallery @ probe)),
    "mean of similarities": lambda probe, gallery: float(np.mean(gallery @ probe)),
    "centroid": lambda probe, gallery: float(
        probe @ (gallery.mean(axis=0) / np.linalg.norm(gallery.mean(axis=0)))),
}


def brute_candidates(result: OpenSetResult, embeddings: Embeddings, rule: Rule
                     ) -> list[Row]:
    """Each probe of `result` scored against every enrolled person from the embeddings
    alone."""
    galleries = {name: np.stack([embeddings[p] for p in photos])
                 for name, photos in result.gallery.items()}
    out: list[Row] = []
    for probe in result.probes:
        if probe.face is None:
            out.append((probe.identity, probe.genuine, None))
            continue
        vector = embeddings[probe.path]
        scores = sorted((Candidate(name, rule(vector, gallery))
                         for name, gallery in galleries.items()),
                        key=lambda c: -c.similarity)
        out.append((probe.identity, probe.genuine, tuple(scores)))
    return out


def brute_tally(rows: list[Row], thresholds: Thresholds, margin: float) -> tuple[Tally, Tally]:
    genuine: list[Outcome] = []
    stranger: list[Outcome] = []
    for identity, is_genuine, candidates in rows:
        decision: tuple[Decision | None, str | None] = (None, None) if candidates is None \
            else decide(candidates, thresholds, margin)
        (genuine if is_genuine else stranger).append(outcome(identity, *decision))
    return Tally.of(genuine), Tally.of(stranger)


def agreement(results: list[OpenSetResult], embeddings: Embeddings) -> tuple[int, int, float]:
    """(probes whose offline best-of top-1 is the database's, probes, largest similarity
    difference there): the offline numbers are the service's."""
    same = total = 0
    worst = 0.0
    for result in results:
        rows = brute_candidates(result, embeddings, RULES["best-of"])
        for probe, (_, _, candidates) in zip(result.probes, rows, strict=True):
            if candidates is None:
                continue
            total += 1
            top, db = candidates[0], probe.candidates[0]
            same += top.identity == db.identity
            worst = max(worst, abs(top.similarity - db.similarity))
    return same, total, worst


def offline_table(runs: dict[tuple[int, int], list[OpenSetResult]], plain: Embeddings,
                  flipped: Embeddings, thresholds: Thresholds) -> None:
    print(f"\nNo database: brute-force similarities at the pack's thresholds (match "
          f"{thresholds.match}, review {thresholds.review}), pooled over seeds; margin: a "
          "match needs the best person this far above the second, else review. Cells: "
          "genuine matched right % / to review % / strangers auto-matched %.\n")
    print("| scores | margin | " + " | ".join(config_name(c) for c in runs) + " |")
    print("|---|---|" + "---|" * len(runs))
    variants = [(name, rule, plain, margin) for name, rule in RULES.items()
                for margin in (MARGINS if name == "best-of" else [0.0])]
    variants += [("flip-averaged, best-of", RULES["best-of"], flipped, m) for m in (0.0, 0.05)]
    for name, rule, embeddings, margin in variants:
        cells = []
        for (k, _), results in runs.items():
            if k == 1 and name in ("mean of similarities", "centroid"):
                cells.append("= best-of")  # one face per person: the same scores
                continue
            g, s = zip(*(brute_tally(brute_candidates(r, embeddings, rule), thresholds,
                                     margin) for r in results), strict=True)
            cells.append(rates_cell(pooled(g), pooled(s)))
        print(f"| {name} | {margin:.2f} | " + " | ".join(cells) + " |")


def margins_table(runs: dict[tuple[int, int], list[OpenSetResult]], embeddings: Embeddings,
                  thresholds: Thresholds) -> None:
    """How far the best person is above the second, where a margin rule would bite."""
    print("\nFirst minus second candidate (best-of, no database, pooled): genuine probes "
          "auto-matched right today, and strangers at or above the review threshold.\n")
    print("| gallery | matched right: p1 / p5 / median margin | right matches a 0.05 margin "
          "would send to review | strangers >= review: n, median margin |")
    print("|---|---|---|---|")
    for config, results in runs.items():
        right, strangers = [], []
        for result in results:
            for _, genuine, c in brute_candidates(result, embeddings, RULES["best-of"]):
                if c is None or len(c) < 2:
                    continue
                gap = c[0].similarity - c[1].similarity
                if genuine and c[0].similarity >= thresholds.match:
                    right.append(gap)
                elif not genuine and c[0].similarity >= thresholds.review:
                    strangers.append(gap)
        p1, p5, p50 = np.percentile(right, [1, 5, 50])
        bites = sum(g < 0.05 for g in right)
        stranger_cell = f"{len(strangers)}, {np.median(strangers):.3f}" if strangers else "0"
        print(f"| {config_name(config)} | {p1:.3f} / {p5:.3f} / {p50:.3f} | {bites} of "
              f"{len(right)} | {stranger_cell} |")


# ---------------------------------------------------------------- quality

def quality_table(results: list[OpenSetResult], embeddings: Embeddings, cache: FaceCache
                  ) -> None:
    print("\nGenuine probes by quality (k=1, all; pooled over seeds). Right-person "
          "similarity: the probe against their own gallery face, no database.\n")
    print("| probes | n | matched right % | to review % | unknown % | median "
          "right-person similarity |")
    print("|---|---|---|---|---|---|")
    probes = [(r, p) for r in results for p in r.probes if p.genuine and p.face is not None]
    gallery_pose = {}
    for result in results:
        for identity, [photo] in result.gallery.items():
            face = cache[photo]
            assert not isinstance(face, str)
            gallery_pose[result.seed, identity] = max(abs(face.quality.yaw),
                                                      abs(face.quality.roll))

    def own(result: OpenSetResult, path: Path, identity: str) -> float:
        gallery = np.stack([embeddings[g] for g in result.gallery[identity]])
        return float(np.max(gallery @ embeddings[path]))

    buckets: list[tuple[str, Callable[[float, float], bool]]] = [
        ("< 48 px", lambda size, yaw: size < 48),
        ("48-79 px", lambda size, yaw: 48 <= size < 80),
        ("80-159 px", lambda size, yaw: 80 <= size < 160),
        (">= 160 px", lambda size, yaw: size >= 160),
        ("abs(yaw) < 20", lambda size, yaw: abs(yaw) < 20),
        ("abs(yaw) 20-39", lambda size, yaw: 20 <= abs(yaw) < 40),
        ("abs(yaw) >= 40", lambda size, yaw: abs(yaw) >= 40),
        ("gallery face: abs(yaw), abs(roll) < 30", lambda _, turn: turn < 30),
        ("gallery face: abs(yaw) or abs(roll) >= 30", lambda _, turn: turn >= 30),
    ]
    for name, test in buckets:
        chosen = [(r, p) for r, p in probes
                  if p.face is not None and test(p.face.quality.face_size, p.face.quality.yaw)]
        if name.startswith("gallery"):
            chosen = [(r, p) for r, p in probes
                      if test(0, gallery_pose[r.seed, p.identity])]
        if not chosen:
            print(f"| {name} | 0 | | | | |")
            continue
        t = Tally.of(p.outcome for _, p in chosen)
        similarity = np.median([own(r, p.path, p.identity) for r, p in chosen])
        print(f"| {name} | {t.total} | {pct(t.match_right, t.total)} | "
              f"{pct(t.reviewed, t.total)} | {pct(t.unknown, t.total)} | {similarity:.3f} |")


def failures_table(result: OpenSetResult, embeddings: Embeddings, cache: FaceCache) -> None:
    print(f"\nGenuine probes not matched right (k=1, all, seed {result.seed}).\n")
    print("| probe | outcome | right-person similarity | top-1 (who) | probe px / blur / yaw "
          "/ det | gallery px / yaw / roll |")
    print("|---|---|---|---|---|---|")
    failing = [p for p in result.probes if p.genuine and p.outcome != Outcome.MATCH_RIGHT]
    for probe in sorted(failing, key=lambda p: (p.outcome, p.identity, p.path.name)):
        name = f"{probe.identity}/{probe.path.name}"
        gallery = cache[result.gallery[probe.identity][0]]
        assert not isinstance(gallery, str)
        gq = gallery.quality
        g = f"{gq.face_size:.0f} / {gq.yaw:.0f} / {gq.roll:.0f}"
        if probe.face is None:
            print(f"| {name} | {probe.outcome} | | | {probe.why} | {g} |")
            continue
        q = probe.face.quality
        own = max(float(embeddings[p] @ embeddings[probe.path])
                  for p in result.gallery[probe.identity])
        top = probe.candidates[0] if probe.candidates else None
        who = f"{top.similarity:.3f} ({top.identity})" if top else ""
        print(f"| {name} | {probe.outcome} | {own:.3f} | {who} | {q.face_size:.0f} / "
              f"{q.blur:.0f} / {q.yaw:.0f} / {probe.face.det_score:.2f} | {g} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "celeba_dev")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--failures", action="store_true",
                        help="list the genuine probes k=1 does not match right (first seed)")
    args = parser.parse_args()

    photos = labelled_photos(args.data)
    with tempfile.TemporaryDirectory(prefix="likeness-openset-") as work:
        settings = Settings(model="buffalo_s", model_dir=REPO / "build" / "bench-models",
                            data_dir=Path(work))
        engine = FaceEngine.from_settings(settings)
        people = PeopleService.from_settings(engine, settings)
        database = Database.open(settings)
        cache: FaceCache = {}
        runs: dict[tuple[int, int], list[OpenSetResult]] = {c: [] for c in CONFIGS}
        started = time.perf_counter()
        try:
            for config in CONFIGS:
                for seed in args.seeds:
                    with database.session() as session:
                        runs[config].append(evaluate(people, session, photos, seed=seed,
                                                     gallery_size=config[0],
                                                     held_out=config[1], cache=cache))
            elapsed = time.perf_counter() - started
            flipped = flip_averaged(engine, people, cache)
        finally:
            database.close()
            engine.close()

    plain = {p: f.require_embedding() for p, f in cache.items() if not isinstance(f, str)}
    thresholds = runs[CONFIGS[0]][0].thresholds
    no_face = sorted(f"{p.parent.name}/{p.name}" for p, f in cache.items() if isinstance(f, str))
    print(f"Machine: {machine()}; model {engine.model_name}, providers {engine.providers}; "
          "PostgreSQL 18 embedded")
    print(f"Command: python bench/openset.py --seeds {' '.join(map(str, args.seeds))}; "
          f"{args.data.name}: {len(photos)} people, {len(cache)} photos, no face found in "
          f"{len(no_face)} ({', '.join(no_face) or '-'}); pack thresholds match "
          f"{thresholds.match}, review {thresholds.review}; {len(CONFIGS) * len(args.seeds)} "
          f"runs in {elapsed:.0f} s\n")
    results_table(runs)
    scores_table(runs)
    sweep_table(runs, thresholds.review, thresholds.match)
    agree, total, worst = agreement(runs[CONFIGS[0]], plain)
    print(f"\nOffline best-of agrees with the database on the top-1 person of {agree} of "
          f"{total} probes (k=1, all), similarities within {worst:.1e}.")
    offline_table(runs, plain, flipped, thresholds)
    margins_table(runs, plain, thresholds)
    quality_table(runs[(1, 1)], plain, cache)
    if args.failures:
        failures_table(runs[(1, 1)][0], plain, cache)


if __name__ == "__main__":
    main()
