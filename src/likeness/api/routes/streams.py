"""Camera streams (run by the workers) and the sightings recorded on them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from likeness.api.auth import EDITOR, VIEWER
from likeness.api.deps import SessionDep, StreamRecordsDep
from likeness.api.errors import COMMON, declare
from likeness.api.params import Limit, Offset, path_id
from likeness.api.schemas import (
    SightingOut,
    SightingPage,
    StreamIn,
    StreamOut,
    StreamPage,
    page_of,
)
from likeness.api.validation import MAX_BIGINT, IsoDateTime
from likeness.enums import Decision

router = APIRouter(tags=["streams"], responses=COMMON)

StreamId = Annotated[int, path_id("stream")]
SightingId = Annotated[int, path_id("sighting")]


@router.post("/streams", dependencies=[EDITOR], response_model=StreamOut,
             status_code=status.HTTP_201_CREATED, responses=declare(400, 403))
def add_stream(body: StreamIn, session: SessionDep, records: StreamRecordsDep) -> StreamOut:
    """Add a camera: a worker with a free stream slot starts reading it (status starting,
    then up). RTSP may name any address; http(s) URLs must resolve to public addresses
    unless LIKENESS_FETCH_ALLOW_PRIVATE; server files need LIKENESS_ALLOW_SERVER_PATHS
    (403 without)."""
    return StreamOut.of(records.add(session, body.name, body.url, body.fps))


@router.get("/streams", dependencies=[VIEWER], response_model=StreamPage)
def list_streams(session: SessionDep, records: StreamRecordsDep, limit: Limit = 50,
                 offset: Offset = 0) -> StreamPage:
    """Streams with their status, frames analysed, last frame time, error, and the people
    last seen on each."""
    return page_of(StreamPage, records.page(session, limit=limit, offset=offset),
                   StreamOut.of)


@router.get("/streams/{stream_id}", dependencies=[VIEWER], response_model=StreamOut,
            responses=declare(404))
def get_stream(stream_id: StreamId, session: SessionDep, records: StreamRecordsDep
               ) -> StreamOut:
    return StreamOut.of(records.get(session, stream_id))


@router.delete("/streams/{stream_id}", dependencies=[EDITOR],
               status_code=status.HTTP_204_NO_CONTENT, responses=declare(404))
def delete_stream(stream_id: StreamId, session: SessionDep, records: StreamRecordsDep
                  ) -> Response:
    """The stream and its sightings; its worker stops reading it within a second."""
    records.delete(session, stream_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sightings", dependencies=[VIEWER], response_model=SightingPage)
def list_sightings(
    session: SessionDep, records: StreamRecordsDep,
    stream_id: Annotated[int | None, Query(ge=1, le=MAX_BIGINT,
                                           description="Only this stream's")] = None,
    person_id: Annotated[int | None, Query(ge=1, le=MAX_BIGINT,
                                           description="Only this person's")] = None,
    decision: Annotated[Decision | None, Query(description="match, review or unknown")]
    = None,
    since: Annotated[IsoDateTime | None, Query(description=(
        "Only those seen at or after this time (ISO 8601; without a zone: UTC)"))] = None,
    limit: Limit = 50, offset: Offset = 0,
) -> SightingPage:
    """Faces seen on the cameras, most recently seen first: who (or an unknown face),
    where, from when to when, how often, and the best crop."""
    return page_of(SightingPage, records.sightings(
        session, stream_id=stream_id, person_id=person_id, decision=decision,
        since=since, limit=limit, offset=offset), SightingOut.of)


@router.get("/sightings/{sighting_id}/thumbnail", dependencies=[VIEWER],
            response_class=Response, responses={
    200: {"content": {"image/jpeg": {}}, "description": "The sighting's best face"},
    **declare(404)})
def sighting_thumbnail(sighting_id: SightingId, session: SessionDep,
                       records: StreamRecordsDep) -> Response:
    return Response(records.sighting_thumbnail(session, sighting_id), media_type="image/jpeg",
                    headers={"cache-control": "private, max-age=60"})
