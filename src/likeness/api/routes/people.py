"""People, their faces, recognition (1:N) and verification (1:1). Routes are plain `def`:
FastAPI runs them in its thread pool, off the event loop, inference and SQL alike."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status
from sqlalchemy.orm import Session

from likeness.api.deps import LimitsDep, PeopleDep, SessionDep, SettingsDep
from likeness.api.errors import IMAGE_RESPONSES
from likeness.api.schemas import (
    CandidateOut,
    EnrolledOut,
    MergeIn,
    MergeOut,
    PeoplePage,
    PersonIn,
    PersonOut,
    PersonPatch,
    RecognizedFaceOut,
    RecognizeOut,
    RegisteredOut,
    StoredFaceOut,
    VerifyOut,
)
from likeness.config import Settings
from likeness.errors import InvalidInput
from likeness.media import decode_image
from likeness.services import faces as face_service
from likeness.services.people import Enrollment, FaceChoice, PeopleService, Upload
from likeness.services.videos import VideoService
from likeness.store import people as store
from likeness.store.models import Person

router = APIRouter(tags=["people"])

NOT_FOUND = {404: {"description": "No such person or face"}}
FaceIndex = Annotated[int | None, Query(ge=0, description="Which face to enroll, largest first")]
Largest = Annotated[bool, Query(description="Enroll the largest face of a group photo")]


def _person_out(session: Session, person: Person) -> PersonOut:
    return PersonOut.from_person(person, store.face_counts(session, [person.id]).get(person.id, 0))


def _find_in_videos(people: PeopleService, settings: Settings, session: Session,
                    person_id: int, enrollments: list[Enrollment]) -> None:
    """New faces: look for the person in the videos already scanned (no decoding)."""
    if any(e.created for e in enrollments):
        VideoService.from_settings(people.engine, settings).retro_match(session, person_id)


def _upload(file: UploadFile) -> Upload:
    return Upload(file.filename or "upload", file.file.read())


@router.post("/people", response_model=PersonOut, status_code=status.HTTP_201_CREATED,
             responses={409: {"description": "external_id taken"}})
def create_person(body: PersonIn, session: SessionDep) -> PersonOut:
    person = store.create_person(session, body.name, body.external_id, body.metadata)
    session.commit()
    return PersonOut.from_person(person, 0)


@router.get("/people", response_model=PeoplePage)
def list_people(session: SessionDep,
                name: Annotated[str | None, Query(description="Part of the name")] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 50,
                offset: Annotated[int, Query(ge=0)] = 0) -> PeoplePage:
    people, total = store.list_people(session, name_contains=name, limit=limit, offset=offset)
    counts = store.face_counts(session, [p.id for p in people])
    return PeoplePage(items=[PersonOut.from_person(p, counts.get(p.id, 0)) for p in people],
                      total=total, limit=limit, offset=offset)


@router.get("/people/{person_id}", response_model=PersonOut, responses=NOT_FOUND)
def get_person(person_id: int, session: SessionDep) -> PersonOut:
    return _person_out(session, store.get_person(session, person_id))


@router.patch("/people/{person_id}", response_model=PersonOut, responses=NOT_FOUND)
def update_person(person_id: int, body: PersonPatch, session: SessionDep) -> PersonOut:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name", "") is None:
        raise InvalidInput("name cannot be null")
    if "metadata" in changes:
        changes["attributes"] = changes.pop("metadata") or {}
    person = store.update_person(session, store.get_person(session, person_id), changes)
    session.commit()
    return _person_out(session, person)


@router.delete("/people/{person_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=NOT_FOUND)
def delete_person(person_id: int, session: SessionDep) -> Response:
    """The person, their faces, embeddings and crops, in one transaction."""
    store.delete_person(session, person_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/people/{person_id}/merge", response_model=MergeOut, responses=NOT_FOUND)
def merge_people(person_id: int, body: MergeIn, session: SessionDep) -> MergeOut:
    """Move `source_id`'s faces to this person and delete `source_id`."""
    moved = store.merge_people(session, person_id, body.source_id)
    session.commit()
    return MergeOut(person=_person_out(session, store.get_person(session, person_id)),
                    moved_faces=moved)


@router.post("/people/{person_id}/faces", response_model=list[EnrolledOut],
             status_code=status.HTTP_201_CREATED, responses={**IMAGE_RESPONSES, **NOT_FOUND})
def enroll_faces(person_id: int, session: SessionDep, people: PeopleDep, settings: SettingsDep,
                 files: Annotated[list[UploadFile], File(description="One or more photos")],
                 face_index: FaceIndex = None, largest: Largest = False) -> list[EnrolledOut]:
    """Enroll a face from each photo, all or nothing. Re-sending a photo is harmless."""
    enrollments = people.enroll(session, person_id, [_upload(f) for f in files],
                                FaceChoice(face_index, largest))
    _find_in_videos(people, settings, session, person_id, enrollments)
    return [EnrolledOut(face=StoredFaceOut.from_record(e.face), created=e.created)
            for e in enrollments]


@router.get("/people/{person_id}/faces", response_model=list[StoredFaceOut],
            responses=NOT_FOUND)
def list_faces(person_id: int, session: SessionDep) -> list[StoredFaceOut]:
    return [StoredFaceOut.from_record(f) for f in store.faces_of(session, person_id)]


@router.delete("/faces/{face_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_face(face_id: int, session: SessionDep) -> Response:
    store.delete_face(session, face_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/faces/{face_id}/thumbnail", response_class=Response, responses={
    200: {"content": {"image/jpeg": {}}}, **NOT_FOUND})
def face_thumbnail(face_id: int, session: SessionDep) -> Response:
    return Response(store.get_face(session, face_id).crop_jpeg, media_type="image/jpeg",
                    headers={"cache-control": "private, max-age=86400"})


@router.post("/register", response_model=RegisteredOut, status_code=status.HTTP_201_CREATED,
             responses={**IMAGE_RESPONSES, 409: {"description": "external_id taken"}})
def register(session: SessionDep, people: PeopleDep, settings: SettingsDep,
             name: Annotated[str, Form(min_length=1, max_length=200)],
             file: Annotated[UploadFile, File(description="A photo of the person")],
             external_id: Annotated[str | None, Form(max_length=200)] = None,
             face_index: FaceIndex = None, largest: Largest = False) -> RegisteredOut:
    """Create a person and enroll their face in one call (nothing is kept if it fails)."""
    person, (enrollment,) = people.register(session, name, [_upload(file)],
                                            FaceChoice(face_index, largest), external_id)
    _find_in_videos(people, settings, session, person.id, [enrollment])
    return RegisteredOut(person=PersonOut.from_person(person, 1),
                         face=StoredFaceOut.from_record(enrollment.face), created=True)


@router.post("/recognize", response_model=RecognizeOut, responses=IMAGE_RESPONSES)
def recognize(session: SessionDep, people: PeopleDep, limits: LimitsDep,
              file: Annotated[UploadFile, File(description="The photo")],
              top_k: Annotated[int, Query(ge=1, le=100)] = 5,
              match_threshold: Annotated[float | None, Query(ge=-1, le=1)] = None,
              review_threshold: Annotated[float | None, Query(ge=-1, le=1)] = None,
              max_faces: Annotated[int, Query(ge=0)] = 0) -> RecognizeOut:
    """Who is in the photo: every face with its top_k candidate people (each with the
    similarity of their best face) and a decision."""
    started = time.perf_counter()
    image = decode_image(file.file.read(), limits)
    results = people.recognize(session, image, top_k=top_k, max_faces=max_faces,
                               thresholds=people.thresholds(match_threshold, review_threshold))

    def candidate(c: store.Candidate) -> CandidateOut:
        return CandidateOut(person_id=c.person_id, name=c.name,
                            similarity=round(c.similarity, 4))

    faces = [RecognizedFaceOut(bbox=r.face.box(),
                               det_score=round(r.face.det_score, 4), decision=r.decision,
                               person=candidate(r.person) if r.person else None,
                               candidates=[candidate(c) for c in r.candidates])
             for r in results]
    return RecognizeOut(faces=faces, processing_time_ms=round(
        (time.perf_counter() - started) * 1000, 2), image_width=image.shape[1],
        image_height=image.shape[0])


@router.post("/verify", response_model=VerifyOut, responses={**IMAGE_RESPONSES, **NOT_FOUND})
def verify(session: SessionDep, people: PeopleDep, limits: LimitsDep,
           file_a: Annotated[UploadFile | None, File()] = None,
           file_b: Annotated[UploadFile | None, File()] = None,
           file: Annotated[UploadFile | None, File()] = None,
           person_id: Annotated[int | None, Form()] = None,
           threshold: Annotated[float | None, Query(ge=-1, le=1)] = None) -> VerifyOut:
    """Two photos (`file_a`, `file_b`), or a photo (`file`) and a `person_id`: the same
    person? Each photo's largest face counts; a person is judged on their closest face."""
    if file_a is not None and file_b is not None and file is None and person_id is None:
        images = [decode_image(f.file.read(), limits) for f in (file_a, file_b)]
        result = face_service.compare(people.engine, *images,
                                      threshold=people.verify_threshold_or(threshold),
                                      names=(file_a.filename or "file_a",
                                             file_b.filename or "file_b"))
    elif file is not None and person_id is not None and file_a is None and file_b is None:
        result = people.verify(session, decode_image(file.file.read(), limits), person_id,
                               threshold)
    else:
        raise InvalidInput("send either file_a and file_b, or file and person_id")
    return VerifyOut(similarity=round(result.similarity, 4), same_person=result.same_person,
                     threshold=result.threshold)
