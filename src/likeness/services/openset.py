"""Open-set evaluation on labelled photos (a folder per person, as `likeness calibrate`
reads them): half the identities are enrolled from their first photo(s), then every other
photo is recognised through the real path (PeopleService.register into the database,
PeopleService's 1:N search and greedy assignment on the largest face of each probe).
Probes of enrolled people are genuine, probes of the other half are strangers; each lands
in one outcome (matched to the right person or the wrong one, sent to review, unknown, or
no face found) and the rates are what the recognition policy is judged on: how often a
stranger is auto-matched, how often a genuine probe is matched right.

Measurement only: the decisions are PeopleService's own. `tally` re-decides the stored
candidates offline under another recognition policy (thresholds, margin, low-quality
raise), to show what a policy change would do without touching the database again."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from sqlalchemy.orm import Session

from likeness.enums import Decision
from likeness.errors import LikenessError
from likeness.media import decode_image
from likeness.services.faces import RecognitionPolicy
from likeness.services.people import FaceChoice, PeopleRecords, PeopleService, Upload

if TYPE_CHECKING:
    from likeness.engine import Face

BATCH = 16  # photos analysed together: detection runs in parallel across them


class Outcome(StrEnum):
    """Where one probe lands. A stranger can only be matched or reviewed wrongly."""

    MATCH_RIGHT = "match right"
    MATCH_WRONG = "match wrong"
    REVIEW_RIGHT = "review right"
    REVIEW_WRONG = "review wrong"
    UNKNOWN = "unknown"
    NO_FACE = "no face"  # no face found (or the photo could not be read)


@dataclass(frozen=True, slots=True)
class Tally:
    """Probes by outcome."""

    match_right: int = 0
    match_wrong: int = 0
    review_right: int = 0
    review_wrong: int = 0
    unknown: int = 0
    no_face: int = 0

    @classmethod
    def of(cls, outcomes: Iterable[Outcome]) -> Tally:
        counts = dict.fromkeys(Outcome, 0)
        for outcome in outcomes:
            counts[outcome] += 1
        return cls(*(counts[o] for o in Outcome))

    @property
    def total(self) -> int:
        return (self.match_right + self.match_wrong + self.review_right + self.review_wrong
                + self.unknown + self.no_face)

    @property
    def matched(self) -> int:
        return self.match_right + self.match_wrong

    @property
    def reviewed(self) -> int:
        return self.review_right + self.review_wrong

    def rate(self, count: int) -> float:
        return count / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class Candidate:
    """One person a probe was compared with: who (the identity, None for someone in the
    database who is not part of the evaluation) and how similar their best face is."""

    identity: str | None
    similarity: float


@dataclass(frozen=True, slots=True)
class Probe:
    path: Path
    identity: str
    genuine: bool  # the identity is enrolled
    face: Face | None  # the largest face; None: none found
    candidates: tuple[Candidate, ...]  # best first, as the search returned them
    decision: Decision | None  # None: no face
    given: str | None  # the identity the decision names (match or review)
    why: str | None = None  # why there is no face

    @property
    def outcome(self) -> Outcome:
        return outcome(self.identity, self.decision, self.given)


def outcome(identity: str, decision: Decision | None, given: str | None) -> Outcome:
    if decision is None:
        return Outcome.NO_FACE
    if decision == Decision.UNKNOWN:
        return Outcome.UNKNOWN
    right = given == identity
    if decision == Decision.MATCH:
        return Outcome.MATCH_RIGHT if right else Outcome.MATCH_WRONG
    return Outcome.REVIEW_RIGHT if right else Outcome.REVIEW_WRONG


@dataclass(frozen=True)
class OpenSetResult:
    seed: int
    gallery_size: int  # photos enrolled per person (fewer where the gate refused them)
    policy: RecognitionPolicy
    enrolled: list[str]  # the half drawn for enrollment
    strangers: list[str]  # the other half
    gallery: dict[str, list[Path]]  # the photos each enrolled identity was registered with
    refused: list[tuple[Path, str]]  # gallery photos the enrollment gate refused, and why
    set_aside: list[Path]  # accepted gallery photos beyond gallery_size: not probed
    probes: list[Probe] = field(repr=False)

    @property
    def genuine(self) -> Tally:
        return Tally.of(p.outcome for p in self.probes if p.genuine)

    @property
    def stranger(self) -> Tally:
        return Tally.of(p.outcome for p in self.probes if not p.genuine)

    @property
    def genuine_match_right(self) -> float:
        """True positive identification rate: genuine probes matched to the right person."""
        genuine = self.genuine
        return genuine.rate(genuine.match_right)

    @property
    def genuine_review(self) -> float:
        genuine = self.genuine
        return genuine.rate(genuine.reviewed)

    @property
    def stranger_match(self) -> float:
        """False accept rate: strangers auto-matched to someone."""
        stranger = self.stranger
        return stranger.rate(stranger.matched)

    @property
    def stranger_review(self) -> float:
        stranger = self.stranger
        return stranger.rate(stranger.reviewed)


def split(identities: Iterable[str], seed: int) -> tuple[list[str], list[str]]:
    """(enrolled, strangers): a seeded half of the identities (sorted by name first, so
    the split depends on the names and the seed only), each half sorted."""
    names = sorted(identities)
    order = np.random.default_rng(seed).permutation(len(names))
    half = len(names) // 2
    return (sorted(names[i] for i in order[:half]), sorted(names[i] for i in order[half:]))


# The largest face of each photo, or why there is none.
FaceCache: TypeAlias = "dict[Path, Face | str]"


def largest_faces(people: PeopleService, paths: Sequence[Path],
                  cache: FaceCache | None = None) -> FaceCache:
    """The largest face of each photo (analysed as recognize(max_faces=1) does), or why
    there is none, into `cache`: photos already there are not analysed again."""
    cache = {} if cache is None else cache
    todo = [p for p in dict.fromkeys(paths) if p not in cache]
    for start in range(0, len(todo), BATCH):
        images, readable = [], []
        for path in todo[start : start + BATCH]:
            try:
                images.append(decode_image(path.read_bytes(), people.limits))
                readable.append(path)
            except (LikenessError, OSError) as exc:
                cache[path] = f"unreadable: {exc}"
        for path, faces in zip(readable, people.engine.analyze_batch(images, max_faces=1),
                               strict=True):
            cache[path] = faces[0] if faces else "no face found"
    return cache


def evaluate(people: PeopleService, session: Session, photos: Mapping[str, Sequence[Path]],
             *, seed: int = 0, gallery_size: int = 1, held_out: int | None = None,
             policy: RecognitionPolicy | None = None, top_k: int = 5,
             cache: FaceCache | None = None, keep: bool = False) -> OpenSetResult:
    """Enroll `gallery_size` photos of each person of a seeded half of `photos` and
    recognise every other photo.

    An enrolled person's photos are taken in sorted order: the first `held_out` (default
    `gallery_size`) that the enrollment gate accepts are set aside for the gallery and
    the first `gallery_size` of those are registered; every photo not set aside is a
    genuine probe (a photo the gate refused included: the gate applies to enrollment
    only). The first photo of a person must pass the gate as a first face (frontal
    enough), the others as later faces. With one `held_out`, runs of different gallery
    sizes probe the same photos.
    Every photo of the other half is a stranger probe, and so is every photo of an
    enrolled person none of whose photos the gate accepted (reported in `refused`; such
    a person is not in `gallery`). Analyses are memoised in `cache`, so several runs on
    the same photos analyse each once. The people created are deleted at the end unless
    `keep`; people already in the database take part as in production (as wrong
    candidates)."""
    if gallery_size < 1:
        raise ValueError("gallery_size must be at least 1")
    held_out = gallery_size if held_out is None else held_out
    if held_out < gallery_size:
        raise ValueError("held_out must be at least gallery_size")
    policy = policy or people.policy()
    cache = largest_faces(people, [p for ps in photos.values() for p in ps], cache)
    enrolled, strangers = split(photos, seed)
    chosen: dict[str, list[Path]] = {}
    refused: list[tuple[Path, str]] = []
    set_aside: list[Path] = []
    for name in enrolled:
        accepted: list[Path] = []
        for path in sorted(photos[name]):
            if len(accepted) == held_out:
                break
            why = _refusal(people, path, cache[path], first=not accepted)
            if why is None:
                accepted.append(path)
            else:
                refused.append((path, why))
        chosen[name] = accepted[:gallery_size]
        set_aside += accepted[gallery_size:]
    created: dict[int, str] = {}
    try:
        for name, gallery in chosen.items():
            if not gallery:
                continue
            uploads = [Upload(f"{name}/{p.name}", p.read_bytes()) for p in gallery]
            registered = people.register(session, name, uploads, FaceChoice(largest=True),
                                         find_in_videos=False)
            created[registered.person.person.id] = name
        gallery_photos = {p for ps in chosen.values() for p in ps} | set(set_aside)
        probes = [_recognise(people, session, name, path, cache[path],
                             bool(chosen.get(name)), created, policy, top_k)
                  for name in sorted(photos) for path in sorted(photos[name])
                  if path not in gallery_photos]
    finally:
        session.rollback()
        if not keep:
            records = PeopleRecords()
            for person_id in created:
                records.delete(session, person_id)
    return OpenSetResult(seed, gallery_size, policy, enrolled, strangers,
                         {n: g for n, g in chosen.items() if g}, refused, set_aside, probes)


def _refusal(people: PeopleService, path: Path, face: Face | str, *, first: bool
             ) -> str | None:
    """Why the enrollment gate would refuse this photo (as a person's first face if
    `first`), or None."""
    if isinstance(face, str):
        return face
    return people.gate.refusal(face, path.name, first=first)


def _recognise(people: PeopleService, session: Session, identity: str, path: Path,
               face: Face | str, genuine: bool, identities: Mapping[int, str],
               policy: RecognitionPolicy, top_k: int) -> Probe:
    if isinstance(face, str):
        return Probe(path, identity, genuine, None, (), None, None, face)
    [result] = people.recognize_faces(session, [face], top_k=top_k, policy=policy)
    session.rollback()  # one read transaction per probe, as a request has
    candidates = tuple(Candidate(identities.get(c.person_id), c.similarity)
                       for c in result.candidates)
    given = identities.get(result.person.person_id) if result.person else None
    return Probe(path, identity, genuine, face, candidates, result.decision, given)


def decide(candidates: Sequence[Candidate], policy: RecognitionPolicy,
           face: Face | None = None) -> tuple[Decision, str | None]:
    """The decision for a photo's only face (`face`: for its quality) from its candidates,
    as `assign` takes it: the best candidate, decided by `policy`."""
    if not candidates:
        return Decision.UNKNOWN, None
    best = candidates[0]
    others = candidates[1].similarity if len(candidates) > 1 else None
    decision = policy.decide(face, best.similarity, others)
    return decision, None if decision == Decision.UNKNOWN else best.identity


def tally(probes: Iterable[Probe], policy: RecognitionPolicy) -> tuple[Tally, Tally]:
    """(genuine, stranger) outcomes re-decided offline from the stored candidates."""
    genuine: list[Outcome] = []
    stranger: list[Outcome] = []
    for probe in probes:
        if probe.face is None:
            result = outcome(probe.identity, None, None)
        else:
            result = outcome(probe.identity, *decide(probe.candidates, policy, probe.face))
        (genuine if probe.genuine else stranger).append(result)
    return Tally.of(genuine), Tally.of(stranger)
