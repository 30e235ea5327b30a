"""Detection, alignment and quality on the real photos of shared/data."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from likeness.engine import FaceEngine
from tests.conftest import DATA, read_bgr
from tests.helpers import box_distance

# Approximate boxes from shared/data/README.md.
SCENES = {
    "scenes/two_people.jpg": [(237, 21, 387, 223), (788, 36, 943, 258)],
    "scenes/obama_and_biden.jpg": [(760, 390, 938, 647), (1143, 358, 1331, 605),
                                   (1639, 1035, 1789, 1230)],
    "scenes/kit_with_rose.jpg": [(78, 108, 157, 213), (260, 74, 351, 202)],
    "scenes/kit_harington.jpg": None,  # one face
}


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_scene_face_counts_and_boxes(engine: FaceEngine, scene: str) -> None:
    faces = engine.analyze(read_bgr(scene))
    expected = SCENES[scene]
    assert len(faces) == (1 if expected is None else len(expected))
    for box in expected or []:
        nearest = min(box_distance(f.bbox, box) for f in faces)
        assert nearest < 4, f"no face near {box} in {scene}"


def test_each_portrait_has_one_face(engine: FaceEngine) -> None:
    portraits = sorted((DATA / "faces").glob("*/*"))
    assert len(portraits) == 12
    for path, faces in zip(portraits, engine.analyze_batch(
            [cv2.imread(str(p)) for p in portraits]), strict=True):
        assert len(faces) == 1, path.name


def test_face_fields(engine: FaceEngine) -> None:
    image = read_bgr("faces/obama/obama_1.jpg")
    (face,) = engine.analyze(image)
    assert face.embedding.dtype == np.float32 and face.embedding.shape == (512,)
    assert abs(float(np.linalg.norm(face.embedding)) - 1) < 1e-5
    assert face.landmarks.shape == (5, 2)
    x1, y1, x2, y2 = face.bbox
    assert 0 <= x1 < x2 <= image.shape[1] and 0 <= y1 < y2 <= image.shape[0]
    # the landmarks lie inside the box, eyes above the mouth
    assert np.all((face.landmarks >= face.bbox[:2]) & (face.landmarks <= face.bbox[2:]))
    assert face.landmarks[0, 1] < face.landmarks[3, 1]
    assert 0.5 < face.det_score <= 1
    assert face.age is None and face.gender is None  # buffalo_s here has no genderage
    assert face.quality.face_size == pytest.approx(min(x2 - x1, y2 - y1))


def test_same_scene_at_four_resolutions(engine: FaceEngine) -> None:
    embeddings = []
    for size in ("240p", "480p", "720p", "1080p"):
        faces = engine.analyze(read_bgr(f"edge/obama-{size}.jpg"))
        assert len(faces) >= 1, size
        embeddings.append(faces[0].embedding)
    # the largest face is the same person at every resolution
    for other in embeddings[1:]:
        assert float(embeddings[-1] @ other) > 0.6


@pytest.mark.parametrize("name", ["obama_small.jpg", "obama_partial_face.jpg",
                                  "obama_partial_face2.jpg", "rgba_32bit.png"])
def test_edge_images_still_work(engine: FaceEngine, name: str) -> None:
    reference = engine.analyze(read_bgr("faces/obama/obama_1.jpg"))[0].embedding
    faces = engine.analyze(read_bgr(f"edge/{name}"))
    assert faces, name
    assert max(float(f.embedding @ reference) for f in faces) > 0.3


def test_max_faces_keeps_the_largest(engine: FaceEngine) -> None:
    image = read_bgr("scenes/obama_and_biden.jpg")
    every = engine.analyze(image)
    areas = [f.area for f in every]
    assert areas == sorted(areas, reverse=True)
    (largest,) = engine.analyze(image, max_faces=1)
    assert box_distance(largest.bbox, every[0].bbox) == 0


def test_min_face_size_and_embed_flag(engine: FaceEngine) -> None:
    image = read_bgr("scenes/obama_and_biden.jpg")
    sizes = sorted(f.quality.face_size for f in engine.analyze(image))
    kept = engine.analyze(image, min_face_size=sizes[0] + 1, embed=False)
    assert len(kept) == len(sizes) - 1
    assert all(f.embedding is None for f in kept)


def test_no_face_in_a_blank_image(engine: FaceEngine) -> None:
    assert engine.analyze(np.full((480, 640, 3), 127, np.uint8)) == []


def test_batch_equals_single_calls(engine: FaceEngine) -> None:
    images = [read_bgr(p) for p in ("scenes/two_people.jpg", "faces/biden/biden_2.jpg",
                                    "scenes/kit_with_rose.jpg")]
    batched = engine.analyze_batch(images)
    for image, faces in zip(images, batched, strict=True):
        single = engine.analyze(image)
        assert len(single) == len(faces)
        for a, b in zip(single, faces, strict=True):
            assert box_distance(a.bbox, b.bbox) == 0
            assert float(a.embedding @ b.embedding) > 0.99999


def test_pose_of_frontal_and_mirrored_faces(engine: FaceEngine) -> None:
    image = read_bgr("faces/obama/obama_4.jpg")
    (face,) = engine.analyze(image)
    (mirrored,) = engine.analyze(cv2.flip(image, 1))
    assert abs(face.quality.yaw) < 25 and abs(face.quality.pitch) < 25
    assert abs(face.quality.roll) < 20
    # mirroring the photo flips the sign of yaw and roll, and keeps pitch; the detector
    # is not exactly mirror-symmetric (its nose point moves ~13 px here), hence the slack
    assert mirrored.quality.yaw == pytest.approx(-face.quality.yaw, abs=4)
    assert mirrored.quality.roll == pytest.approx(-face.quality.roll, abs=3)
    assert mirrored.quality.pitch == pytest.approx(face.quality.pitch, abs=10)


def test_rolled_face_reports_roll(engine: FaceEngine) -> None:
    image = read_bgr("faces/biden/biden_2.jpg")
    (upright,) = engine.analyze(image)
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), -20, 1.0)  # clockwise 20 deg
    (rolled,) = engine.analyze(cv2.warpAffine(image, matrix, (width, height)))
    assert rolled.quality.roll - upright.quality.roll == pytest.approx(20, abs=4)


def test_blur_measure_drops_on_blurred_photo(engine: FaceEngine) -> None:
    image = read_bgr("faces/rose_leslie/rose_1.jpg")
    (sharp,) = engine.analyze(image)
    (blurred,) = engine.analyze(cv2.GaussianBlur(image, (0, 0), 6))
    assert blurred.quality.blur < sharp.quality.blur / 3
