"""Events: photo ingest (upload, URL, embedding) and "find me with a selfie"; annotated
images of processed photos."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Query, Response, UploadFile, status
from fastapi.responses import JSONResponse

from likeness.api.auth import EDITOR, VIEWER, ViewerDep
from likeness.api.deps import EventRecordsDep, EventsDep, SessionDep, SettingsDep, upload_of
from likeness.api.errors import COMMON, IMAGE, declare
from likeness.api.params import Limit, Offset, path_id
from likeness.api.schemas import (
    EventIn,
    EventOut,
    EventPage,
    IngestedOut,
    MatchOut,
    PhotoMatchOut,
    PhotoOut,
    PhotoPage,
    page_of,
)
from likeness.api.validation import Text
from likeness.errors import InvalidInput
from likeness.services.events import ImageInput

router = APIRouter(tags=["events"], responses=COMMON)

EventId = Annotated[int, path_id("event")]
PhotoId = Annotated[int, path_id("photo (Likeness's id)")]
MAX_EMBEDDING_TEXT = 64 * 1024  # 512 numbers written out in JSON


def _embedding(text: str, field: str) -> list[float]:
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{field} must be a JSON array of numbers: {exc}") from None
    if not isinstance(values, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise InvalidInput(f"{field} must be a JSON array of numbers")
    return values


@router.post("/events", dependencies=[EDITOR],
             response_model=EventOut, status_code=status.HTTP_201_CREATED,
             responses=declare(400, 413))
def create_event(body: EventIn, session: SessionDep, records: EventRecordsDep) -> EventOut:
    return EventOut.of(records.create(session, body.name, body.metadata))


@router.get("/events", response_model=EventPage)
def list_events(session: SessionDep, records: EventRecordsDep, caller: ViewerDep,
                limit: Limit = 50, offset: Offset = 0) -> EventPage:
    """The events, or only its own for an event-limited key."""
    return page_of(EventPage, records.page(session, limit=limit, offset=offset,
                                           only=caller.event_id), EventOut.of)


@router.get("/events/{event_id}", dependencies=[VIEWER],
            response_model=EventOut, responses=declare(404))
def get_event(event_id: EventId, session: SessionDep, records: EventRecordsDep) -> EventOut:
    return EventOut.of(records.get(session, event_id))


@router.delete("/events/{event_id}", dependencies=[EDITOR], status_code=status.HTTP_204_NO_CONTENT,
               responses=declare(404))
def delete_event(event_id: EventId, session: SessionDep, records: EventRecordsDep
                 ) -> Response:
    """The event, its photos, their faces and embeddings, and their stored files."""
    records.delete_event(session, event_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/events/{event_id}/photos", dependencies=[EDITOR], response_model=IngestedOut,
             status_code=status.HTTP_201_CREATED,
             responses={**IMAGE, **declare(404, 409),
                        200: {"model": IngestedOut,
                              "description": "The event already held this photo_id"},
                        202: {"model": IngestedOut,
                              "description": "image_url: the download is queued"}})
def ingest_photo(
        event_id: EventId, session: SessionDep, records: EventRecordsDep,
        events: EventsDep,
        photo_id: Annotated[Text, Form(min_length=1, max_length=500, description=(
            "Your id of the photo: ingest is idempotent on it"))],
        file: UploadFile | None = None,
        image_url: Annotated[Text | None, Form(max_length=4096,
                                               description="http(s) URL to download")]
        = None,
        embedding: Annotated[Text | None, Form(max_length=MAX_EMBEDDING_TEXT, description=(
            "A face embedding computed elsewhere: JSON array of 512 numbers"))] = None
) -> JSONResponse:
    """Add a photo and every face in it: an upload (201), an image URL downloaded by a
    job (202, status pending), or one precomputed embedding (201). A photo_id the event
    already holds is returned as it is (200)."""
    if sum(x is not None for x in (file, image_url, embedding)) != 1:
        raise InvalidInput("send exactly one of file, image_url and embedding")
    if image_url is not None:
        ingested = records.request_url(session, event_id, photo_id, image_url)
    elif embedding is not None:
        ingested = events.ingest_embedding(session, event_id, photo_id,
                                           _embedding(embedding, "embedding"))
    else:
        assert file is not None
        (ingested,) = events.ingest_images(session, event_id, [
            ImageInput(photo_id, upload_of(file).data)])
    code = 202 if ingested.job_id is not None else 201 if ingested.created else 200
    return JSONResponse(IngestedOut.of(ingested).model_dump(mode="json"), status_code=code)


@router.get("/events/{event_id}/photos", dependencies=[VIEWER],
            response_model=PhotoPage, responses=declare(404))
def list_photos(event_id: EventId, session: SessionDep, records: EventRecordsDep,
                limit: Limit = 50, offset: Offset = 0) -> PhotoPage:
    return page_of(PhotoPage, records.photos(session, event_id, limit=limit, offset=offset),
                   PhotoOut.of)


@router.get("/events/{event_id}/photos/{photo}", dependencies=[VIEWER], response_model=PhotoOut,
            responses=declare(404))
def get_photo(event_id: EventId, photo: PhotoId, session: SessionDep,
              records: EventRecordsDep) -> PhotoOut:
    return PhotoOut.of(records.photo(session, event_id, photo))


@router.delete("/events/{event_id}/photos/{photo}", dependencies=[EDITOR],
               status_code=status.HTTP_204_NO_CONTENT,
               responses=declare(404))
def delete_photo(event_id: EventId, photo: PhotoId, session: SessionDep,
                 records: EventRecordsDep) -> Response:
    records.delete_photo(session, event_id, photo)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/events/{event_id}/match", dependencies=[VIEWER], response_model=MatchOut,
             responses={**IMAGE, **declare(404)})
def match(event_id: EventId, session: SessionDep, events: EventsDep, settings: SettingsDep,
          file: UploadFile | None = None,
          user_embedding: Annotated[Text | None, Form(
              max_length=MAX_EMBEDDING_TEXT, description="JSON array of 512 numbers")]
          = None,
          top_k: Annotated[int | None, Query(ge=1, le=1000, description="Default: "
                                             "LIKENESS_MATCH_TOP_K (20)")] = None,
          threshold: Annotated[float | None, Query(ge=-1, le=1, description="Default: the "
                                                   "pack's verify threshold")] = None
          ) -> MatchOut:
    """The event's photos holding the selfie's person (its largest face) or the person
    of user_embedding, best first, each once, with its best face's box."""
    matches, used = events.match(
        session, event_id, selfie=upload_of(file).data if file is not None else None,
        embedding=_embedding(user_embedding, "user_embedding")
        if user_embedding is not None else None,
        top_k=top_k or settings.match_top_k, threshold=threshold)
    return MatchOut(threshold=used, matches=[PhotoMatchOut.of(m) for m in matches])


@router.get("/photos/{photo}/annotated", dependencies=[VIEWER], response_class=Response, responses={
    200: {"content": {"image/jpeg": {}}, "description": "The annotated JPEG"},
    **declare(404)})
def get_annotated(photo: PhotoId, session: SessionDep, records: EventRecordsDep) -> Response:
    """The annotated copy of a photo processed with ProcessPhoto, from whichever storage
    backend holds it."""
    return Response(records.annotated_image(session, photo), media_type="image/jpeg")
