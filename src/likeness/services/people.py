"""People use cases. `PeopleRecords` works on the database alone (the people and their
faces: list, edit, merge, delete); `PeopleService` infers: enrollment with quality gates,
registration, 1:N recognition and 1:1 verification. Inference runs before any transaction
opens; each write use case commits once, so a failure leaves nothing half-written. New
faces are looked for at once in the videos already scanned (retro-matching)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.orm import Session

from likeness.config import Settings
from likeness.enums import Decision
from likeness.errors import (
    Conflict,
    InvalidInput,
    LikenessError,
    NoFaceFound,
    NotFound,
    Rejected,
)
from likeness.media import ImageLimits, decode_image
from likeness.services.faces import (
    Comparison,
    QualityGate,
    RecognitionPolicy,
    Thresholds,
    compare,
    face_row,
    verify_threshold,
)
from likeness.services.pages import Page
from likeness.services.videos import RetroResult, VideoRecords
from likeness.store import people as store
from likeness.store.models import FaceRecord, Person

if TYPE_CHECKING:
    from likeness.engine import Face, FaceEngine
    from likeness.services.notifications import Notifier


RESCORED = 10  # people re-scored by their centroid per face (LIKENESS_PERSON_SCORE)


@dataclass(frozen=True, slots=True)
class PersonSummary:
    person: Person
    face_count: int


@dataclass(frozen=True, slots=True)
class Merged:
    person: PersonSummary
    moved_faces: int


class PeopleRecords:
    """The people and their faces, without the model."""

    @staticmethod
    def _summary(session: Session, person: Person) -> PersonSummary:
        return PersonSummary(person, store.face_counts(session, [person.id]).get(person.id, 0))

    def create(self, session: Session, name: str, external_id: str | None = None,
               attributes: dict[str, Any] | None = None) -> PersonSummary:
        person = store.create_person(session, name, external_id, attributes)
        session.commit()
        return PersonSummary(person, 0)

    def get(self, session: Session, person_id: int) -> PersonSummary:
        return self._summary(session, store.get_person(session, person_id))

    def page(self, session: Session, *, name_contains: str | None = None, limit: int = 50,
             offset: int = 0) -> Page[PersonSummary]:
        people, total = store.list_people(session, name_contains=name_contains, limit=limit,
                                          offset=offset)
        counts = store.face_counts(session, [p.id for p in people])
        return Page([PersonSummary(p, counts.get(p.id, 0)) for p in people], total, limit,
                    offset)

    def update(self, session: Session, person_id: int, changes: dict[str, Any]
               ) -> PersonSummary:
        """Change name, external_id and/or attributes (the keys present in `changes`)."""
        if "name" in changes and changes["name"] is None:
            raise InvalidInput("name cannot be null")
        if "attributes" in changes and changes["attributes"] is None:
            changes = {**changes, "attributes": {}}
        person = store.update_person(session, store.get_person(session, person_id), changes)
        summary = self._summary(session, person)
        session.commit()
        return summary

    def delete(self, session: Session, person_id: int) -> None:
        """The person, their faces, embeddings and crops, in one transaction."""
        store.delete_person(session, person_id)
        session.commit()

    def merge(self, session: Session, person_id: int, source_id: int) -> Merged:
        """Move `source_id`'s faces to `person_id` and delete `source_id`. A missing
        `person_id` is not found; a missing `source_id` contradicts what is stored."""
        store.get_person(session, person_id)
        if store.find_person(session, source_id) is None:
            raise Conflict(f"source_id {source_id}: no such person")
        moved = store.merge_people(session, person_id, source_id)
        merged = Merged(self.get(session, person_id), moved)
        session.commit()
        return merged

    def faces(self, session: Session, person_id: int) -> list[FaceRecord]:
        return store.faces_of(session, person_id)

    def delete_face(self, session: Session, face_id: int) -> None:
        store.delete_face(session, face_id)
        session.commit()

    def face_thumbnail(self, session: Session, face_id: int) -> bytes:
        return store.get_face(session, face_id).crop_jpeg

    def named(self, session: Session, name: str) -> Person | None:
        """The one person called `name` (ignoring case), or None; several is an error."""
        matches = store.people_named(session, name)
        if len(matches) > 1:
            ids = ", ".join(str(p.id) for p in matches)
            raise InvalidInput(f"{len(matches)} people are called {name!r} (ids {ids}); "
                               "choose one by id")
        return matches[0] if matches else None

    def portraits(self, session: Session, person_ids: Sequence[int]) -> dict[int, int]:
        """The id of the face that best shows each person (frontal, then largest), for
        lists: one query for a page of people; people without faces are left out."""
        return store.best_faces(session, person_ids)


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
class Enrolled:
    """What an enrollment or a registration stored, and what retro-matching found."""

    person: PersonSummary
    enrollments: list[Enrollment]
    found: RetroResult  # videos tagged and tracks sent to review thanks to the new faces

    @property
    def new_faces(self) -> int:
        return sum(e.created for e in self.enrollments)


@dataclass(frozen=True, slots=True)
class PhotoVerdict:
    name: str
    stored: bool  # a face of it is enrolled (now, or from before)
    detail: str  # "added", "already enrolled", or why it was refused


@dataclass(frozen=True, slots=True)
class EnrollReport:
    """Photos enrolled one by one: what was stored, what was refused and why."""

    person: PersonSummary | None  # None: every photo was refused
    created: int
    already_stored: int
    refused: list[tuple[str, str]]  # (photo name, why)
    found: RetroResult
    verdicts: list[PhotoVerdict] = field(default_factory=list)  # each photo, in order


@dataclass(slots=True)
class Recognition:
    face: Face
    candidates: list[store.Candidate]
    decision: Decision = Decision.UNKNOWN
    person: store.Candidate | None = None  # the person given to this face, if any


@dataclass(frozen=True, slots=True)
class Recognized:
    """Every face of one photo with its decision, and the photo's size."""

    faces: list[Recognition]
    width: int
    height: int
    elapsed_ms: float  # decoding, inference and search


@dataclass(frozen=True)
class PeopleService:
    """The people use cases that need the model, configured once per process."""

    engine: FaceEngine
    limits: ImageLimits = field(default_factory=ImageLimits)
    gate: QualityGate = field(default_factory=QualityGate)
    ef_search: int = 100
    match_threshold: float | None = None  # None: the pack's
    review_threshold: float | None = None
    verify_threshold: float | None = None
    match_margin: float = 0.0
    low_quality_raise: float = 0.0
    person_score: str = "best"  # or "centroid": see rescore()
    notifier: Notifier | None = field(default=None, compare=False)  # of retro-matching

    @classmethod
    def from_settings(cls, engine: FaceEngine, settings: Settings,
                      notifier: Notifier | None = None) -> PeopleService:
        return cls(engine, ImageLimits(settings.max_upload_bytes, settings.max_image_pixels),
                   QualityGate.from_settings(settings), settings.hnsw_ef_search,
                   settings.match_threshold, settings.review_threshold,
                   settings.verify_threshold, settings.match_margin,
                   settings.match_low_quality_raise, settings.person_score, notifier)

    def verify_threshold_or(self, override: float | None) -> float:
        """The 1:1 threshold: the request's, else the setting, else the pack's."""
        return verify_threshold(self.engine, override, self.verify_threshold)

    @property
    def model(self) -> str:
        return self.engine.model_name

    def thresholds(self, match: float | None = None, review: float | None = None
                   ) -> Thresholds:
        """The request's thresholds, else the settings', else the pack's."""
        return Thresholds.resolve(
            self.engine.thresholds, self.match_threshold if match is None else match,
            self.review_threshold if review is None else review)

    def policy(self, match: float | None = None, review: float | None = None
               ) -> RecognitionPolicy:
        """The recognition policy: thresholds() with the configured margin, low-quality
        raise and enrollment gate."""
        return RecognitionPolicy(self.thresholds(match, review), self.match_margin,
                                 self.low_quality_raise, self.gate)

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
        return face_row(face, image, self.model, _sha256(upload.data), upload.name)

    def _frontal_first(self, rows: Sequence[dict | None], uploads: Sequence[Upload],
                       stored: Sequence[FaceRecord] = ()) -> None:
        """A person's first face must be frontal: refuse new faces that would leave them
        with turned faces only (rows of None: photos already stored)."""
        if any(self.gate.frontal(f.quality.get("yaw")) for f in stored):
            return
        new = [(r, u) for r, u in zip(rows, uploads, strict=True) if r is not None]
        if not new or any(self.gate.frontal(r["quality"].get("yaw")) for r, _ in new):
            return
        row, upload = new[0]
        raise Rejected(self.gate.turned(row["quality"]["yaw"], upload.name or "the photo"))

    def enroll(self, session: Session, person_id: int, uploads: Sequence[Upload],
               choice: FaceChoice = FaceChoice(), *, find_in_videos: bool = True
               ) -> Enrolled:
        """Enroll one face from each upload, all or nothing. A photo the person already
        has is not analysed or stored again."""
        stored = [f for f in store.faces_of(session, person_id) if f.model == self.model]
        digests = [_sha256(u.data) for u in uploads]
        known = [store.face_from_image(session, person_id, d) is not None for d in digests]
        session.commit()  # ends the read: no transaction stays open through inference
        rows = [None if seen else self._enrollable(u, choice)
                for u, seen in zip(uploads, known, strict=True)]
        self._frontal_first(rows, uploads, stored)
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
        return self._enrolled(session, person_id, results, find_in_videos)

    def register(self, session: Session, name: str, uploads: Sequence[Upload],
                 choice: FaceChoice = FaceChoice(), external_id: str | None = None, *,
                 find_in_videos: bool = True) -> Enrolled:
        """Create a person with a face from each upload, in one transaction: if any
        photo is refused, nobody is created."""
        rows = [self._enrollable(upload, choice) for upload in uploads]
        self._frontal_first(rows, uploads)
        person = store.create_person(session, name, external_id)
        results = [Enrollment(*store.add_face(session, {**row, "person_id": person.id}))
                   for row in rows]
        return self._enrolled(session, person.id, results, find_in_videos)

    def enroll_or_register(self, session: Session, name: str, uploads: Sequence[Upload],
                           choice: FaceChoice = FaceChoice(), person_id: int | None = None
                           ) -> Enrolled:
        """Enroll into `person_id`, else into the one person called `name`, else into a
        new person of that name (who exists only with their faces)."""
        if person_id is None:
            known = PeopleRecords().named(session, name)
            session.commit()  # no transaction stays open through inference
            person_id = known.id if known is not None else None
        if person_id is None:
            return self.register(session, name, uploads, choice)
        return self.enroll(session, person_id, uploads, choice)

    def enroll_each(self, session: Session, name: str,
                    photos: Sequence[tuple[str, Callable[[], bytes]]],
                    choice: FaceChoice = FaceChoice(),
                    on_photo: Callable[[], None] = lambda: None) -> EnrollReport:
        """Enroll each photo (its name, and how to read it: one at a time) on its own into
        the one person called `name` (created with their first accepted photo): a photo
        that cannot be read or is refused is reported and the others go on. The new faces
        are then looked for in the videos, once."""
        person = PeopleRecords().named(session, name)
        session.commit()  # no transaction stays open through inference
        return self._one_by_one(session, person.id if person else None, name, photos, choice,
                                on_photo)

    def enroll_photos(self, session: Session, person_id: int, uploads: Sequence[Upload],
                      choice: FaceChoice = FaceChoice()) -> EnrollReport:
        """Enroll each upload on its own into the person: one refused photo (no face, too
        small, a group) does not keep the others out, and the report says what became of
        each. The new faces are then looked for in the videos, once."""
        PeopleRecords().get(session, person_id)
        session.commit()
        return self._one_by_one(session, person_id, None, [
            (upload.name, functools.partial(bytes, upload.data)) for upload in uploads], choice)

    def _one_by_one(self, session: Session, person_id: int | None, name: str | None,
                    photos: Sequence[tuple[str, Callable[[], bytes]]], choice: FaceChoice,
                    on_photo: Callable[[], None] = lambda: None) -> EnrollReport:
        """Photos enrolled one at a time into `person_id`, or into a person called `name`
        made with the first accepted photo."""
        counts = [0, 0]
        refused: list[tuple[str, str]] = []
        verdicts: list[PhotoVerdict] = []
        for photo_name, read in photos:
            try:
                upload = Upload(photo_name, read())
                if person_id is None:
                    assert name is not None
                    enrolled = self.register(session, name, [upload], choice,
                                             find_in_videos=False)
                    person_id = enrolled.person.person.id
                else:
                    enrolled = self.enroll(session, person_id, [upload], choice,
                                           find_in_videos=False)
            except NotFound:
                raise  # the person is gone: nothing more can be enrolled
            except LikenessError as exc:
                session.rollback()
                refused.append((photo_name, str(exc)))
                verdicts.append(PhotoVerdict(photo_name, False, str(exc)))
                continue
            finally:
                on_photo()
            counts[0 if enrolled.new_faces else 1] += 1
            verdicts.append(PhotoVerdict(photo_name, True, "added" if enrolled.new_faces
                                         else "already enrolled"))
        if person_id is None:
            return EnrollReport(None, 0, 0, refused, RetroResult(0, 0), verdicts)
        summary = PeopleRecords().get(session, person_id)
        session.commit()
        found = self._find_in_videos(session, person_id) if counts[0] else RetroResult(0, 0)
        return EnrollReport(summary, counts[0], counts[1], refused, found, verdicts)

    def _enrolled(self, session: Session, person_id: int, results: list[Enrollment],
                  find_in_videos: bool) -> Enrolled:
        """Commit the enrollment, then look for the new faces in the videos. No
        transaction is left open."""
        person = PeopleRecords().get(session, person_id)
        session.commit()
        found = RetroResult(0, 0)
        if find_in_videos and any(r.created for r in results):
            found = self._find_in_videos(session, person_id)
        return Enrolled(person, results, found)

    def _find_in_videos(self, session: Session, person_id: int) -> RetroResult:
        return VideoRecords(notifier=self.notifier).retro_match(
            session, person_id, self.model, self.thresholds())

    # ------------------------------------------------------------ recognition

    def recognize(self, session: Session, image: np.ndarray, *, top_k: int = 5,
                  policy: RecognitionPolicy | None = None, max_faces: int = 0
                  ) -> list[Recognition]:
        """Every face with its top_k candidates and a decision under `policy` (default:
        the configured one). Within the photo no person is given to two faces: pairs are
        taken greedily by similarity and the loser falls to its next candidate, or to
        unknown."""
        return self.recognize_faces(session, self.engine.analyze(image, max_faces=max_faces),
                                    top_k=top_k, policy=policy)

    def recognize_photo(self, session: Session, data: bytes, *, top_k: int = 5,
                        match: float | None = None, review: float | None = None,
                        max_faces: int = 0) -> Recognized:
        """recognize() for an image file's bytes, with the request's thresholds."""
        started = time.perf_counter()
        policy = self.policy(match, review)
        image = decode_image(data, self.limits)
        faces = self.recognize(session, image, top_k=top_k, max_faces=max_faces,
                               policy=policy)
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        return Recognized(faces, width=image.shape[1], height=image.shape[0],
                          elapsed_ms=elapsed)

    def recognize_faces(self, session: Session, faces: Sequence[Face], *, top_k: int = 5,
                        policy: RecognitionPolicy | None = None) -> list[Recognition]:
        """recognize() for faces already analysed."""
        policy = policy or self.policy()
        # A margin compares the best person with the next: at least two are looked up;
        # centroids re-rank the people found by their best face: a few more are.
        wanted = max(top_k, 2) if policy.margin else top_k
        if self.person_score == "centroid":
            wanted = max(wanted, RESCORED)
        effort = wanted if wanted > self.ef_search else None  # else the connection's
        results = [Recognition(face, store.search_people(
                       session, face.require_embedding(), self.model, top_k=wanted,
                       ef_search=effort))
                   for face in faces]
        if self.person_score == "centroid":
            self.rescore(session, results)
        assign(results, policy)
        for result in results:
            del result.candidates[top_k:]
        return results

    def rescore(self, session: Session, results: list[Recognition]) -> None:
        """Score each candidate person by the centroid of their faces (the normalised mean
        of their embeddings) instead of their best face, and re-rank. With one face the
        two are the same; with several, on the dev set, right matches rose by 1.9 points
        at 3 faces a person while strangers passed 0.35 a third as often
        (docs/benchmarks.md)."""
        people = {c.person_id for r in results for c in r.candidates}
        if not people:
            return
        embeddings = store.face_embeddings(session, sorted(people), self.model)
        sums = {pid: e.sum(axis=0) for pid, e in embeddings.items()}
        norms = {pid: float(np.linalg.norm(v)) for pid, v in sums.items()}
        for result in results:
            query = result.face.require_embedding()
            rescored = [dataclasses.replace(c, similarity=float(sums[c.person_id] @ query)
                                            / max(norms[c.person_id], 1e-12))
                        if c.person_id in sums else c for c in result.candidates]
            result.candidates = sorted(rescored, key=lambda c: -c.similarity)

    def verify(self, session: Session, image: np.ndarray, person_id: int,
               threshold: float | None = None) -> Comparison:
        """Is the largest face of `image` this person? Judged on their closest face."""
        faces = self.engine.analyze(image, max_faces=1)
        if not faces:
            raise NoFaceFound("no face found in the photo")
        similarity = store.best_similarity(session, person_id, faces[0].require_embedding(),
                                           self.model)
        if similarity is None:
            raise Rejected(f"person {person_id} has no face enrolled with {self.model}")
        threshold = self.verify_threshold_or(threshold)
        return Comparison(similarity, similarity >= threshold, threshold)

    def verify_photos(self, session: Session, *, file_a: Upload | None = None,
                      file_b: Upload | None = None, file: Upload | None = None,
                      person_id: int | None = None, threshold: float | None = None
                      ) -> Comparison:
        """1:1: the largest faces of two photos (`file_a`, `file_b`), or of one photo
        (`file`) against a person."""
        if file_a and file_b and file is None and person_id is None:
            images = [decode_image(u.data, self.limits) for u in (file_a, file_b)]
            return compare(self.engine, *images, threshold=self.verify_threshold_or(threshold),
                           names=(file_a.name, file_b.name))
        if file and person_id is not None and file_a is None and file_b is None:
            return self.verify(session, decode_image(file.data, self.limits), person_id,
                               threshold)
        raise InvalidInput("send either file_a and file_b, or file and person_id")


def assign(results: list[Recognition], policy: RecognitionPolicy | Thresholds) -> None:
    """Greedy one-to-one assignment of people to faces, best similarity first, each
    decided by `policy` (bare thresholds: no margin, no quality raise)."""
    if isinstance(policy, Thresholds):
        policy = RecognitionPolicy(policy)
    pairs = sorted(((c.similarity, i, c) for i, r in enumerate(results)
                    for c in r.candidates if c.similarity >= policy.review),
                   key=lambda pair: -pair[0])
    taken: set[int] = set()
    for similarity, index, candidate in pairs:
        result = results[index]
        if result.person is not None or candidate.person_id in taken:
            continue
        others = max((c.similarity for c in result.candidates if c is not candidate),
                     default=None)
        result.person = candidate
        result.decision = policy.decide(result.face, similarity, others)
        taken.add(candidate.person_id)


def label(result: Recognition) -> str:
    """How a recognised face is captioned on annotated images."""
    if result.person is None:
        return "unknown"
    return f"{result.person.name} {result.person.similarity:.2f}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
