"""The cameras page: the camera streams the workers watch, each with its status, last frame,
last error and the people last seen on it; editors add and remove cameras. Below, the
recent sightings, filtered by camera, person and decision. Both parts poll while the page
is open, so a new arrival shows within seconds."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BeforeValidator

from likeness.api.deps import get_stream_records
from likeness.api.params import Offset, path_id
from likeness.api.validation import BigId, Text
from likeness.enums import Decision
from likeness.services.streams import DEFAULT_FPS, MAX_FPS, StreamRecords
from likeness.ui.web import DbSession, EditorUser, ViewerUser, page

router = APIRouter(include_in_schema=False)

Records = Annotated[StreamRecords, Depends(get_stream_records)]
StreamId = Annotated[int, path_id("stream")]


def _blank_is_none(value: object) -> object:
    """A filter form sends its "any" choices as empty values."""
    return None if value == "" else value


FilterId = Annotated[BigId | None, BeforeValidator(_blank_is_none), Query()]
DecisionFilter = Annotated[Decision | None, BeforeValidator(_blank_is_none), Query()]
PATH = "/ui/cameras"
STREAMS_SHOWN = 100
SIGHTINGS_PER_PAGE = 24
POLL_S = 3


def _filters(stream_id: int | None, person_id: int | None, decision: Decision | None
             ) -> dict[str, Any]:
    return {key: value for key, value in (("stream_id", stream_id), ("person_id", person_id),
                                          ("decision", decision)) if value is not None}


def _sightings(session: DbSession, records: StreamRecords,
               stream_id: int | None, person_id: int | None, decision: Decision | None,
               offset: int) -> dict[str, Any]:
    """What the sightings part shows, with the query that draws it again."""
    filters = _filters(stream_id, person_id, decision)
    found = records.sightings(session, **filters, limit=SIGHTINGS_PER_PAGE, offset=offset)
    return {"sightings": found, "filters": filters,
            "query": urlencode({**filters, **({"offset": offset} if offset else {})}),
            "older": urlencode({**filters, "offset": offset + SIGHTINGS_PER_PAGE})
            if offset + SIGHTINGS_PER_PAGE < found.total else None,
            "newer": urlencode({**filters, "offset": max(0, offset - SIGHTINGS_PER_PAGE)})
            if offset > 0 else None, "poll_s": POLL_S}


@router.get(PATH, response_class=HTMLResponse)
def streams_page(request: Request, session: DbSession, caller: ViewerUser, records: Records,
                 stream_id: FilterId = None, person_id: FilterId = None,
                 decision: DecisionFilter = None, offset: Offset = 0
                 ) -> HTMLResponse:
    return page(request, "streams.html", caller,
                streams=records.page(session, limit=STREAMS_SHOWN),
                people=records.sighted_people(session), decisions=list(Decision),
                default_fps=DEFAULT_FPS, max_fps=MAX_FPS,
                **_sightings(session, records, stream_id, person_id, decision,
                             offset))


@router.get(f"{PATH}/list", response_class=HTMLResponse)
def stream_list(request: Request, session: DbSession, caller: ViewerUser, records: Records
                ) -> HTMLResponse:
    """The cameras alone, polled."""
    return page(request, "_streams_list.html", caller,
                streams=records.page(session, limit=STREAMS_SHOWN), poll_s=POLL_S)


@router.get(f"{PATH}/sightings", response_class=HTMLResponse)
def sightings(request: Request, session: DbSession, caller: ViewerUser, records: Records,
              stream_id: FilterId = None, person_id: FilterId = None,
              decision: DecisionFilter = None, offset: Offset = 0
              ) -> HTMLResponse:
    """The sightings alone: polled, or drawn again for new filters (the address bar
    follows them, so that a reload keeps them)."""
    shown = _sightings(session, records, stream_id, person_id, decision, offset)
    response = page(request, "_streams_sightings.html", caller, **shown)
    response.headers["HX-Replace-Url"] = f"{PATH}?{shown['query']}" if shown["query"] \
        else PATH
    return response


@router.post(PATH, response_class=HTMLResponse)
def add_stream(request: Request, session: DbSession, caller: EditorUser, records: Records,
               name: Annotated[Text, Form(max_length=200)],
               url: Annotated[Text, Form(max_length=2048)],
               fps: Annotated[float | None, Form()] = None) -> HTMLResponse:
    """A camera added (its job queued): the list drawn again, with a word above it."""
    added = records.add(session, name, url, fps)
    return page(request, "_streams_list.html", caller,
                streams=records.page(session, limit=STREAMS_SHOWN), poll_s=POLL_S,
                flash={"kind": "ok", "message": f"Added {added.stream.name}: a worker "
                                                "starts reading it within seconds."})


@router.delete(PATH + "/{stream_id}")
def delete_stream(session: DbSession, caller: EditorUser, records: Records,
                  stream_id: StreamId) -> Response:
    """The stream and its sightings: the page again, without them."""
    records.delete(session, stream_id)
    return Response(status_code=204, headers={"HX-Redirect": PATH})
