"""Unknown faces: the clusters of video tracks (or, on the cameras tab, of camera
sightings) nobody was recognised in, largest first, and the decisions on a cluster (name
it as a new or an existing person, merge clusters, take a face out, hide it or show it
again). The same card and actions serve an event's clusters on
the event's page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from likeness.api.deps import get_clusters
from likeness.api.params import Offset, path_id
from likeness.api.validation import MAX_BIGINT, Text
from likeness.enums import ClusterScope, ClusterStatus
from likeness.errors import InvalidInput, NotFound
from likeness.services.clusters import ClusterFace, ClusterService, ClusterSummary
from likeness.services.people import PeopleRecords
from likeness.ui.web import DbSession, EditorUser, ViewerUser, page

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
EVENT_FACES = 12  # faces shown on an event's cluster card
PICKER_SIZE = 8  # people offered when naming a cluster as someone known

ClusterId = Annotated[int, path_id("cluster")]
FaceId = Annotated[int, path_id("face")]
Clusters = Annotated[ClusterService, Depends(get_clusters)]
Records = Annotated[PeopleRecords, Depends(PeopleRecords)]


@dataclass(frozen=True, slots=True)
class FaceView:
    id: int
    caption: str | None = None  # an event face's photo


@dataclass(frozen=True, slots=True)
class Card:
    """A cluster as its card shows it."""

    cluster: ClusterSummary
    faces: list[FaceView]


def event_card(cluster: ClusterSummary, faces: list[ClusterFace]) -> Card:
    return Card(cluster, [FaceView(f.id, f.photo_key) for f in faces])


def _card(session: Session, clusters: ClusterService, cluster_id: int) -> Card:
    """One cluster's card as it is now: a video or camera cluster's best faces, or an
    event cluster's first faces with their photos."""
    summary = clusters.get(session, cluster_id)
    if summary.event_id is None:
        return Card(summary, [FaceView(f) for f in summary.faces])
    return event_card(summary, clusters.faces(session, cluster_id, limit=EVENT_FACES).items)


def _count(session: Session, clusters: ClusterService, cluster: ClusterSummary,
           status: ClusterStatus) -> dict:
    """The count of the list `cluster` was in, after its card left it (drawn again out of
    band)."""
    total = clusters.page(session, cluster.event_id,
                          cameras=cluster.scope == ClusterScope.CAMERAS, status=status,
                          limit=1).total
    return {"count": {"total": total, "hidden": status == ClusterStatus.HIDDEN}}


def _flash(message: str, kind: str = "ok", link: tuple[str, str] | None = None) -> dict:
    return {"flash": {"message": message, "kind": kind, "link": link}}


@router.get("/ui/clusters", response_class=HTMLResponse)
def clusters_page(request: Request, session: DbSession, caller: ViewerUser,
                  clusters: Clusters, hidden: Annotated[bool, Query()] = False,
                  scope: Annotated[Literal["videos", "cameras"], Query()] = "videos",
                  offset: Offset = 0) -> HTMLResponse:
    """The videos' unknown faces, or the cameras' (`scope`), open or hidden."""
    status = ClusterStatus.HIDDEN if hidden else ClusterStatus.OPEN
    found = clusters.page(session, None, cameras=scope == "cameras", status=status,
                          limit=PAGE_SIZE, offset=offset)

    def link(to: int = 0, *, of: str = scope, hiding: bool = hidden) -> str:
        query: dict[str, str | int] = {"scope": of} if of == "cameras" else {}
        if hiding:
            query["hidden"] = "true"
        if to:
            query["offset"] = to
        return "/ui/clusters" + (f"?{urlencode(query)}" if query else "")

    return page(request, "clusters.html", caller, found=found, hidden=hidden, scope=scope,
                tabs=[(link(of="videos"), "videos", "Videos"),
                      (link(of="cameras"), "cameras", "Cameras")],
                hidden_link=link(hiding=not hidden),
                cards=[Card(c, [FaceView(f) for f in c.faces]) for c in found.items],
                previous=link(max(0, offset - PAGE_SIZE)) if offset > 0 else None,
                following=link(offset + PAGE_SIZE) if offset + PAGE_SIZE < found.total
                else None)


@router.get("/ui/clusters/{cluster_id}/people", response_class=HTMLResponse)
def person_picker(request: Request, cluster_id: ClusterId, session: DbSession,
                  caller: EditorUser, records: Records,
                  q: Annotated[Text, Query(max_length=200)] = "") -> HTMLResponse:
    """People whose name holds `q`: the cluster can be named as one of them."""
    found = records.page(session, name_contains=q.strip(), limit=PICKER_SIZE) \
        if q.strip() else None
    return page(request, "_clusters_picker.html", caller, cluster_id=cluster_id, found=found,
                q=q.strip())


@router.post("/ui/clusters/{cluster_id}/name", response_class=HTMLResponse)
def name_cluster(request: Request, cluster_id: ClusterId, session: DbSession,
                 caller: EditorUser, clusters: Clusters,
                 name: Annotated[Text | None, Form(max_length=200)] = None,
                 person_id: Annotated[int | None, Form(ge=1, le=MAX_BIGINT)] = None
                 ) -> HTMLResponse:
    """The card leaves the list; the flash says what naming did."""
    new_name = name.strip() if name is not None else None
    if new_name == "":
        raise InvalidInput("give the person a name")
    before = clusters.get(session, cluster_id)
    named = clusters.name(session, cluster_id, name=new_name,
                          person_id=None if new_name else person_id)
    sources = {v.video_id: v.source for v in before.videos}
    faces = f"{named.enrolled} face{'' if named.enrolled == 1 else 's'} enrolled"
    if named.refused:
        faces += f", {named.refused} left out (too small or blurred)"
    tagged = f"; tagged in {', '.join(sources.get(v, f'video {v}') for v in named.videos)}" \
        if named.videos else ""
    if named.sightings:
        tagged += f"; {named.sightings} sighting{'' if named.sightings == 1 else 's'} " \
                  "are theirs now"
    who = f"{named.name} (new person)" if named.created else named.name
    return page(request, "_clusters_gone.html", caller,
                **_count(session, clusters, before, before.status), **_flash(
                    f"Named {who}: {faces}{tagged}.",
                    link=(f"/ui/people/{named.person_id}", f"See {named.name}")))


@router.post("/ui/clusters/{cluster_id}/hidden", response_class=HTMLResponse)
def hide_cluster(request: Request, cluster_id: ClusterId, session: DbSession,
                 caller: EditorUser, clusters: Clusters,
                 hidden: Annotated[bool, Form()]) -> HTMLResponse:
    """Hidden, or shown again: either way it leaves the list it was in."""
    summary = clusters.set_hidden(session, cluster_id, hidden)
    message = (f"Cluster #{cluster_id} is hidden: see it with “Show hidden”." if hidden
               else f"Cluster #{cluster_id} is back with the unknown faces.")
    left = ClusterStatus.OPEN if hidden else ClusterStatus.HIDDEN
    return page(request, "_clusters_gone.html", caller,
                **_count(session, clusters, summary, left), **_flash(message))


@router.post("/ui/clusters/{cluster_id}/faces/{face_id}/remove", response_class=HTMLResponse)
def remove_face(request: Request, cluster_id: ClusterId, face_id: FaceId,
                session: DbSession, caller: EditorUser, clusters: Clusters) -> HTMLResponse:
    """"Not this person": the card again without the face (gone with its last face)."""
    before = clusters.get(session, cluster_id)
    clusters.remove_face(session, cluster_id, face_id)
    try:
        card = _card(session, clusters, cluster_id)
    except NotFound:  # that was its last face
        return page(request, "_clusters_gone.html", caller,
                    **_count(session, clusters, before, before.status),
                    **_flash(f"Cluster #{cluster_id} had no other face: it is gone."))
    return page(request, "_clusters_card.html", caller, card=card)


@router.post("/ui/clusters/merge", response_class=HTMLResponse)
def merge_clusters(request: Request, session: DbSession, caller: EditorUser,
                   clusters: Clusters,
                   cluster: Annotated[list[int] | None, Form()] = None) -> HTMLResponse:
    """The selected clusters are one person: all join the first (the largest, as the
    list is ordered). Its card is drawn again and the others leave."""
    ids = list(dict.fromkeys(cluster or []))
    if not all(1 <= i <= MAX_BIGINT for i in ids):
        raise InvalidInput("not a cluster id")
    if len(ids) < 2:
        raise InvalidInput("select two or more clusters of the same person to merge")
    target, others = ids[0], ids[1:]
    for other in others:
        clusters.merge(session, target, other)
    card = _card(session, clusters, target)
    return page(request, "_clusters_merged.html", caller, card=card, gone=others,
                **_count(session, clusters, card.cluster, ClusterStatus.OPEN),
                **_flash(f"Merged {len(others) + 1} clusters into #{target}."))
