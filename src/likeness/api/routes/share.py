"""Event share links: made by editors, opened by guests without an account. A guest sees
one event's name and, with a selfie (never stored), their photos of it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Request, Response, UploadFile, status

from likeness.api.auth import EDITOR, EditorDep
from likeness.api.deps import AccessDep, EventRecordsDep, EventsDep, SessionDep, upload_of
from likeness.api.errors import COMMON, IMAGE, declare
from likeness.api.params import path_id
from likeness.api.schemas import (
    NewShareLinkOut,
    SharedEventOut,
    SharedMatchOut,
    SharedPhotoOut,
    ShareLinkIn,
    ShareLinkOut,
)
from likeness.errors import Throttled
from likeness.ui.pages.events import guest_page

router = APIRouter(tags=["share links"], responses=COMMON)

EventId = Annotated[int, path_id("event")]
LinkId = Annotated[int, path_id("share link")]
PhotoId = Annotated[int, path_id("photo")]
Token = Annotated[str, Path(min_length=8, max_length=100, pattern="^[A-Za-z0-9_-]+$",
                            description="The link's token")]


@router.post("/events/{event_id}/share-links", response_model=NewShareLinkOut,
             status_code=status.HTTP_201_CREATED, responses=declare(404))
def create_share_link(event_id: EventId, session: SessionDep, access: AccessDep,
                      caller: EditorDep, body: ShareLinkIn) -> NewShareLinkOut:
    """A link that lets anyone who has it find their photos of this event with a selfie
    (`{}`: it expires in 30 days)."""
    new = access.create_share_link(session, event_id, body.expires_in_days, caller.label)
    return NewShareLinkOut(id=new.link.id, token=new.token, url=f"/share/{new.token}",
                           expires_at=new.link.expires_at)


@router.get("/events/{event_id}/share-links", dependencies=[EDITOR],
            response_model=list[ShareLinkOut], responses=declare(404))
def list_share_links(event_id: EventId, session: SessionDep, access: AccessDep
                     ) -> list[ShareLinkOut]:
    return [ShareLinkOut.of(link) for link in access.share_links(session, event_id)]


@router.delete("/events/{event_id}/share-links/{link_id}", dependencies=[EDITOR],
               status_code=status.HTTP_204_NO_CONTENT, responses=declare(404))
def revoke_share_link(event_id: EventId, link_id: LinkId, session: SessionDep,
                      access: AccessDep) -> Response:
    """The link stops working at once (404 for guests)."""
    access.revoke_share_link(session, event_id, link_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- guests (public)

guest = APIRouter(tags=["share links"], responses=declare(404, 422, 503))


def prefers_html(accept: str | None) -> bool:
    """Does the Accept header rank HTML above JSON (a browser opening the link)? A tie, a
    wildcard alone or no header at all: JSON, as the API always answered."""
    html = json = 0.0
    for item in (accept or "").split(","):
        kind, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        kind = kind.lower()
        if kind in ("text/html", "application/xhtml+xml"):
            html = max(html, quality)
        elif kind in ("application/json", "application/*", "*/*"):
            json = max(json, quality)
    return html > json


@guest.get("/share/{token}", response_model=SharedEventOut, responses={200: {
    "content": {"text/html": {"schema": {"type": "string"}}},
    "description": "The event's name and photo count; a browser (Accept preferring "
                   "text/html) gets the guest page, where a selfie finds its photos"}})
def shared_event(token: Token, request: Request, response: Response, session: SessionDep,
                 access: AccessDep, records: EventRecordsDep) -> SharedEventOut | Response:
    """What a share link opens: the event's name and how many photos it has. A browser
    gets the guest page instead (a link that no longer works says so there)."""
    if prefers_html(request.headers.get("accept")):
        page = guest_page(request, session, token)
        page.headers["vary"] = "Accept"
        return page
    response.headers["vary"] = "Accept"
    summary = records.get(session, access.shared_event(session, token))
    return SharedEventOut(event=summary.event.name, photos=summary.photos,
                          match_url=f"/share/{token}/match")


@guest.post("/share/{token}/match", response_model=SharedMatchOut,
            responses={**IMAGE, **declare(429)})
def shared_match(token: Token, request: Request, session: SessionDep, access: AccessDep,
                 events: EventsDep,
                 file: Annotated[UploadFile, File(description="A selfie")]) -> SharedMatchOut:
    """The event's photos of the selfie's person, best first; the selfie is not stored.
    Limited per link (Retry-After on 429)."""
    event_id = access.shared_event(session, token)
    throttle = request.app.state.share_matches
    wait = throttle.retry_after(token)
    if wait is not None:
        raise Throttled(f"too many searches with this link; wait {wait} s", retry_after=wait)
    throttle.hit(token)
    matches, _ = events.match(session, event_id, selfie=upload_of(file, "selfie").data,
                              top_k=request.app.state.settings.match_top_k)
    return SharedMatchOut(photos=[SharedPhotoOut(
        similarity=round(m.similarity, 4), image_url=f"/share/{token}/photos/{m.photo_id}")
        for m in matches])


@guest.get("/share/{token}/photos/{photo}", response_class=Response, responses={
    200: {"content": {"image/jpeg": {}, "image/png": {}},
          "description": "The photo as it was ingested (or its annotated copy)"}})
def shared_photo(token: Token, photo: PhotoId, session: SessionDep, access: AccessDep,
                 records: EventRecordsDep) -> Response:
    """A photo of the link's event, through the link."""
    data, media_type = records.photo_image(session, access.shared_event(session, token),
                                           photo)
    return Response(data, media_type=media_type,
                    headers={"cache-control": "private, max-age=3600"})
