"""People, their faces, recognition (1:N) and verification (1:1). Routes are plain `def`:
FastAPI runs them in its thread pool, off the event loop, inference and SQL alike."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status

from likeness.api.auth import EDITOR, VIEWER
from likeness.api.deps import PeopleDep, PeopleRecordsDep, SessionDep, upload_of
from likeness.api.errors import COMMON, IMAGE, declare
from likeness.api.params import Limit, Offset, path_id
from likeness.api.schemas import (
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
    page_of,
)
from likeness.api.validation import MAX_BIGINT, Text
from likeness.services.people import FaceChoice, Upload

router = APIRouter(tags=["people"], responses=COMMON)

PersonId = Annotated[int, path_id("person")]
FaceId = Annotated[int, path_id("face")]
FaceIndex = Annotated[int | None, Query(ge=0, le=1000,
                                        description="Which face to enroll, largest first")]
Largest = Annotated[bool, Query(description="Enroll the largest face of a group photo")]
Threshold = Annotated[float | None, Query(ge=-1, le=1)]


@router.post("/people", dependencies=[EDITOR],
             response_model=PersonOut, status_code=status.HTTP_201_CREATED,
             responses=declare(400, 409, 413))
def create_person(body: PersonIn, session: SessionDep, records: PeopleRecordsDep) -> PersonOut:
    return PersonOut.of(records.create(session, body.name, body.external_id, body.metadata))


@router.get("/people", dependencies=[VIEWER], response_model=PeoplePage)
def list_people(session: SessionDep, records: PeopleRecordsDep,
                name: Annotated[Text, Query(max_length=200,
                                            description="Part of the name; empty: all")] = "",
                limit: Limit = 50, offset: Offset = 0) -> PeoplePage:
    return page_of(PeoplePage, records.page(session, name_contains=name, limit=limit,
                                            offset=offset), PersonOut.of)


@router.get("/people/{person_id}", dependencies=[VIEWER],
            response_model=PersonOut, responses=declare(404))
def get_person(person_id: PersonId, session: SessionDep, records: PeopleRecordsDep) -> PersonOut:
    return PersonOut.of(records.get(session, person_id))


@router.patch("/people/{person_id}", dependencies=[EDITOR], response_model=PersonOut,
              responses=declare(400, 404, 409, 413))
def update_person(person_id: PersonId, body: PersonPatch, session: SessionDep,
                  records: PeopleRecordsDep) -> PersonOut:
    changes = body.model_dump(exclude_unset=True)
    if "metadata" in changes:
        changes["attributes"] = changes.pop("metadata")
    return PersonOut.of(records.update(session, person_id, changes))


@router.delete("/people/{person_id}", dependencies=[EDITOR], status_code=status.HTTP_204_NO_CONTENT,
               responses=declare(404))
def delete_person(person_id: PersonId, session: SessionDep, records: PeopleRecordsDep) -> Response:
    """The person, their faces, embeddings and crops, in one transaction."""
    records.delete(session, person_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/people/{person_id}/merge", dependencies=[EDITOR], response_model=MergeOut,
             responses=declare(400, 404, 409, 413))
def merge_people(person_id: PersonId, body: MergeIn, session: SessionDep,
                 records: PeopleRecordsDep) -> MergeOut:
    """Move `source_id`'s faces to this person and delete `source_id`."""
    return MergeOut.of(records.merge(session, person_id, body.source_id))


@router.post("/people/{person_id}/faces", dependencies=[EDITOR], response_model=list[EnrolledOut],
             status_code=status.HTTP_201_CREATED, responses={**IMAGE, **declare(404)})
def enroll_faces(person_id: PersonId, session: SessionDep, people: PeopleDep,
                 files: Annotated[list[UploadFile], File(description="One or more photos")],
                 face_index: FaceIndex = None, largest: Largest = False) -> list[EnrolledOut]:
    """Enroll a face from each photo, all or nothing. Re-sending a photo is harmless.
    New faces are looked for at once in the videos already scanned."""
    enrolled = people.enroll(session, person_id, [upload_of(f) for f in files],
                             FaceChoice(face_index, largest))
    return [EnrolledOut(face=StoredFaceOut.from_record(e.face), created=e.created)
            for e in enrolled.enrollments]


@router.get("/people/{person_id}/faces", dependencies=[VIEWER], response_model=list[StoredFaceOut],
            responses=declare(404))
def list_faces(person_id: PersonId, session: SessionDep, records: PeopleRecordsDep
               ) -> list[StoredFaceOut]:
    return [StoredFaceOut.from_record(f) for f in records.faces(session, person_id)]


@router.delete("/faces/{face_id}", dependencies=[EDITOR], status_code=status.HTTP_204_NO_CONTENT,
               responses=declare(404))
def delete_face(face_id: FaceId, session: SessionDep, records: PeopleRecordsDep) -> Response:
    records.delete_face(session, face_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/faces/{face_id}/thumbnail", dependencies=[VIEWER],
            response_class=Response, responses={
    200: {"content": {"image/jpeg": {}}, "description": "The face's JPEG crop"},
    **declare(404)})
def face_thumbnail(face_id: FaceId, session: SessionDep, records: PeopleRecordsDep) -> Response:
    return Response(records.face_thumbnail(session, face_id), media_type="image/jpeg",
                    headers={"cache-control": "private, max-age=86400"})


@router.post("/register", dependencies=[EDITOR],
             response_model=RegisteredOut, status_code=status.HTTP_201_CREATED,
             responses={**IMAGE, **declare(409)})
def register(session: SessionDep, people: PeopleDep,
             name: Annotated[Text, Form(min_length=1, max_length=200)],
             file: Annotated[UploadFile, File(description="A photo of the person")],
             external_id: Annotated[Text | None, Form(max_length=200)] = None,
             face_index: FaceIndex = None, largest: Largest = False) -> RegisteredOut:
    """Create a person and enroll their face in one call (nothing is kept if it fails)."""
    return RegisteredOut.of(people.register(session, name, [upload_of(file)],
                                            FaceChoice(face_index, largest), external_id))


@router.post("/recognize", dependencies=[VIEWER], response_model=RecognizeOut, responses=IMAGE)
def recognize(session: SessionDep, people: PeopleDep,
              file: Annotated[UploadFile, File(description="The photo")],
              top_k: Annotated[int, Query(ge=1, le=100)] = 5,
              match_threshold: Threshold = None, review_threshold: Threshold = None,
              max_faces: Annotated[int, Query(ge=0, le=1000)] = 0) -> RecognizeOut:
    """Who is in the photo: every face with its top_k candidate people (each with the
    similarity of their best face) and a decision."""
    result = people.recognize_photo(session, upload_of(file).data, top_k=top_k,
                                    match=match_threshold, review=review_threshold,
                                    max_faces=max_faces)
    return RecognizeOut(faces=[RecognizedFaceOut.of(r) for r in result.faces],
                        processing_time_ms=result.elapsed_ms, image_width=result.width,
                        image_height=result.height)


@router.post("/verify", dependencies=[VIEWER],
             response_model=VerifyOut, responses={**IMAGE, **declare(404)})
def verify(session: SessionDep, people: PeopleDep,
           file_a: Annotated[UploadFile | None, File()] = None,
           file_b: Annotated[UploadFile | None, File()] = None,
           file: Annotated[UploadFile | None, File()] = None,
           person_id: Annotated[int | None, Form(ge=1, le=MAX_BIGINT)] = None,
           threshold: Threshold = None) -> VerifyOut:
    """Two photos (`file_a`, `file_b`), or a photo (`file`) and a `person_id`: the same
    person? Each photo's largest face counts; a person is judged on their closest face."""
    def given(upload: UploadFile | None, field: str) -> Upload | None:
        return upload_of(upload, field) if upload is not None else None

    return VerifyOut.of(people.verify_photos(
        session, file_a=given(file_a, "file_a"), file_b=given(file_b, "file_b"),
        file=given(file, "file"),
        person_id=person_id, threshold=threshold))
