"""Stateless face use cases (detect faces in image bytes, compare two faces) and the
shapes a face is stored in."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from likeness.engine.align import crop_around_box
from likeness.enums import Decision
from likeness.errors import NoFaceFound, Rejected
from likeness.media import ImageLimits, decode_image, encode_jpeg

if TYPE_CHECKING:
    from likeness.config import Settings
    from likeness.engine import Face, FaceEngine
    from likeness.engine.catalog import Thresholds as Calibrated

THUMBNAIL_SIZE = 160


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
class Thresholds:
    """1:N: from `match` a face is recognised; from `review` it is worth a person's look."""

    match: float
    review: float

    @classmethod
    def resolve(cls, calibrated: Calibrated, match: float | None = None,
                review: float | None = None) -> Thresholds:
        """The given thresholds, else the model pack's calibrated ones."""
        match = calibrated.match if match is None else match
        review = calibrated.review if review is None else review
        if review > match:
            raise Rejected(f"the review threshold ({review}) is above the match "
                           f"threshold ({match})")
        return cls(match, review)


@dataclass(frozen=True, slots=True)
class QualityGate:
    """What an enrolled face must reach: a bad gallery face causes false matches forever.
    A person's first face must also be frontal (`max_yaw`): with one photo enrolled, a
    turned one is what most missed matches came from on the dev set; later faces may be
    turned, they cover other poses."""

    min_face_size: float = 48
    min_blur: float = 40
    min_det_score: float = 0.6
    max_yaw: float = 90  # degrees either way; 90: off (LIKENESS_ENROLL_MAX_YAW)

    @classmethod
    def from_settings(cls, settings: Settings) -> QualityGate:
        return cls(min_face_size=settings.enroll_min_face_size,
                   min_blur=settings.enroll_min_blur,
                   min_det_score=settings.enroll_min_det_score,
                   max_yaw=settings.enroll_max_yaw)

    def refusal(self, face: Face, what: str, *, first: bool = False) -> str | None:
        """Why `face` (in `what`) cannot be enrolled, as a person's first face if `first`,
        or None."""
        q = face.quality
        if q.face_size < self.min_face_size:
            return (f"the face in {what} is {q.face_size:.0f} px, below the "
                    f"{self.min_face_size:.0f} px minimum for enrollment")
        if q.blur < self.min_blur:
            return (f"the face in {what} is too blurred (sharpness {q.blur:.0f}, "
                    f"minimum {self.min_blur:.0f})")
        if face.det_score < self.min_det_score:
            return (f"the face in {what} is unclear (detection score {face.det_score:.2f}, "
                    f"minimum {self.min_det_score:.2f})")
        if first and not self.frontal(q.yaw):
            return self.turned(q.yaw, what)
        return None

    def check(self, face: Face, what: str, *, first: bool = False) -> None:
        """Raise Rejected with the refusal, if any."""
        why = self.refusal(face, what, first=first)
        if why is not None:
            raise Rejected(why)

    def frontal(self, yaw: float | None) -> bool:
        """Whether a face turned `yaw` degrees may be a person's first face (an unknown
        pose passes)."""
        return yaw is None or self.max_yaw >= 90 or abs(yaw) < self.max_yaw

    def turned(self, yaw: float, what: str) -> str:
        return (f"the face in {what} is turned {abs(yaw):.0f} degrees; a person's first face "
                f"must be turned less than {self.max_yaw:.0f} (enroll a frontal photo first)")


@dataclass(frozen=True, slots=True)
class RecognitionPolicy:
    """How 1:N recognition decides a face from its best candidate person:

    - unknown below `thresholds.review`;
    - match from `thresholds.match`, plus `low_quality_raise` for a face the enrollment
      gate would refuse as a first face (too small, blurred, unclear or turned);
    - and, with a `margin`, only when the person is at least that far above the face's
      every other candidate (a face given its second choice, because its first went to
      another face of the photo, is then no match);
    - review in between.

    The defaults (the model pack's thresholds, no raise, no margin) are what the dev-set
    measurements support: docs/models-and-thresholds.md."""

    thresholds: Thresholds
    margin: float = 0.0
    low_quality_raise: float = 0.0
    gate: QualityGate = QualityGate()

    @property
    def match(self) -> float:
        return self.thresholds.match

    @property
    def review(self) -> float:
        return self.thresholds.review

    def match_for(self, face: Face | None) -> float:
        """The similarity from which this face is matched (margin aside)."""
        if self.low_quality_raise and face is not None \
                and self.gate.refusal(face, "", first=True) is not None:
            return self.thresholds.match + self.low_quality_raise
        return self.thresholds.match

    def decide(self, face: Face | None, similarity: float, others: float | None = None
               ) -> Decision:
        """The decision for `face` given a candidate at `similarity`; `others`: the best
        similarity among the face's other candidates (None: it has none)."""
        if similarity < self.thresholds.review:
            return Decision.UNKNOWN
        if similarity < self.match_for(face):
            return Decision.REVIEW
        if self.margin and others is not None and similarity - others < self.margin:
            return Decision.REVIEW
        return Decision.MATCH


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
    similarity = float(np.dot(face_a.require_embedding(), face_b.require_embedding()))
    return Comparison(similarity, similarity >= threshold, threshold)


def face_row(face: Face, image: np.ndarray, model: str, image_sha256: str,
             source_name: str | None) -> dict:
    """The columns of a stored face (all but its owner)."""
    return gallery_face(face.embedding, model, face.det_score, face.box(), face.points(),
                        quality_dict(face), image_sha256, source_name, thumbnail(image, face))


def gallery_face(embedding: np.ndarray | None, model: str, det_score: float,
                 bbox: list[float], landmarks: list[list[float]], quality: dict[str, float],
                 image_sha256: str, source_name: str | None, crop_jpeg: bytes) -> dict:
    """The columns of a face enrolled in the gallery, from a photo or a video track."""
    return {"embedding": embedding, "model": model, "det_score": det_score, "bbox": bbox,
            "landmarks": landmarks, "quality": quality, "image_sha256": image_sha256,
            "source_name": source_name, "crop_jpeg": crop_jpeg}


def quality_dict(face: Face) -> dict[str, float]:
    return dataclasses.asdict(face.quality)


def thumbnail(image: np.ndarray, face: Face) -> bytes:
    """The JPEG crop stored with a face: square, a margin around the box."""
    return encode_jpeg(crop_around_box(image, face.bbox, THUMBNAIL_SIZE, margin=1.3),
                       quality=85)
