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


@guest.get("/share/{token}", response_model=SharedEventOut)
def shared_event(token: Token, session: SessionDep, access: AccessDep,
                 records: EventRecordsDep) -> SharedEventOut:
    """What a share link opens: the event's name and how many photos it has."""
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
