"""Enrollment, recognition and verification end to end: real photos, real model, real
PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.enums import Decision
from likeness.errors import NoFaceFound, NotFound, Rejected
from likeness.services.people import (
    FaceChoice,
    PeopleRecords,
    PeopleService,
    QualityGate,
    Recognition,
    RecognitionPolicy,
    Thresholds,
    Upload,
    assign,
)
from likeness.store import people as store
from likeness.store.models import FaceRecord, Person
from tests.conftest import data_file, read_bgr
from tests.helpers import box_distance

ENROLLED = {
    "obama": ["faces/obama/obama_1.jpg", "faces/obama/obama_2.jpg"],
    "biden": ["faces/biden/biden_1.jpg"],
    "rose_leslie": ["faces/rose_leslie/rose_1.jpg"],
    "alex_lacamoire": ["faces/alex_lacamoire/alex_1.png", "faces/alex_lacamoire/alex_2.jpg"],
}


def upload(relative: str) -> Upload:
    return Upload(relative, data_file(relative).read_bytes())


def jpeg(image: np.ndarray, name: str = "edited.jpg") -> Upload:
    return Upload(name, cv2.imencode(".jpg", image)[1].tobytes())


@pytest.fixture
def gallery(session: Session, people: PeopleService) -> dict[str, int]:
    ids = {}
    for name, photos in ENROLLED.items():
        person = people.register(session, name, [upload(photos[0])]).person.person
        people.enroll(session, person.id, [upload(p) for p in photos[1:]])
        ids[name] = person.id
    return ids


def who(results: list[Recognition]) -> list[tuple[str | None, str]]:
    return [(r.person.name if r.person else None, r.decision) for r in results]


@pytest.mark.parametrize(("photo", "name"), [
    ("faces/obama/obama_3.jpg", "obama"), ("faces/obama/obama_4.jpg", "obama"),
    ("faces/biden/biden_2.jpg", "biden"), ("faces/rose_leslie/rose_2.jpg", "rose_leslie"),
    ("faces/alex_lacamoire/alex_3.jpg", "alex_lacamoire"),
])
def test_recognize_enrolled_people(session: Session, people: PeopleService,
                                   gallery: dict[str, int], photo: str, name: str) -> None:
    (result,) = people.recognize(session, read_bgr(photo))
    assert who([result]) == [(name, "match")]
    assert result.candidates[0].person_id == gallery[name]
    others = [c.similarity for c in result.candidates[1:]]
    assert all(s < people.thresholds().review for s in others)


def test_someone_not_enrolled_is_unknown(session: Session, people: PeopleService,
                                         gallery: dict[str, int]) -> None:
    (result,) = people.recognize(session, read_bgr("faces/lin_manuel_miranda/lin_1.png"))
    assert who([result]) == [(None, "unknown")]
    assert len(result.candidates) == 4  # still listed, best first
    similarities = [c.similarity for c in result.candidates]
    assert similarities == sorted(similarities, reverse=True)


@pytest.mark.parametrize(("scene", "expected"), [
    ("scenes/two_people.jpg", {(237, 21): "obama", (788, 36): "biden"}),
    ("scenes/obama_and_biden.jpg",
     {(760, 390): "biden", (1143, 358): "obama", (1639, 1035): None}),
    ("scenes/kit_with_rose.jpg", {(78, 108): "rose_leslie", (260, 74): None}),
    ("scenes/kit_harington.jpg", {None: None}),
])
def test_recognize_scenes(session: Session, people: PeopleService, gallery: dict[str, int],
                          scene: str, expected: dict) -> None:
    results = people.recognize(session, read_bgr(scene))
    assert len(results) == len(expected)
    for corner, name in expected.items():
        result = results[0] if corner is None else min(
            results, key=lambda r, c=corner: float(np.abs(r.face.bbox[:2] - c).sum()))
        assert (result.person.name if result.person else None) == name, corner
        assert result.decision == ("match" if name else "unknown")


def test_no_person_is_given_to_two_faces(session: Session, people: PeopleService,
                                         gallery: dict[str, int]) -> None:
    left, right = read_bgr("faces/obama/obama_3.jpg"), read_bgr("faces/obama/obama_4.jpg")
    height = 800
    pair = np.hstack([cv2.resize(img, (int(img.shape[1] * height / img.shape[0]), height))
                      for img in (left, right)])
    results = people.recognize(session, pair)
    assert len(results) == 2
    assert sorted(who(results), key=str) == sorted([("obama", "match"), (None, "unknown")],
                                                   key=str)
    loser = next(r for r in results if r.person is None)
    assert loser.candidates[0].name == "obama"  # it was obama's, but obama was taken


def test_the_loser_falls_to_its_next_candidate() -> None:
    def face(*candidates: tuple[int, float]) -> Recognition:
        return Recognition(face=None, candidates=[  # type: ignore[arg-type]
            store.Candidate(pid, f"p{pid}", sim, 0) for pid, sim in candidates])

    results = [face((1, 0.70), (2, 0.50)), face((1, 0.80), (3, 0.35)), face((1, 0.45))]
    assign(results, Thresholds(match=0.40, review=0.30))
    assert [(r.person.person_id if r.person else None, r.decision) for r in results] == [
        (2, "match"), (1, "match"), (None, "unknown")]


def candidates(*pairs: tuple[int, float]) -> Recognition:
    """A face (none: only its candidates matter) with these (person id, similarity)."""
    return Recognition(face=None, candidates=[  # type: ignore[arg-type]
        store.Candidate(pid, f"p{pid}", sim, 0) for pid, sim in pairs])


def test_a_margin_sends_close_calls_to_review() -> None:
    def decided(policy: RecognitionPolicy) -> list[tuple[int | None, str]]:
        results = [candidates((1, 0.60), (2, 0.57)), candidates((3, 0.60), (4, 0.40)),
                   candidates((3, 0.55), (5, 0.50)), candidates((6, 0.50))]
        assign(results, policy)
        return [(r.person.person_id if r.person else None, r.decision) for r in results]

    plain = RecognitionPolicy(Thresholds(match=0.43, review=0.30))
    assert decided(plain) == [(1, "match"), (3, "match"), (5, "match"), (6, "match")]
    # 0.03 above the next candidate is too close; a face given its second choice (its
    # first went to another face) is no match either; a lone candidate has no rival.
    assert decided(replace(plain, margin=0.05)) == [
        (1, "review"), (3, "match"), (5, "review"), (6, "match")]


def test_a_low_quality_face_needs_a_higher_score(engine: FaceEngine) -> None:
    image = read_bgr("faces/obama/obama_1.jpg")
    (sharp,) = engine.analyze(image)
    (small,) = engine.analyze(cv2.resize(image, None, fx=0.15, fy=0.15,
                                         interpolation=cv2.INTER_AREA))
    scene = engine.analyze(read_bgr("scenes/obama_and_biden.jpg"))
    turned = min(scene, key=lambda f: f.area)  # the unknown person, turned ~56 degrees
    assert small.quality.face_size < 48 <= sharp.quality.face_size
    assert abs(turned.quality.yaw) > 30 and turned.quality.face_size > 48
    policy = RecognitionPolicy(Thresholds(match=0.43, review=0.30), low_quality_raise=0.05,
                               gate=QualityGate(max_yaw=30))  # turned counts with a pose rule
    assert policy.match_for(sharp) == 0.43
    assert policy.match_for(small) == policy.match_for(turned) == pytest.approx(0.48)
    assert policy.decide(sharp, 0.45) == Decision.MATCH
    assert policy.decide(small, 0.45) == policy.decide(turned, 0.45) == Decision.REVIEW
    assert policy.decide(small, 0.49) == Decision.MATCH
    assert policy.decide(small, 0.25) == Decision.UNKNOWN
    # The default raises nothing (docs/models-and-thresholds.md: the numbers say so).
    default = RecognitionPolicy(Thresholds(match=0.43, review=0.30))
    assert default.decide(small, 0.45) == Decision.MATCH


def test_the_policy_comes_from_the_settings(engine: FaceEngine, settings: Settings) -> None:
    tuned = settings.model_copy(update={"match_margin": 0.04, "match_low_quality_raise": 0.02,
                                        "enroll_max_yaw": 40, "match_threshold": 0.5})
    policy = PeopleService.from_settings(engine, tuned).policy()
    assert policy == RecognitionPolicy(Thresholds(0.5, 0.30), margin=0.04,
                                       low_quality_raise=0.02,
                                       gate=QualityGate(48, 40, 0.6, max_yaw=40))
    default = PeopleService.from_settings(engine, settings).policy()
    assert (default.match, default.review, default.margin, default.low_quality_raise,
            default.gate.max_yaw) == (0.43, 0.30, 0, 0, 90)
    assert default.thresholds == Thresholds(engine.thresholds.match, engine.thresholds.review)


def test_close_calls_go_to_review_with_a_margin(session: Session, people: PeopleService) -> None:
    # Two people enrolled from the same photo: the probe is equally like both.
    for name in ("obama", "obama's double"):
        people.register(session, name, [upload("faces/obama/obama_1.jpg")])
    image = read_bgr("faces/obama/obama_3.jpg")
    (plain,) = people.recognize(session, image)
    assert plain.decision == "match"
    strict = replace(people, match_margin=0.05)
    (close,) = strict.recognize(session, image, top_k=1)  # two looked up all the same
    assert close.decision == "review" and close.person is not None
    assert len(close.candidates) == 1


def test_a_first_face_must_be_frontal(session: Session, people: PeopleService) -> None:
    # The unknown person of the scene, turned ~45-55 degrees, on a photo of their own.
    turned = jpeg(read_bgr("scenes/obama_and_biden.jpg")[950:1320, 1550:1880], "turned.jpg")
    people = replace(people, gate=replace(people.gate, max_yaw=30))  # off by default
    with pytest.raises(Rejected, match=r"turned \d\d degrees; a person's first face must "
                                       r"be turned less than 30"):
        people.register(session, "stranger", [turned])
    assert session.scalar(select(func.count()).select_from(Person)) == 0
    empty = store.create_person(session, "stranger")
    session.commit()
    with pytest.raises(Rejected, match=r"turned \d\d degrees"):
        people.enroll(session, empty.id, [turned])
    # With a frontal face in the same call or already enrolled, a turned one adds a pose.
    both = people.register(session, "both", [upload("faces/obama/obama_1.jpg"), turned])
    assert both.new_faces == 2
    obama = people.register(session, "obama", [upload("faces/obama/obama_1.jpg")])
    (added,) = people.enroll(session, obama.person.person.id, [turned]).enrollments
    assert added.created and abs(added.face.quality["yaw"]) > 30
    # The rule has a setting.
    lenient = replace(people, gate=replace(people.gate, max_yaw=60))
    assert lenient.enroll(session, empty.id, [turned]).new_faces == 1


def test_centroid_scoring(session: Session, people: PeopleService, engine: FaceEngine
                          ) -> None:
    photos = ["faces/obama/obama_1.jpg", "faces/obama/obama_2.jpg"]
    people.register(session, "obama", [upload(p) for p in photos])
    people.register(session, "biden", [upload("faces/biden/biden_1.jpg")])
    image = read_bgr("faces/obama/obama_3.jpg")
    probe = engine.analyze(image)[0].require_embedding()
    gallery = np.stack([engine.analyze(read_bgr(p))[0].require_embedding() for p in photos])
    (best,) = people.recognize(session, image)
    (centred,) = replace(people, person_score="centroid").recognize(session, image)
    assert best.candidates[0].similarity == pytest.approx(float(np.max(gallery @ probe)),
                                                          abs=1e-5)
    centre = gallery.sum(axis=0) / np.linalg.norm(gallery.sum(axis=0))
    assert centred.candidates[0].name == "obama" and centred.decision == "match"
    assert centred.candidates[0].similarity == pytest.approx(float(centre @ probe), abs=1e-5)
    assert centred.candidates[1].similarity == pytest.approx(best.candidates[1].similarity,
                                                             abs=1e-6)  # one face: the same


def test_per_request_thresholds(session: Session, people: PeopleService,
                                gallery: dict[str, int]) -> None:
    image = read_bgr("faces/obama/obama_3.jpg")
    strict = people.recognize(session, image, policy=people.policy(0.99, 0.30))
    assert who(strict) == [("obama", "review")]
    stricter = people.recognize(session, image, policy=people.policy(0.99, 0.98))
    assert who(stricter) == [(None, "unknown")]
    with pytest.raises(Rejected, match="above the match"):
        people.thresholds(0.3, 0.5)


def test_enrolling_the_same_image_twice_is_idempotent(session: Session,
                                                       people: PeopleService) -> None:
    registered = people.register(session, "obama", [upload("faces/obama/obama_1.jpg")])
    person, (first,) = registered.person.person, registered.enrollments
    (again,) = people.enroll(session, person.id, [upload("faces/obama/obama_1.jpg")]).enrollments
    assert first.created and not again.created
    assert again.face.id == first.face.id
    assert session.scalar(select(func.count()).select_from(FaceRecord)) == 1


def test_stored_face_fields(session: Session, people: PeopleService) -> None:
    (enrollment,) = people.register(session, "rose",
                                    [upload("faces/rose_leslie/rose_2.jpg")]).enrollments
    face = enrollment.face
    assert face.model == "buffalo_s" and len(face.image_sha256.strip()) == 64
    assert face.source_name == "faces/rose_leslie/rose_2.jpg"
    assert set(face.quality) == {"face_size", "blur", "yaw", "pitch", "roll"}
    crop = cv2.imdecode(np.frombuffer(face.crop_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert crop.shape == (160, 160, 3)
    assert abs(np.linalg.norm(np.asarray(face.embedding)) - 1) < 1e-5


def test_quality_gate(session: Session, people: PeopleService) -> None:
    person = store.create_person(session, "obama")
    session.commit()
    image = read_bgr("faces/obama/obama_1.jpg")
    tiny = cv2.resize(image, None, fx=0.12, fy=0.12, interpolation=cv2.INTER_AREA)
    with pytest.raises(Rejected, match="px, below the 48 px minimum"):
        people.enroll(session, person.id, [jpeg(tiny)])
    with pytest.raises(Rejected, match="too blurred"):
        people.enroll(session, person.id, [jpeg(cv2.GaussianBlur(image, (0, 0), 8))])
    with pytest.raises(NoFaceFound):
        people.enroll(session, person.id, [jpeg(np.full((300, 300, 3), 90, np.uint8))])
    assert store.faces_of(session, person.id) == []


def test_group_photos_need_a_choice(session: Session, people: PeopleService) -> None:
    person = store.create_person(session, "biden")
    session.commit()
    scene = upload("scenes/obama_and_biden.jpg")
    with pytest.raises(Rejected, match="has 3 faces; choose one"):
        people.enroll(session, person.id, [scene])
    with pytest.raises(Rejected, match="out of range"):
        people.enroll(session, person.id, [scene], FaceChoice(index=5))
    (second,) = people.enroll(session, person.id, [scene], FaceChoice(index=1)).enrollments
    assert box_distance(second.face.bbox, (760, 390, 938, 647)) < 5  # biden: 2nd largest
    other = store.create_person(session, "obama")
    session.commit()
    (largest,) = people.enroll(session, other.id, [scene],
                               FaceChoice(largest=True)).enrollments
    assert box_distance(largest.face.bbox, (1143, 358, 1331, 605)) < 5


def test_enrollment_is_all_or_nothing(session: Session, people: PeopleService) -> None:
    person = store.create_person(session, "obama")
    session.commit()
    with pytest.raises(Rejected):
        people.enroll(session, person.id, [upload("faces/obama/obama_1.jpg"),
                                           upload("scenes/two_people.jpg")])
    assert store.faces_of(session, person.id) == []


def test_a_failed_registration_creates_nobody(session: Session, people: PeopleService) -> None:
    with pytest.raises(NoFaceFound):
        people.register(session, "nobody", [upload("faces/obama/obama_1.jpg"),
                                            jpeg(np.full((200, 200, 3), 30, np.uint8))])
    assert session.scalar(select(func.count()).select_from(Person)) == 0


def test_verify_against_a_person(session: Session, people: PeopleService,
                                 gallery: dict[str, int]) -> None:
    same = people.verify(session, read_bgr("faces/obama/obama_4.jpg"), gallery["obama"])
    assert same.same_person and same.similarity > 0.5
    other = people.verify(session, read_bgr("faces/biden/biden_2.jpg"), gallery["obama"])
    assert not other.same_person and other.similarity < 0.2
    with pytest.raises(NotFound):
        people.verify(session, read_bgr("faces/biden/biden_2.jpg"), 999_999)


def test_delete_leaves_nothing_behind(session: Session, people: PeopleService,
                                      gallery: dict[str, int]) -> None:
    PeopleRecords().delete(session, gallery["obama"])
    assert session.scalar(select(func.count()).select_from(FaceRecord)
                          .where(FaceRecord.person_id == gallery["obama"])) == 0
    (result,) = people.recognize(session, read_bgr("faces/obama/obama_3.jpg"))
    assert result.decision == "unknown"
    with pytest.raises(NotFound):
        store.delete_person(session, gallery["obama"])


def test_merge_moves_faces(session: Session, people: PeopleService) -> None:
    a = people.register(session, "obama", [upload("faces/obama/obama_1.jpg")]).person.person
    b = people.register(session, "barack", [upload("faces/obama/obama_2.jpg")]).person.person
    people.enroll(session, b.id, [upload("faces/obama/obama_1.jpg")])  # both have this one
    merged = PeopleRecords().merge(session, a.id, b.id)
    assert merged.moved_faces == 1 and merged.person.face_count == 2
    with pytest.raises(NotFound):
        store.get_person(session, b.id)


def test_embeddings_of_other_models_are_never_compared(session: Session,
                                                       people: PeopleService,
                                                       gallery: dict[str, int]) -> None:
    face = store.faces_of(session, gallery["biden"])[0]
    intruder = store.create_person(session, "other model")
    store.add_faces(session, [{
        "person_id": intruder.id, "embedding": np.asarray(face.embedding), "model": "other",
        "det_score": 0.9, "bbox": face.bbox, "landmarks": face.landmarks,
        "quality": face.quality, "image_sha256": "f" * 64, "source_name": None,
        "crop_jpeg": face.crop_jpeg}])
    session.commit()
    (result,) = people.recognize(session, read_bgr("faces/biden/biden_1.jpg"))
    assert [c.name for c in result.candidates][:1] == ["biden"]
    assert "other model" not in [c.name for c in result.candidates]
