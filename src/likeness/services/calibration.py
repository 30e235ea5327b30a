"""Threshold calibration on labelled photos (a folder per person): every same-person and
different-person pair is scored, and the operating points are read off the two score
distributions. For 1:N recognition, `suggest_policy` reads a recognition policy off the same
photos: the match threshold that keeps strangers auto-matched under a rate for a gallery of
a given size (the strangers' score tail, extrapolated past the pairs seen), the extra a
low-quality probe should need, and a first-minus-second margin if one would stop strangers
at little cost."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from likeness.engine import FaceEngine
from likeness.errors import LikenessError
from likeness.media import ImageLimits, decode_image
from likeness.media.image import IMAGE_SUFFIXES
from likeness.services.faces import QualityGate

FARS = (1e-2, 1e-3, 1e-4)
# With too few impostor pairs to resolve a FAR of 1e-3, the suggested match threshold is
# this far above the most similar stranger seen (the margin catalog.py uses).
STRANGER_MARGIN = 0.10
# The strangers' score tail is fitted above this quantile of their scores (exponential in
# the similarity), from at least TAIL_MIN_ABOVE pairs above it.
TAIL_QUANTILE = 0.99
TAIL_MIN_ABOVE = 50
MARGINS = (0.10, 0.08, 0.06, 0.05, 0.04, 0.03, 0.02)  # tried for suggest_policy, widest first
MARGIN_COST = 0.01  # the share of right matches a suggested margin may send to review
REVIEWED_STRANGERS = 0.05  # the share of strangers a suggested review threshold lets through


@dataclass(frozen=True, slots=True)
class Tail:
    """The upper tail of a score distribution: above `start` (where a share `above` of the
    scores lie), the share at or above t is taken as above * exp(-(t - start) / scale).
    The scale is the mean excess over `start` (the maximum-likelihood fit). On the dev set
    (shared/data/celeba_dev) this fit read at the 99th percentile of the strangers' scores
    slightly over-estimates the shares measured up to 0.37: it errs on the safe side."""

    start: float
    above: float
    scale: float
    scores: int  # how many it was fitted on

    @classmethod
    def fit(cls, scores: np.ndarray, quantile: float = TAIL_QUANTILE,
            min_above: int = TAIL_MIN_ABOVE) -> Tail | None:
        """The tail above the `quantile` of `scores`; None with fewer than `min_above`
        scores above it."""
        count = int(len(scores) * (1 - quantile))
        if count < min_above:
            return None
        top = np.sort(np.asarray(scores, np.float64))[-count - 1:]
        start = float(top[0])
        return cls(start, count / len(scores), float(np.mean(top[1:] - start)), len(scores))

    def rate(self, threshold: float) -> float:
        """The share of scores at or above `threshold` (from `start` up)."""
        return self.above * math.exp(-(max(threshold, self.start) - self.start) / self.scale)

    def threshold(self, rate: float) -> float:
        """The threshold that `rate` of the scores reach."""
        return self.start + self.scale * math.log(self.above / min(rate, self.above))


def open_set_rate(pair_rate: float, people: int) -> float:
    """The share of strangers auto-matched to someone among `people` enrolled people, each
    stranger-person pair passing at `pair_rate` independently."""
    return 1.0 - (1.0 - pair_rate) ** people


def pair_rate(open_rate: float, people: int) -> float:
    """The inverse of open_set_rate."""
    return 1.0 - (1.0 - open_rate) ** (1.0 / people)


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    far: float
    threshold: float | None  # None: too few impostor pairs to resolve this FAR
    tar: float | None


@dataclass
class Calibration:
    identities: int
    photos: int
    same: np.ndarray  # similarities of same-person pairs
    different: np.ndarray  # of different-person pairs
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    # Each usable photo: whose it is, its embedding, whether the enrollment gate takes it
    # as a person's first face (the gallery side of suggest_policy), and whether it is
    # a low-quality probe (the gate would refuse it for its size, sharpness, detection
    # score or pose).
    names: list[str] = field(default_factory=list)
    embeddings: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.float32))
    enrollable: np.ndarray = field(default_factory=lambda: np.empty(0, bool))

    def operating_point(self, far: float) -> OperatingPoint:
        """The lowest threshold whose false-accept rate is at most `far`, and the
        true-accept rate there."""
        impostors = np.sort(self.different)[::-1]
        if len(impostors) * far < 1:
            return OperatingPoint(far, None, None)
        allowed = int(far * len(impostors))  # impostor pairs that may pass
        threshold = float(np.nextafter(impostors[allowed], np.inf))
        return OperatingPoint(far, threshold, float(np.mean(self.same >= threshold)))

    def equal_error(self) -> tuple[float, float]:
        """(EER, its threshold): where false accepts and false rejects balance; with the
        two distributions apart, 0 at the middle of the gap."""
        if self.same.min() > self.different.max():
            return 0.0, float((self.same.min() + self.different.max()) / 2)
        candidates = np.unique(np.concatenate([self.same, self.different]))
        far = np.array([np.mean(self.different >= t) for t in candidates])
        frr = np.array([np.mean(self.same < t) for t in candidates])
        best = int(np.argmin(np.abs(far - frr)))
        return float((far[best] + frr[best]) / 2), float(candidates[best])

    def suggested(self) -> tuple[float, float]:
        """(match, review) thresholds: match at FAR 1e-3 when the data can resolve it,
        else STRANGER_MARGIN above the most similar stranger; review at the EER point."""
        point = self.operating_point(1e-3)
        match = point.threshold if point.threshold is not None else \
            float(self.different.max() + STRANGER_MARGIN)
        review = min(self.equal_error()[1], match)
        return round(match, 3), round(review, 3)


    def stranger_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """(scores, low_quality): every photo (the probe) against every enrollable photo of
        someone else (the gallery face), and whether the probe is of low quality."""
        names = np.array(self.names)
        gallery = self.enrollable
        scores = self.embeddings @ self.embeddings[gallery].T
        other = names[:, None] != names[gallery][None, :]
        low = np.broadcast_to(~self.enrollable[:, None], scores.shape)
        return scores[other], low[other]

    def open_set(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """(genuine, strangers): a simulated open set on the photos, each person enrolled
        from their first enrollable photo. Genuine: each other photo of theirs whose best
        person is them, as (similarity, next person's); strangers: each photo against
        everyone else, as (best, next)."""
        names = np.array(self.names)
        people = {}
        for index, (name, ok) in enumerate(zip(self.names, self.enrollable, strict=True)):
            if ok and name not in people:
                people[name] = index
        if len(people) < 3:
            return [], []
        who = list(people)
        scores = self.embeddings @ self.embeddings[list(people.values())].T
        genuine, strangers = [], []
        for index, name in enumerate(names):
            row = scores[index]
            if name in people:
                own = who.index(name)
                if people[name] != index and int(np.argmax(row)) == own:
                    genuine.append((float(row[own]), float(np.max(np.delete(row, own)))))
                row = np.delete(row, own)
            best, second = np.sort(row)[::-1][:2]
            strangers.append((float(best), float(second)))
        return genuine, strangers

    def suggest_policy(self, people: int, rate: float = 1e-3,
                       now: tuple[float, float] | None = None) -> PolicySuggestion:
        """The recognition policy for a gallery of `people` people that auto-matches at
        most `rate` of strangers: the match threshold from the strangers' score tail
        (extrapolated: the pairs seen rarely resolve such rates), the review threshold
        that sends at most REVIEWED_STRANGERS of strangers to review, the extra a
        low-quality probe needs for the same rate among such probes, and a margin when one
        would stop strangers in the photos while sending at most MARGIN_COST of right
        matches to review. With too few pairs for a tail, the (match, review) thresholds
        `now` are kept, raised to STRANGER_MARGIN above the most similar stranger."""
        scores, low = self.stranger_scores()
        target = pair_rate(rate, people)
        tail = Tail.fit(scores)
        if tail is not None:
            match, how = tail.threshold(target), (
                f"strangers' score tail fitted on {len(scores)} pairs, extrapolated")
        else:
            floor = float(scores.max() + STRANGER_MARGIN) if len(scores) else 1.0
            match = max(floor, now[0]) if now else floor
            how = (f"only {len(scores)} stranger pairs (a tail fit needs "
                   f"{round(TAIL_MIN_ABOVE / (1 - TAIL_QUANTILE))}): the current threshold, "
                   f"or {STRANGER_MARGIN} above the most similar stranger if higher")
        reviewed = pair_rate(REVIEWED_STRANGERS, people)
        if len(scores) * reviewed >= 10:  # resolved by the pairs seen
            review = float(np.quantile(scores, 1 - reviewed))
            review_how = f"{REVIEWED_STRANGERS:.0%} of strangers to review, measured"
        elif tail is not None:
            review = tail.threshold(reviewed)
            review_how = f"{REVIEWED_STRANGERS:.0%} of strangers to review, extrapolated"
        elif now:
            review, review_how = now[1], "too few pairs: the current threshold"
        else:
            review = self.equal_error()[1]
            review_how = "too few pairs: the equal-error point"
        review = min(review, match)
        raise_, raise_how = 0.0, "too few low-quality photos to compare"
        low_tail = Tail.fit(scores[low])
        if tail is not None and low_tail is not None:
            raise_ = max(0.0, low_tail.threshold(target) - match)
            raise_how = (f"low-quality probes' tail ({int(low.sum())} pairs) needs "
                         f"{low_tail.threshold(target):.3f} for the same rate")
        margin, margin_how = 0.0, "no margin would stop a stranger in these photos"
        genuine, strangers = self.open_set()
        right = [best - second for best, second in genuine if best >= match]
        doubtful = [best - second for best, second in strangers if best >= review]
        for candidate in MARGINS:
            cost = sum(gap < candidate for gap in right)
            stopped = sum(gap < candidate for gap in doubtful)
            if right and cost <= MARGIN_COST * len(right) and stopped:
                margin = candidate
                margin_how = (f"stops {stopped} of {len(doubtful)} strangers above review, "
                              f"sends {cost} of {len(right)} right matches to review")
                break
        return PolicySuggestion(people, rate, round(match, 3), round(review, 3), margin,
                                round(raise_, 2), how, review_how, raise_how, margin_how,
                                tail)


@dataclass(frozen=True)
class PolicySuggestion:
    people: int  # the gallery size it is for
    rate: float  # strangers auto-matched at most
    match: float
    review: float
    margin: float
    low_quality_raise: float
    match_how: str
    review_how: str
    raise_how: str
    margin_how: str
    tail: Tail | None

    def strangers_matched(self, match: float) -> float | None:
        """The estimated share of strangers auto-matched at `match` (None: no tail)."""
        if self.tail is None:
            return None
        return open_set_rate(self.tail.rate(match), self.people)


def labelled_photos(directory: Path) -> dict[str, list[Path]]:
    """{person: photos} from a folder per person."""
    people = {d.name: sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
              for d in sorted(directory.iterdir()) if d.is_dir()}
    return {name: photos for name, photos in people.items() if photos}


def calibrate(engine: FaceEngine, directory: Path, limits: ImageLimits,
              progress: Callable[[], None] = lambda: None,
              gate: QualityGate | None = None) -> Calibration:
    """Embed the largest face of every labelled photo and score all pairs; `gate` (default
    QualityGate's defaults) tells which photos could be enrolled."""
    gate = gate or QualityGate()
    people = labelled_photos(directory)
    names: list[str] = []
    vectors: list[np.ndarray] = []
    enrollable: list[bool] = []
    skipped = []
    for name, photos in people.items():
        for path in photos:
            try:
                faces = engine.analyze(decode_image(path.read_bytes(), limits), max_faces=1)
                if faces:
                    names.append(name)
                    vectors.append(faces[0].require_embedding())
                    enrollable.append(gate.refusal(faces[0], path.name, first=True) is None)
                else:
                    skipped.append((path, "no face found"))
            except (LikenessError, OSError) as exc:
                skipped.append((path, str(exc)))
            progress()
    same: list[float] = []
    different: list[float] = []
    for (a, ea), (b, eb) in itertools.combinations(zip(names, vectors, strict=True), 2):
        (same if a == b else different).append(float(ea @ eb))
    if not same or not different:
        raise LikenessError(f"{directory} needs at least two people with two usable photos "
                            "each to be calibrated")
    return Calibration(len(people), len(vectors), np.array(same), np.array(different),
                       skipped, names, np.stack(vectors), np.array(enrollable, bool))


def plot(calibration: Calibration, path: Path) -> None:
    """The two score distributions and the ROC curve, as an image file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (scores, roc) = plt.subplots(1, 2, figsize=(11, 4.2))
    bins = np.linspace(-0.3, 1.0, 66)
    scores.hist(calibration.different, bins=bins, alpha=0.6, density=True,
                label=f"different people ({len(calibration.different)} pairs)")
    scores.hist(calibration.same, bins=bins, alpha=0.6, density=True,
                label=f"same person ({len(calibration.same)} pairs)")
    match, review = calibration.suggested()
    for value, style, label in ((match, "-", "match"), (review, "--", "review")):
        scores.axvline(value, color="black", linestyle=style, linewidth=1,
                       label=f"{label} {value:.2f}")
    scores.set(xlabel="cosine similarity", ylabel="density", title="Score distributions")
    scores.legend(fontsize=8)
    thresholds = np.unique(np.concatenate([calibration.same, calibration.different]))
    far = [max(np.mean(calibration.different >= t), 1e-5) for t in thresholds]
    tar = [np.mean(calibration.same >= t) for t in thresholds]
    roc.plot(far, tar)
    roc.set(xscale="log", xlabel="false accept rate", ylabel="true accept rate",
            title="ROC", ylim=(0, 1.02))
    roc.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
