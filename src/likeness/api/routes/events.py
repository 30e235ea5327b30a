"""Events: photo ingest (upload, URL, embedding) and "find me with a selfie"; annotated
images of processed photos."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse

from likeness.api.deps import EngineDep, SessionDep, SettingsDep
from likeness.api.errors import IMAGE_RESPONSES
from likeness.api.schemas import (
    EventIn,
    EventOut,
    EventPage,
    IngestedOut,
    MatchOut,
    PhotoFaceOut,
    PhotoMatchOut,
    PhotoOut,
    PhotoPage,
)
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.errors import InvalidInput
from likeness.services.events import EventService, ImageInput
from likeness.services.processing import annotated_image
from likeness.store import events as store
from likeness.store.models import Event, Photo, PhotoFace

router = APIRouter(tags=["events"])

NOT_FOUND = {404: {"description": "No such event or photo"}}


def _service(request: Request, engine: FaceEngine, settings: Settings) -> EventService:
    return EventService.from_settings(engine, request.app.state.storage, settings)


def _event_out(event: Event, counts: tuple[int, int]) -> EventOut:
    photos, faces = counts
    return EventOut(id=event.id, name=event.name, metadata=event.attributes,
                    created_at=event.created_at, photos=photos, faces=faces)


def photo_out(photo: Photo, faces: Sequence[PhotoFace]) -> PhotoOut:
    return PhotoOut(id=photo.id, photo_id=photo.photo_key, event_id=photo.event_id,
                    source=photo.source, source_url=photo.source_url, status=photo.status,
                    error=photo.error, width=photo.width, height=photo.height,
                    created_at=photo.created_at,
                    faces=[PhotoFaceOut(id=f.id, bbox=f.bbox, det_score=f.det_score)
                           for f in faces])


def _embedding(text: str, field: str) -> list[float]:
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{field} must be a JSON array of numbers: {exc}") from None
    if not isinstance(values, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise InvalidInput(f"{field} must be a JSON array of numbers")
    return values


@router.post("/events", response_model=EventOut, status_code=status.HTTP_201_CREATED)
def create_event(body: EventIn, session: SessionDep) -> EventOut:
    event = store.create_event(session, body.name, body.metadata)
    session.commit()
    return _event_out(event, (0, 0))


@router.get("/events", response_model=EventPage)
def list_events(session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                offset: Annotated[int, Query(ge=0)] = 0) -> EventPage:
    events, total = store.list_events(session, limit=limit, offset=offset)
    counts = store.event_counts(session, [e.id for e in events])
    return EventPage(items=[_event_out(e, counts[e.id]) for e in events], total=total,
                     limit=limit, offset=offset)


@router.get("/events/{event_id}", response_model=EventOut, responses=NOT_FOUND)
def get_event(event_id: int, session: SessionDep) -> EventOut:
    return _event_out(store.get_event(session, event_id),
                      store.event_counts(session, [event_id])[event_id])


@router.delete("/events/{event_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=NOT_FOUND)
def delete_event(event_id: int, request: Request, session: SessionDep, engine: EngineDep,
                 settings: SettingsDep) -> Response:
    """The event, its photos, their faces and embeddings, and their stored files."""
    _service(request, engine, settings).delete_event(session, event_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/events/{event_id}/photos", response_model=IngestedOut,
             status_code=status.HTTP_201_CREATED,
             responses={**IMAGE_RESPONSES, **NOT_FOUND,
                        200: {"description": "The event already held this photo_id"},
                        202: {"description": "image_url: the download is queued"}})
def ingest_photo(
        event_id: int, request: Request, session: SessionDep, engine: EngineDep,
        settings: SettingsDep,
        photo_id: Annotated[str, Form(description="Your id of the photo: ingest is "
                                                  "idempotent on it")],
        file: UploadFile | None = None,
        image_url: Annotated[str | None, Form(description="http(s) URL to download")] = None,
        embedding: Annotated[str | None, Form(description="A face embedding computed "
                                                          "elsewhere: JSON array of 512 "
                                                          "numbers")] = None) -> JSONResponse:
    """Add a photo and every face in it: an upload (201), an image URL downloaded by a
    job (202, status pending), or one precomputed embedding (201). A photo_id the event
    already holds is returned as it is (200)."""
    if sum(x is not None for x in (file, image_url, embedding)) != 1:
        raise InvalidInput("send exactly one of file, image_url and embedding")
    service = _service(request, engine, settings)
    job_id = None
    if file is not None:
        ingested = service.ingest_images(session, event_id, [
            ImageInput(photo_id, file.file.read())])[0]
        photo, faces, created = ingested.photo, ingested.faces, ingested.created
    elif embedding is not None:
        ingested = service.ingest_embedding(session, event_id, photo_id,
                                            _embedding(embedding, "embedding"))
        photo, faces, created = ingested.photo, ingested.faces, ingested.created
    else:
        photo, queue = service.request_url(session, event_id, photo_id, image_url or "")
        faces, created = store.faces_of_photos(session, [photo.id])[photo.id], queue
        if queue:
            job_id = request.app.state.jobs.defer_photo_url(photo.id)
    code = 202 if job_id is not None else 201 if created else 200
    body = IngestedOut(photo=photo_out(photo, faces), created=created, job_id=job_id)
    return JSONResponse(body.model_dump(mode="json"), status_code=code)


@router.get("/events/{event_id}/photos", response_model=PhotoPage, responses=NOT_FOUND)
def list_photos(event_id: int, session: SessionDep,
                limit: Annotated[int, Query(ge=1, le=500)] = 50,
                offset: Annotated[int, Query(ge=0)] = 0) -> PhotoPage:
    store.get_event(session, event_id)
    photos, total = store.list_photos(session, event_id, limit=limit, offset=offset)
    faces = store.faces_of_photos(session, [p.id for p in photos])
    return PhotoPage(items=[photo_out(p, faces[p.id]) for p in photos], total=total,
                     limit=limit, offset=offset)


@router.get("/events/{event_id}/photos/{photo}", response_model=PhotoOut,
            responses=NOT_FOUND)
def get_photo(event_id: int, photo: int, session: SessionDep) -> PhotoOut:
    stored = store.get_photo(session, photo, event_id=event_id)
    return photo_out(stored, store.faces_of_photos(session, [stored.id])[stored.id])


@router.delete("/events/{event_id}/photos/{photo}", status_code=status.HTTP_204_NO_CONTENT,
               responses=NOT_FOUND)
def delete_photo(event_id: int, photo: int, request: Request, session: SessionDep,
                 engine: EngineDep, settings: SettingsDep) -> Response:
    _service(request, engine, settings).delete_photo(session, event_id, photo)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/events/{event_id}/match", response_model=MatchOut,
             responses={**IMAGE_RESPONSES, **NOT_FOUND})
def match(event_id: int, request: Request, session: SessionDep, engine: EngineDep,
          settings: SettingsDep, file: UploadFile | None = None,
          user_embedding: Annotated[str | None, Form(description="JSON array of 512 "
                                                                 "numbers")] = None,
          top_k: Annotated[int | None, Query(ge=1, le=1000, description="Default: "
                                             "LIKENESS_MATCH_TOP_K (20)")] = None,
          threshold: Annotated[float | None, Query(ge=-1, le=1, description="Default: the "
                                                   "pack's verify threshold")] = None
          ) -> MatchOut:
    """The event's photos holding the selfie's person (its largest face) or the person
    of user_embedding, best first, each once, with its best face's box."""
    matches, used = _service(request, engine, settings).match(
        session, event_id, selfie=file.file.read() if file is not None else None,
        embedding=_embedding(user_embedding, "user_embedding")
        if user_embedding is not None else None,
        top_k=top_k or settings.match_top_k, threshold=threshold)
    return MatchOut(threshold=used, matches=[PhotoMatchOut(
        photo=m.photo_id, photo_id=m.photo_key, similarity=round(m.similarity, 5),
        bbox=m.bbox) for m in matches])


@router.get("/photos/{photo}/annotated", response_class=Response, responses={
    200: {"content": {"image/jpeg": {}}, "description": "The annotated JPEG"},
    **NOT_FOUND, 503: {"description": "The object storage is unreachable"}})
def get_annotated(photo: int, request: Request, session: SessionDep) -> Response:
    """The annotated copy of a photo processed with ProcessPhoto, from whichever storage
    backend holds it."""
    return Response(annotated_image(session, request.app.state.storage, photo),
                    media_type="image/jpeg")
