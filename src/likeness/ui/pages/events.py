"""The events pages: the list and a new event; an event's page (upload photos, one request
per photo; its photos with their faces; its clusters of guests; share links with a QR
code); and the guest page a share link opens, where a guest finds their photos with a
selfie. Guests see nothing else of the system."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import segno
from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from likeness.api.deps import get_clusters, get_event_records, get_events, upload_of
from likeness.api.params import Offset, path_id
from likeness.api.validation import Text
from likeness.enums import ClusterStatus, Role
from likeness.errors import InvalidInput, NoFaceFound, NotFound
from likeness.services.access import AccessService, Caller
from likeness.services.clusters import ClusterService
from likeness.services.events import EventRecords, EventService, ImageInput
from likeness.store.models import ShareLink
from likeness.ui.pages.clusters import event_card
from likeness.ui.web import DbSession, EditorUser, ViewerUser, page

router = APIRouter(include_in_schema=False)

EVENTS_PAGE = 25
PHOTOS_PAGE = 24  # a full grid at 1, 2, 3, 4 or 6 columns
CLUSTERS_PAGE = 12
CLUSTER_FACES = 12
CLUSTER_POLLS = 6  # after an upload, the clusters are looked at again this many times
POLL_S = 2

EventId = Annotated[int, path_id("event")]
PhotoId = Annotated[int, path_id("photo")]
FaceId = Annotated[int, path_id("face")]
LinkId = Annotated[int, path_id("share link")]
Token = Annotated[str, Path(min_length=8, max_length=100, pattern="^[A-Za-z0-9_-]+$")]
Records = Annotated[EventRecords, Depends(get_event_records)]
Events = Annotated[EventService, Depends(get_events)]
Clusters = Annotated[ClusterService, Depends(get_clusters)]
EXPIRY_CHOICES = [("1", "1 day"), ("7", "1 week"), ("30", "30 days"), ("365", "1 year"),
                  ("never", "never")]


def _access(request: Request) -> AccessService:
    return request.app.state.access


Access = Annotated[AccessService, Depends(_access)]


# ---------------------------------------------------------------- the list

@router.get("/ui/events", response_class=HTMLResponse)
def events_page(request: Request, session: DbSession, caller: ViewerUser, records: Records,
                offset: Offset = 0) -> HTMLResponse:
    found = records.page(session, limit=EVENTS_PAGE, offset=offset, only=caller.event_id)
    return page(request, "events.html", caller, found=found,
                previous=f"/ui/events?offset={max(0, offset - EVENTS_PAGE)}"
                if offset > 0 else None,
                following=f"/ui/events?offset={offset + EVENTS_PAGE}"
                if offset + EVENTS_PAGE < found.total else None)


@router.post("/ui/events")
def create_event(session: DbSession, caller: EditorUser, records: Records,
                 name: Annotated[Text, Form(max_length=200)]) -> Response:
    if not name.strip():
        raise InvalidInput("give the event a name")
    created = records.create(session, name.strip())
    return Response(status_code=204, headers={"HX-Redirect": f"/ui/events/{created.event.id}"})


# ---------------------------------------------------------------- one event

@router.get("/ui/events/{event_id}", response_class=HTMLResponse)
def event_page(request: Request, event_id: EventId, session: DbSession, caller: ViewerUser,
               records: Records, clusters: Clusters, access: Access) -> HTMLResponse:
    summary = records.get(session, event_id)
    context = {**_photos(session, records, event_id, 0),
               **_clusters(session, clusters, event_id, False, 0, 0),
               **_links(session, access, caller, event_id)}
    return page(request, "events_event.html", caller, summary=summary,
                max_upload=request.app.state.settings.max_upload_bytes, polls=CLUSTER_POLLS,
                **context)


def _photos(session: Session, records: EventRecords, event_id: int, offset: int) -> dict:
    photos = records.photos(session, event_id, limit=PHOTOS_PAGE, offset=offset)
    base = f"/ui/events/{event_id}/photos?offset="
    return {"photos": photos, "event_id": event_id,
            "photos_previous": base + str(max(0, offset - PHOTOS_PAGE)) if offset else None,
            "photos_following": base + str(offset + PHOTOS_PAGE)
            if offset + PHOTOS_PAGE < photos.total else None}


@router.get("/ui/events/{event_id}/photos", response_class=HTMLResponse)
def photos_part(request: Request, event_id: EventId, session: DbSession, caller: ViewerUser,
                records: Records, offset: Offset = 0) -> HTMLResponse:
    """A page of the photos; after an upload, the event's counts too."""
    return page(request, "_events_photos.html", caller, oob_counts=True,
                summary=records.get(session, event_id),
                **_photos(session, records, event_id, offset))


@router.post("/ui/events/{event_id}/photos", response_class=HTMLResponse)
def upload_photo(request: Request, event_id: EventId, session: DbSession,
                 caller: EditorUser, events: Events,
                 file: Annotated[UploadFile, File()]) -> HTMLResponse:
    """One photo (the page sends each on its own, showing its progress); its file name
    is its photo id in the event, so sending it again changes nothing."""
    upload = upload_of(file, "photo")
    (ingested,) = events.ingest_images(session, event_id, [ImageInput(upload.name,
                                                                      upload.data)])
    return page(request, "_events_uploaded.html", caller, ingested=ingested)


@router.get("/ui/events/{event_id}/photos/{photo_id}/image")
def photo_image(event_id: EventId, photo_id: PhotoId, session: DbSession,
                caller: ViewerUser, records: Records) -> Response:
    data, media_type = records.photo_image(session, event_id, photo_id)
    return Response(data, media_type=media_type,
                    headers={"cache-control": "private, max-age=86400"})


@router.get("/ui/events/{event_id}/photos/{photo_id}/faces/{face_id}")
def photo_face(event_id: EventId, photo_id: PhotoId, face_id: FaceId, session: DbSession,
               caller: ViewerUser, records: Records) -> Response:
    """A face's crop: what the page shows of a photo whose image is not kept."""
    entry = records.photo(session, event_id, photo_id)
    crop = next((f.crop_jpeg for f in entry.faces if f.id == face_id), None)
    if crop is None:
        raise NotFound(f"photo {photo_id} has no face {face_id} with an image")
    return Response(crop, media_type="image/jpeg",
                    headers={"cache-control": "private, max-age=86400"})


def _clusters(session: Session, clusters: ClusterService, event_id: int, hidden: bool,
              offset: int, poll: int) -> dict:
    found = clusters.page_with_faces(
        session, event_id, status=ClusterStatus.HIDDEN if hidden else ClusterStatus.OPEN,
        limit=CLUSTERS_PAGE, offset=offset, faces=CLUSTER_FACES)
    base = f"/ui/events/{event_id}/clusters?hidden={str(hidden).lower()}&offset="
    seen = _signature(found.total, [(c.id, c.size) for c, _ in found.items])
    return {"clusters": found, "cards": [event_card(c, faces) for c, faces in found.items],
            "hidden": hidden, "event_id": event_id, "poll_s": POLL_S,
            "poll_url": f"{base}{offset}&poll={poll - 1}&seen={seen}" if poll > 0 else None,
            "clusters_previous": base + str(max(0, offset - CLUSTERS_PAGE))
            if offset else None,
            "clusters_following": base + str(offset + CLUSTERS_PAGE)
            if offset + CLUSTERS_PAGE < found.total else None}


def _signature(total: int, sizes: list[tuple[int, int]]) -> str:
    """What the clusters section shows, in short: polls compare it to see a change."""
    return f"{zlib.crc32(repr((total, sizes)).encode()):08x}"


@router.get("/ui/events/{event_id}/clusters", response_class=HTMLResponse)
def clusters_part(request: Request, event_id: EventId, session: DbSession,
                  caller: ViewerUser, clusters: Clusters, hidden: bool = False,
                  offset: Offset = 0,
                  poll: Annotated[int, Query(ge=0, le=CLUSTER_POLLS)] = 0,
                  seen: Annotated[str | None, Query(max_length=16)] = None) -> HTMLResponse:
    """The event's clusters. `poll`: look again that many times (new photos are
    clustered by a job, a moment after their upload); a poll that sees what the page
    shows (`seen`) leaves the section alone, so nobody's typing is swept away."""
    context = _clusters(session, clusters, event_id, hidden, offset, poll)
    if seen is not None and seen == _signature(
            context["clusters"].total,
            [(card.cluster.id, card.cluster.size) for card in context["cards"]]):
        return page(request, "_events_poll.html", caller, **context)
    response = page(request, "_events_clusters.html", caller, **context)
    if seen is not None:  # a poll saw a change: the whole section again
        response.headers.update({"HX-Retarget": "#event-clusters", "HX-Reswap": "innerHTML"})
    return response


# ---------------------------------------------------------------- share links

@dataclass(frozen=True, slots=True)
class NewLink:
    url: str
    qr: Markup
    expires_at: datetime | None


def _links(session: Session, access: AccessService, caller: Caller, event_id: int,
           new: NewLink | None = None) -> dict:
    """The share links section: editors' only (the links are editors' business)."""
    if not caller.role.allows(Role.EDITOR):
        return {"share_links": None, "new_link": None}
    links = access.share_links(session, event_id)
    now = datetime.now(UTC)
    return {"share_links": [(link, link_state(link, now)) for link in links],
            "new_link": new,
            "expiry_choices": EXPIRY_CHOICES, "event_id": event_id}


def link_state(link: ShareLink, now: datetime) -> str:
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at is not None and link.expires_at <= now:
        return "expired"
    return "active"


def qr_svg(url: str) -> Markup:
    """The link as a QR code, inline SVG (segno escapes nothing of ours into it)."""
    svg = segno.make(url, error="m").svg_inline(
        scale=4, border=2, omitsize=True, title="QR code of the share link",
        svgclass="qr-code")
    return Markup(svg)  # segno writes path data and the fixed title above: nothing of ours


@router.post("/ui/events/{event_id}/share-links", response_class=HTMLResponse)
def create_link(request: Request, event_id: EventId, session: DbSession,
                caller: EditorUser, access: Access,
                expires: Annotated[str, Form(max_length=10)] = "30") -> HTMLResponse:
    if expires != "never" and expires not in dict(EXPIRY_CHOICES):
        raise InvalidInput("choose when the link expires")
    created = access.create_share_link(session, event_id,
                                       None if expires == "never" else float(expires),
                                       caller.label)
    url = f"{str(request.base_url).rstrip('/')}/share/{created.token}"
    return page(request, "_events_share.html", caller, **_links(
        session, access, caller, event_id, NewLink(url, qr_svg(url), created.link.expires_at)))


@router.post("/ui/events/{event_id}/share-links/{link_id}/revoke",
             response_class=HTMLResponse)
def revoke_link(request: Request, event_id: EventId, link_id: LinkId, session: DbSession,
                caller: EditorUser, access: Access) -> HTMLResponse:
    access.revoke_share_link(session, event_id, link_id)
    return page(request, "_events_share.html", caller,
                **_links(session, access, caller, event_id), revoked=link_id)


# ---------------------------------------------------------------- guests

def guest_page(request: Request, session: Session, token: str) -> HTMLResponse:
    """What a share link opens in a browser: the event's name and photo count, and a
    selfie search. A link that no longer works says so (200: the page is the answer)."""
    records = get_event_records(request)
    try:
        summary = records.get(session, _access(request).shared_event(session, token))
    except NotFound:
        return page(request, "guest.html", None, gone=True)
    return page(request, "guest.html", None, gone=False, token=token,
                event=summary.event.name, photos=summary.photos)


@router.post("/ui/share/{token}/match", response_class=HTMLResponse)
def guest_match(request: Request, token: Token, session: DbSession,
                access: Access, records: Records, events: Events,
                file: Annotated[UploadFile, File()]) -> HTMLResponse:
    """The guest page's search: the same service, and the same per-link limit, as
    POST /share/{token}/match; answered with the photos, or with why there are none."""
    try:
        event_id = access.shared_event(session, token)
    except NotFound:
        return page(request, "_guest_results.html", None, problem="gone")
    throttle = request.app.state.share_matches
    wait = throttle.retry_after(token)
    if wait is not None:
        return page(request, "_guest_results.html", None, problem="busy", wait=wait)
    throttle.hit(token)
    try:
        matches, _ = events.match(session, event_id, selfie=upload_of(file, "selfie").data,
                                  top_k=request.app.state.settings.match_top_k)
    except NoFaceFound:
        return page(request, "_guest_results.html", None, problem="no face")
    entries = [(m, records.photo(session, event_id, m.photo_id).photo) for m in matches]
    shown = [(m, p) for m, p in entries
             if p.original_location or p.annotated_location]
    return page(request, "_guest_results.html", None, token=token, shown=shown,
                hidden=len(entries) - len(shown), problem=None)
