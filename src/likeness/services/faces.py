"""Stateless face use cases: detect faces in image bytes, compare two faces."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from likeness.engine import Face, FaceEngine
from likeness.errors import NoFaceFound
from likeness.media import ImageLimits, decode_image


@dataclass(frozen=True, slots=True)
class DetectOptions:
    max_faces: int = 0  # 0 = all, else the largest N
    min_face_size: float = 0  # shorter box side, pixels
    embed: bool = True


@dataclass(frozen=True, slots=True)
class Detection:
    faces: list[Face]
    width: int
    height: int
    elapsed_ms: float  # decoding and inference


@dataclass(frozen=True, slots=True)
class Comparison:
    similarity: float
    same_person: bool
    threshold: float


def detect_in_bytes(engine: FaceEngine, data: bytes, limits: ImageLimits,
                    options: DetectOptions = DetectOptions()) -> Detection:
    started = time.perf_counter()
    image = decode_image(data, limits)
    faces = engine.analyze(image, max_faces=options.max_faces,
                           min_face_size=options.min_face_size, embed=options.embed)
    elapsed = (time.perf_counter() - started) * 1000
    return Detection(faces, width=image.shape[1], height=image.shape[0], elapsed_ms=elapsed)


def largest_face(faces: list[Face], what: str) -> Face:
    """The largest face (engines return faces largest first), or a NoFaceFound naming `what`."""
    if not faces:
        raise NoFaceFound(f"no face found in {what}")
    return faces[0]


def verify_threshold(engine: FaceEngine, *overrides: float | None) -> float:
    """The 1:1 same-person threshold: the first override given (a request's, then a
    setting's), else the one calibrated for the engine's pack."""
    return next((t for t in overrides if t is not None), engine.thresholds.verify)


def compare(engine: FaceEngine, image_a: np.ndarray, image_b: np.ndarray, *,
            threshold: float | None = None, names: tuple[str, str] = ("image A", "image B")
            ) -> Comparison:
    """Similarity of the largest face of each image, judged against `threshold`
    (default: the verify threshold calibrated for the model pack)."""
    faces_a, faces_b = engine.analyze_batch([image_a, image_b], max_faces=1)
    face_a, face_b = largest_face(faces_a, names[0]), largest_face(faces_b, names[1])
    threshold = verify_threshold(engine, threshold)
    similarity = float(np.dot(face_a.embedding, face_b.embedding))
    return Comparison(similarity, similarity >= threshold, threshold)
