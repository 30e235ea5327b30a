"""Flip-averaged embeddings (LIKENESS_FLIP_EMBEDDINGS): each face's embedding averaged with
its mirror image's. Opt-in, as they are no longer InsightFace's."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.engine.align import align_face
from tests.conftest import read_bgr


@pytest.fixture(scope="module")
def flipping(engine: FaceEngine) -> Iterator[FaceEngine]:
    flip = FaceEngine(engine.pack, flip=True, workers=2)
    yield flip
    flip.close()


def test_flip_is_off_by_default(engine: FaceEngine, settings: Settings) -> None:
    assert not settings.flip_embeddings and not engine.flip


def test_flip_averages_the_mirror_image(engine: FaceEngine, flipping: FaceEngine) -> None:
    images = [read_bgr("faces/obama/obama_1.jpg"), read_bgr("scenes/two_people.jpg")]
    plain = [f for faces in engine.analyze_batch(images) for f in faces]
    flipped = [f for faces in flipping.analyze_batch(images) for f in faces]
    assert len(plain) == len(flipped) == 3
    for image, a, b in zip([images[0], images[1], images[1]], plain, flipped, strict=True):
        np.testing.assert_allclose(a.bbox, b.bbox)  # detection is untouched
        crop = align_face(image, a.landmarks, engine.recognizer.size)
        both = engine.recognizer.embed([crop, cv2.flip(crop, 1)]).sum(axis=0)
        expected = both / np.linalg.norm(both)
        embedding = b.require_embedding()
        assert float(np.linalg.norm(embedding)) == pytest.approx(1.0, abs=1e-5)
        assert float(expected @ embedding) > 0.99999
        # No longer InsightFace's embedding (the plain one), but close to it.
        assert 0.95 < float(a.require_embedding() @ embedding) < 0.9999
