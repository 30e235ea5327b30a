"""Parity with InsightFace's own FaceAnalysis on the same pack: the correctness bar."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from likeness.engine import FaceEngine
from tests.conftest import DATA
from tests.helpers import box_distance

PHOTOS = sorted(p.relative_to(DATA).as_posix() for p in DATA.glob("*/**/*")
                if p.suffix.lower() in {".jpg", ".png"})


def test_the_photo_set_is_there() -> None:
    assert len(PHOTOS) >= 24


@pytest.mark.parametrize("photo", PHOTOS)
def test_boxes_and_embeddings_match_face_analysis(engine: FaceEngine, reference: Any,
                                                  photo: str) -> None:
    image = cv2.imread(str(DATA / photo))
    ours = engine.analyze(image)
    theirs = reference.get(image)
    assert len(ours) == len(theirs)
    for expected in theirs:
        face = min(ours, key=lambda f: box_distance(f.bbox, expected.bbox))
        assert box_distance(face.bbox, expected.bbox) <= 1.0
        assert np.abs(face.landmarks - expected.kps).max() <= 1.0
        assert face.det_score == pytest.approx(float(expected.det_score), abs=1e-3)
        assert float(face.embedding @ expected.normed_embedding) >= 0.999
