"""The people pages: the list (portraits, face counts, search as you type, pages), a
person's page (their faces with quality, adding photos, removing a face, renaming,
merging another person in, deleting them, the videos they are tagged in)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from likeness.api.deps import get_people, get_video_records, upload_of
from likeness.api.params import Offset, path_id
from likeness.api.validation import Text
from likeness.errors import InvalidInput, NotFound
from likeness.services.access import Caller
from likeness.services.faces import QualityGate
from likeness.services.people import FaceChoice, PeopleRecords, PeopleService
from likeness.services.videos import RetroResult, VideoRecords
from likeness.ui.web import DbSession, EditorUser, ViewerUser, page

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 48  # a full grid at 2, 3, 4, 6 or 8 columns
VIDEOS_SHOWN = 200  # of the videos a person is tagged in
SUGGESTIONS = 8  # people offered for a merge

PersonId = Annotated[int, path_id("person")]
FaceId = Annotated[int, path_id("face")]
Records = Annotated[PeopleRecords, Depends(PeopleRecords)]
People = Annotated[PeopleService, Depends(get_people)]
Videos = Annotated[VideoRecords, Depends(get_video_records)]
Name = Annotated[Text, Form(max_length=200)]
Search = Annotated[Text, Query(max_length=200)]


def _name(value: str) -> str:
    name = value.strip()
    if not name:
        raise InvalidInput("the name cannot be empty")
    return name


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one uploaded photo."""

    name: str
    ok: bool
    message: str
    group: bool = False  # refused as a group photo: the largest face may be taken


# ---------------------------------------------------------------- the list

def _list_context(session: DbSession, records: PeopleRecords, q: str, offset: int) -> dict:
    found = records.page(session, name_contains=q.strip(), limit=PAGE_SIZE, offset=offset)
    portraits = records.portraits(session, [s.person.id for s in found.items])

    def link(to: int) -> str:
        query = {"q": q, "offset": to} if q else {"offset": to}
        return "/ui/people?" + urlencode(query)

    previous = link(max(0, offset - PAGE_SIZE)) if offset > 0 else None
    following = link(offset + PAGE_SIZE) if offset + PAGE_SIZE < found.total else None
    return {"found": found, "portraits": portraits, "q": q, "previous": previous,
            "following": following}


@router.get("/ui/people", response_class=HTMLResponse)
def people_list(request: Request, session: DbSession, caller: ViewerUser, records: Records,
                q: Search = "", offset: Offset = 0) -> HTMLResponse:
    context = _list_context(session, records, q, offset)
    if request.headers.get("HX-Target") == "people-list":  # a search or another page
        return page(request, "_people_list.html", caller, **context)
    return page(request, "people.html", caller, **context)


@router.post("/ui/people")
def create_person(session: DbSession, caller: EditorUser, records: Records,
                  name: Name) -> Response:
    created = records.create(session, _name(name))
    return Response(status_code=204,
                    headers={"HX-Redirect": f"/ui/people/{created.person.id}"})


# ---------------------------------------------------------------- one person

@router.get("/ui/people/{person_id}", response_class=HTMLResponse)
def person_page(request: Request, person_id: PersonId, session: DbSession,
                caller: ViewerUser, records: Records, videos: Videos,
                moved: Annotated[int | None, Query(ge=0, le=2**31)] = None) -> HTMLResponse:
    summary = records.get(session, person_id)
    faces = records.faces(session, person_id)
    _, tags = videos.videos_of(session, person_id)
    return page(request, "people_person.html", caller, person=summary.person, faces=faces,
                tags=tags[:VIDEOS_SHOWN], more_videos=max(0, len(tags) - VIDEOS_SHOWN),
                moved=moved, gate=_gate(request), outcomes=[])


def _gate(request: Request) -> QualityGate:
    return QualityGate.from_settings(request.app.state.settings)


def _faces(request: Request, caller: Caller, session: DbSession, records: PeopleRecords,
           person_id: int, outcomes: list[Outcome], found: RetroResult | None = None
           ) -> HTMLResponse:
    """The faces section, after a change."""
    person = records.get(session, person_id).person
    return page(request, "_people_faces.html", caller, person=person,
                faces=records.faces(session, person_id), outcomes=outcomes, found=found,
                gate=_gate(request))


@router.post("/ui/people/{person_id}/faces", response_class=HTMLResponse)
def add_photos(request: Request, person_id: PersonId, session: DbSession,
               caller: EditorUser, records: Records, people: People,
               files: Annotated[list[UploadFile], File()],
               largest: Annotated[bool, Form()] = False) -> HTMLResponse:
    """Each photo is enrolled on its own, so that one refused photo (no face, too small,
    a group) does not keep the others out; each says what became of it."""
    report = people.enroll_photos(session, person_id, [upload_of(f) for f in files],
                                  FaceChoice(largest=largest))
    outcomes = [Outcome(v.name, v.stored, v.detail,
                        group=not v.stored and "face_index" in v.detail)
                for v in report.verdicts]
    return _faces(request, caller, session, records, person_id, outcomes, report.found)


@router.delete("/ui/people/{person_id}/faces/{face_id}", response_class=HTMLResponse)
def remove_face(request: Request, person_id: PersonId, face_id: FaceId, session: DbSession,
                caller: EditorUser, records: Records) -> HTMLResponse:
    if face_id not in {f.id for f in records.faces(session, person_id)}:
        raise NotFound(f"face {face_id} is not one of this person's")
    records.delete_face(session, face_id)
    return _faces(request, caller, session, records, person_id, [])


@router.post("/ui/people/{person_id}/name", response_class=HTMLResponse)
def rename(request: Request, person_id: PersonId, session: DbSession, caller: EditorUser,
           records: Records, name: Name) -> HTMLResponse:
    summary = records.update(session, person_id, {"name": _name(name)})
    return page(request, "_people_head.html", caller, person=summary.person, renamed=True)


@router.get("/ui/people/{person_id}/merge", response_class=HTMLResponse)
def merge_candidates(request: Request, person_id: PersonId, session: DbSession,
                     caller: EditorUser, records: Records, q: Search = "") -> HTMLResponse:
    """People whose name contains `q`, to merge into this one."""
    found = records.page(session, name_contains=q.strip(), limit=SUGGESTIONS + 1) \
        if q.strip() else None
    others = [s for s in found.items if s.person.id != person_id][:SUGGESTIONS] \
        if found else []
    portraits = records.portraits(session, [s.person.id for s in others])
    return page(request, "_people_merge.html", caller, person_id=person_id, others=others,
                portraits=portraits, q=q)


@router.post("/ui/people/{person_id}/merge")
def merge(person_id: PersonId, session: DbSession, caller: EditorUser, records: Records,
          source_id: Annotated[int, Form(ge=1, lt=2**63)]) -> Response:
    merged = records.merge(session, person_id, source_id)
    return Response(status_code=204, headers={
        "HX-Redirect": f"/ui/people/{person_id}?moved={merged.moved_faces}"})


@router.delete("/ui/people/{person_id}")
def delete_person(person_id: PersonId, session: DbSession, caller: EditorUser,
                  records: Records) -> Response:
    records.delete(session, person_id)
    return Response(status_code=204, headers={"HX-Redirect": "/ui/people"})
