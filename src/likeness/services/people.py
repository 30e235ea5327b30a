"""People use cases: enrollment (with quality gates), registration, 1:N recognition and
1:1 verification against a person. Inference runs before any transaction opens; each
write use case commits once, so a failure leaves nothing half-written."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session

from likeness.config import Settings
from likeness.engine import Face, FaceEngine
from likeness.engine.align import crop_around_box
from likeness.errors import NoFaceFound, Rejected
from likeness.media import ImageLimits, decode_image, encode_jpeg
from likeness.services.faces import Comparison, verify_threshold
from likeness.store import people as store
from likeness.store.models import FaceRecord, Person

THUMBNAIL_SIZE = 160
DECISIONS = ("match", "review", "unknown")


@dataclass(frozen=True, slots=True)
class QualityGate:
    """What an enrolled face must reach: a bad gallery face causes false matches forever."""

    min_face_size: float = 48
    min_blur: float = 40
    min_det_score: float = 0.6

    @classmethod
    def from_settings(cls, settings: Settings) -> QualityGate:
        return cls(settings.enroll_min_face_size, settings.enroll_min_blur,
                   settings.enroll_min_det_score)

    def check(self, face: Face, what: str) -> None:
        q = face.quality
        if q.face_size < self.min_face_size:
            raise Rejected(f"the face in {what} is {q.face_size:.0f} px, below the "
                           f"{self.min_face_size:.0f} px minimum for enrollment")
        if q.blur < self.min_blur:
            raise Rejected(f"the face in {what} is too blurred (sharpness {q.blur:.0f}, "
                           f"minimum {self.min_blur:.0f})")
        if face.det_score < self.min_det_score:
            raise Rejected(f"the face in {what} is unclear (detection score "
                           f"{face.det_score:.2f}, minimum {self.min_det_score:.2f})")


@dataclass(frozen=True, slots=True)
class FaceChoice:
    """Which face of a photo to enroll: by index (largest first), or the largest."""

    index: int | None = None
    largest: bool = False


@dataclass(frozen=True, slots=True)
class Upload:
    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Enrollment:
    face: FaceRecord
    created: bool  # False: the person already had this image


@dataclass(frozen=True, slots=True)
class Thresholds:
    match: float
    review: float


@dataclass(slots=True)
class Recognition:
    face: Face
    candidates: list[store.Candidate]
    decision: str = "unknown"  # match | review | unknown
    person: store.Candidate | None = None  # the person given to this face, if any


@dataclass(frozen=True)
class PeopleService:
    """The people use cases, configured once per process."""

    engine: FaceEngine
    limits: ImageLimits = field(default_factory=ImageLimits)
    gate: QualityGate = field(default_factory=QualityGate)
    ef_search: int = 100
    match_threshold: float | None = None  # None: the pack's
    review_threshold: float | None = None
    verify_threshold: float | None = None

    @classmethod
    def from_settings(cls, engine: FaceEngine, settings: Settings) -> PeopleService:
        return cls(engine, ImageLimits(settings.max_upload_bytes, settings.max_image_pixels),
                   QualityGate.from_settings(settings), settings.hnsw_ef_search,
                   settings.match_threshold, settings.review_threshold,
                   settings.verify_threshold)

    def verify_threshold_or(self, override: float | None) -> float:
        """The 1:1 threshold: the request's, else the setting, else the pack's."""
        return verify_threshold(self.engine, override, self.verify_threshold)

    @property
    def model(self) -> str:
        return self.engine.model_name

    def thresholds(self, match: float | None = None, review: float | None = None
                   ) -> Thresholds:
        pack = self.engine.thresholds
        match = match if match is not None else (
            self.match_threshold if self.match_threshold is not None else pack.match)
        review = review if review is not None else (
            self.review_threshold if self.review_threshold is not None else pack.review)
        if review > match:
            raise Rejected(f"the review threshold ({review}) is above the match "
                           f"threshold ({match})")
        return Thresholds(match, review)

    # ------------------------------------------------------------ enrollment

    def _enrollable(self, upload: Upload, choice: FaceChoice) -> dict:
        """The face row to store for one photo, or a typed error saying why not."""
        image = decode_image(upload.data, self.limits)
        faces = self.engine.analyze(image)
        what = upload.name or "the photo"
        if not faces:
            raise NoFaceFound(f"no face found in {what}")
        if choice.index is not None:
            if not 0 <= choice.index < len(faces):
                raise Rejected(f"{what} has {len(faces)} face(s); face_index {choice.index} "
                               "is out of range")
            face = faces[choice.index]
        elif len(faces) == 1 or choice.largest:
            face = faces[0]
        else:
            raise Rejected(f"{what} has {len(faces)} faces; choose one with face_index "
                           f"(0-{len(faces) - 1}, largest first) or largest=true")
        self.gate.check(face, what)
        return face_row(face, image, self.model, hashlib.sha256(upload.data).hexdigest(),
                        upload.name)

    def enroll(self, session: Session, person_id: int, uploads: Sequence[Upload],
               choice: FaceChoice = FaceChoice()) -> list[Enrollment]:
        """Enroll one face from each upload, all or nothing. A photo the person already
        has is not analysed or stored again."""
        store.get_person(session, person_id)
        digests = [_sha256(u.data) for u in uploads]
        known = [store.face_from_image(session, person_id, d) is not None for d in digests]
        session.commit()  # ends the read: no transaction stays open through inference
        rows = [None if seen else self._enrollable(u, choice)
                for u, seen in zip(uploads, known, strict=True)]
        results = []
        for upload, digest, row in zip(uploads, digests, rows, strict=True):
            if row is None:
                existing = store.face_from_image(session, person_id, digest)
                if existing is not None:
                    results.append(Enrollment(existing, created=False))
                    continue
                row = self._enrollable(upload, choice)  # deleted meanwhile: enroll it
            face, created = store.add_face(session, {**row, "person_id": person_id})
            results.append(Enrollment(face, created))
        session.commit()
        return results

    def register(self, session: Session, name: str, uploads: Sequence[Upload],
                 choice: FaceChoice = FaceChoice(), external_id: str | None = None
                 ) -> tuple[Person, list[Enrollment]]:
        """Create a person with a face from each upload, in one transaction: if any
        photo is refused, nobody is created."""
        rows = [self._enrollable(upload, choice) for upload in uploads]
        person = store.create_person(session, name, external_id)
        results = [Enrollment(*store.add_face(session, {**row, "person_id": person.id}))
                   for row in rows]
        session.commit()
        return person, results

    # ------------------------------------------------------------ recognition

    def recognize(self, session: Session, image: np.ndarray, *, top_k: int = 5,
                  thresholds: Thresholds | None = None, max_faces: int = 0
                  ) -> list[Recognition]:
        """Every face with its top_k candidates and a decision. Within the photo no
        person is given to two faces: pairs are taken greedily by similarity and the loser
        falls to its next candidate, or to unknown."""
        return self.recognize_faces(session, self.engine.analyze(image, max_faces=max_faces),
                                    top_k=top_k, thresholds=thresholds)

    def recognize_faces(self, session: Session, faces: Sequence[Face], *, top_k: int = 5,
                        thresholds: Thresholds | None = None) -> list[Recognition]:
        """recognize() for faces already analysed."""
        thresholds = thresholds or self.thresholds()
        effort = top_k if top_k > self.ef_search else None  # else the connection's
        results = [Recognition(face, store.search_people(
                       session, face.embedding, self.model, top_k=top_k, ef_search=effort))
                   for face in faces]
        assign(results, thresholds)
        return results

    def verify(self, session: Session, image: np.ndarray, person_id: int,
               threshold: float | None = None) -> Comparison:
        """Is the largest face of `image` this person? Judged on their closest face."""
        faces = self.engine.analyze(image, max_faces=1)
        if not faces:
            raise NoFaceFound("no face found in the photo")
        similarity = store.best_similarity(session, person_id, faces[0].embedding, self.model)
        if similarity is None:
            raise Rejected(f"person {person_id} has no face enrolled with {self.model}")
        threshold = self.verify_threshold_or(threshold)
        return Comparison(similarity, similarity >= threshold, threshold)


def assign(results: list[Recognition], thresholds: Thresholds) -> None:
    """Greedy one-to-one assignment of people to faces, best similarity first."""
    pairs = sorted(((c.similarity, i, c) for i, r in enumerate(results)
                    for c in r.candidates if c.similarity >= thresholds.review),
                   key=lambda pair: -pair[0])
    taken: set[int] = set()
    for similarity, index, candidate in pairs:
        result = results[index]
        if result.person is not None or candidate.person_id in taken:
            continue
        result.person = candidate
        result.decision = "match" if similarity >= thresholds.match else "review"
        taken.add(candidate.person_id)


def label(result: Recognition) -> str:
    """How a recognised face is captioned on annotated images."""
    if result.person is None:
        return "unknown"
    return f"{result.person.name} {result.person.similarity:.2f}"


def face_row(face: Face, image: np.ndarray, model: str, image_sha256: str,
             source_name: str | None) -> dict:
    """The columns of a stored face (all but its owner)."""
    return {
        "embedding": face.embedding,
        "model": model,
        "det_score": face.det_score,
        "bbox": face.box(),
        "landmarks": face.points(),
        "quality": quality_dict(face),
        "image_sha256": image_sha256,
        "source_name": source_name,
        "crop_jpeg": thumbnail(image, face),
    }


def quality_dict(face: Face) -> dict[str, float]:
    return dataclasses.asdict(face.quality)


def thumbnail(image: np.ndarray, face: Face) -> bytes:
    """The JPEG crop stored with a face: square, a margin around the box."""
    return encode_jpeg(crop_around_box(image, face.bbox, THUMBNAIL_SIZE, margin=1.3),
                       quality=85)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
