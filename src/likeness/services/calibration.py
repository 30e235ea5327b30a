"""Threshold calibration on labelled photos (a folder per person): every same-person and
different-person pair is scored, and the operating points are read off the two score
distributions."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from likeness.engine import FaceEngine
from likeness.errors import LikenessError
from likeness.media import ImageLimits, decode_image
from likeness.media.image import IMAGE_SUFFIXES

FARS = (1e-2, 1e-3, 1e-4)
# With too few impostor pairs to resolve a FAR of 1e-3, the suggested match threshold is
# this far above the most similar stranger seen (the margin catalog.py uses).
STRANGER_MARGIN = 0.10


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


def labelled_photos(directory: Path) -> dict[str, list[Path]]:
    """{person: photos} from a folder per person."""
    people = {d.name: sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
              for d in sorted(directory.iterdir()) if d.is_dir()}
    return {name: photos for name, photos in people.items() if photos}


def calibrate(engine: FaceEngine, directory: Path, limits: ImageLimits,
              progress: Callable[[], None] = lambda: None) -> Calibration:
    """Embed the largest face of every labelled photo and score all pairs."""
    people = labelled_photos(directory)
    embeddings: list[tuple[str, np.ndarray]] = []
    skipped = []
    for name, photos in people.items():
        for path in photos:
            try:
                faces = engine.analyze(decode_image(path.read_bytes(), limits), max_faces=1)
                if faces:
                    embeddings.append((name, faces[0].require_embedding()))
                else:
                    skipped.append((path, "no face found"))
            except (LikenessError, OSError) as exc:
                skipped.append((path, str(exc)))
            progress()
    same: list[float] = []
    different: list[float] = []
    for (a, ea), (b, eb) in itertools.combinations(embeddings, 2):
        (same if a == b else different).append(float(ea @ eb))
    if not same or not different:
        raise LikenessError(f"{directory} needs at least two people with two usable photos "
                            "each to be calibrated")
    return Calibration(len(people), len(embeddings), np.array(same), np.array(different),
                       skipped)


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
