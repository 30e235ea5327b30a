"""The calibrated thresholds separate the labelled photos: every same-person pair above
verify, every different-person pair below it (the measurement behind catalog.THRESHOLDS)."""

from __future__ import annotations

import itertools

import cv2

from likeness.engine import FaceEngine
from tests.conftest import DATA


def test_verify_threshold_separates_the_labelled_photos(engine: FaceEngine) -> None:
    photos = sorted((DATA / "faces").glob("*/*"))
    faces = engine.analyze_batch([cv2.imread(str(p)) for p in photos], max_faces=1)
    people = [(p.parent.name, f[0].embedding) for p, f in zip(photos, faces, strict=True)]
    same, different = [], []
    for (a, ea), (b, eb) in itertools.combinations(people, 2):
        (same if a == b else different).append(float(ea @ eb))
    threshold = engine.thresholds.verify
    assert len(same) == 11 and len(different) == 55
    assert min(same) > threshold + 0.15, "same-person photos score well above verify"
    assert max(different) < threshold - 0.1, "strangers score well below verify"
    assert engine.thresholds.review <= engine.thresholds.match
