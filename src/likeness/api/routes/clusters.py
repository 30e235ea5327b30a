"""Clusters of unknown faces: video tracks nobody enrolled, camera sightings nobody was
recognised in, and each event's faces. A
person names a cluster once, takes out a face that is someone else, merges two clusters of
one person, or hides one not worth naming."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Response, status

from likeness.api.auth import EDITOR, VIEWER
from likeness.api.deps import ClustersDep, SessionDep
from likeness.api.errors import COMMON, declare
from likeness.api.params import Limit, Offset, path_id
from likeness.api.schemas import (
    ClusterFaceOut,
    ClusterFacePage,
    ClusteringQueuedOut,
    ClusterMergeIn,
    ClusterOut,
    ClusterPage,
    ClusterPatch,
    EventClusterOut,
    EventClusterPage,
    ExistingPersonIn,
    NamedOut,
    NewPersonIn,
    page_of,
)
from likeness.enums import ClusterStatus

router = APIRouter(tags=["clusters"], responses=COMMON)

ClusterId = Annotated[int, path_id("cluster")]
FaceId = Annotated[int, path_id("face")]
EventId = Annotated[int, path_id("event")]
StatusFilter = Annotated[ClusterStatus, Query(
    alias="status", description="open: waiting for a name; hidden; named")]
ScopeFilter = Annotated[Literal["videos", "cameras"], Query(
    description="videos: unknown tracks of the scanned videos; cameras: unknown sightings "
                "of the camera streams")]


@router.get("/clusters", dependencies=[VIEWER], response_model=ClusterPage)
def list_clusters(session: SessionDep, clusters: ClustersDep,
                  status_filter: StatusFilter = ClusterStatus.OPEN,
                  scope: ScopeFilter = "videos", limit: Limit = 50, offset: Offset = 0
                  ) -> ClusterPage:
    """Unknown faces of videos (or, with scope=cameras, of camera streams) grouped by
    person, largest first: each cluster with a few face thumbnails and where it appears
    (videos and time ranges, or streams and when)."""
    return page_of(ClusterPage, clusters.page(session, None, cameras=scope == "cameras",
                                              status=status_filter, limit=limit,
                                              offset=offset), ClusterOut.of)


@router.post("/clusters", dependencies=[EDITOR], response_model=ClusteringQueuedOut,
             status_code=status.HTTP_202_ACCEPTED, responses=declare(409))
def rebuild_clusters(session: SessionDep, clusters: ClustersDep,
                     scope: ScopeFilter = "videos") -> ClusteringQueuedOut:
    """Queue a clustering of the videos' (or the cameras') unknown faces from scratch
    (new faces are clustered on their own after every scan, and as unknown faces leave a
    camera). Hidden and named clusters stay."""
    return ClusteringQueuedOut(job_id=clusters.request_rebuild(
        session, None, cameras=scope == "cameras"))


@router.get("/clusters/{cluster_id}", dependencies=[VIEWER], response_model=ClusterOut,
            responses=declare(404))
def get_cluster(cluster_id: ClusterId, session: SessionDep, clusters: ClustersDep
                ) -> ClusterOut:
    return ClusterOut.of(clusters.get(session, cluster_id))


@router.patch("/clusters/{cluster_id}", dependencies=[EDITOR], response_model=ClusterOut,
              responses=declare(404, 409))
def update_cluster(cluster_id: ClusterId, patch: ClusterPatch, session: SessionDep,
                   clusters: ClustersDep) -> ClusterOut:
    """Hide a cluster not worth naming (it keeps attracting its look-alikes, out of
    sight), or show it again."""
    return ClusterOut.of(clusters.set_hidden(session, cluster_id, patch.hidden))


@router.get("/clusters/{cluster_id}/faces", dependencies=[VIEWER],
            response_model=ClusterFacePage, responses=declare(404))
def cluster_faces(cluster_id: ClusterId, session: SessionDep, clusters: ClustersDep,
                  limit: Limit = 50, offset: Offset = 0) -> ClusterFacePage:
    """A cluster's faces, best first."""
    return page_of(ClusterFacePage, clusters.faces(session, cluster_id, limit=limit,
                                                   offset=offset),
                   lambda face: ClusterFaceOut.of(cluster_id, face))


@router.get("/clusters/{cluster_id}/faces/{face_id}/thumbnail", dependencies=[VIEWER],
            response_class=Response, responses={
    200: {"content": {"image/jpeg": {}}, "description": "The face's crop"}, **declare(404)})
def cluster_face_thumbnail(cluster_id: ClusterId, face_id: FaceId, session: SessionDep,
                           clusters: ClustersDep) -> Response:
    return Response(clusters.thumbnail(session, cluster_id, face_id), media_type="image/jpeg",
                    headers={"cache-control": "private, max-age=86400"})


@router.delete("/clusters/{cluster_id}/faces/{face_id}", dependencies=[EDITOR],
               status_code=status.HTTP_204_NO_CONTENT, responses=declare(404, 409))
def remove_cluster_face(cluster_id: ClusterId, face_id: FaceId, session: SessionDep,
                        clusters: ClustersDep) -> Response:
    """Not this person: the face leaves the cluster and never joins it again."""
    clusters.remove_face(session, cluster_id, face_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/clusters/{cluster_id}/name", dependencies=[EDITOR], response_model=NamedOut,
             responses=declare(404, 409))
def name_cluster(cluster_id: ClusterId, session: SessionDep, clusters: ClustersDep,
                 person: Annotated[NewPersonIn | ExistingPersonIn, Body(
                     description='{"name": ...} for a new person, or {"person_id": ...}')]
                 ) -> NamedOut:
    """Name the cluster: its best faces (within the enrollment gates) join the person's
    gallery, its tracks tag their videos (its sightings become the person's), and it
    leaves the list of unknowns."""
    if isinstance(person, NewPersonIn):
        named = clusters.name(session, cluster_id, name=person.name)
    else:
        named = clusters.name(session, cluster_id, person_id=person.person_id)
    return NamedOut.of(named)


@router.post("/clusters/{cluster_id}/merge", dependencies=[EDITOR], response_model=ClusterOut,
             responses=declare(400, 404, 409))
def merge_clusters(cluster_id: ClusterId, merge: ClusterMergeIn, session: SessionDep,
                   clusters: ClustersDep) -> ClusterOut:
    """One person in two clusters: the other cluster's faces join this one."""
    return ClusterOut.of(clusters.merge(session, cluster_id, merge.cluster_id))


@router.get("/events/{event_id}/clusters", dependencies=[VIEWER],
            response_model=EventClusterPage, responses=declare(404))
def event_clusters(event_id: EventId, session: SessionDep, clusters: ClustersDep,
                   status_filter: StatusFilter = ClusterStatus.OPEN,
                   faces_per_cluster: Annotated[int, Query(ge=1, le=500)] = 20,
                   limit: Limit = 50, offset: Offset = 0) -> EventClusterPage:
    """The event's guests grouped by person, largest first, each with its faces and the
    photos they are in."""
    page = clusters.page_with_faces(session, event_id, status=status_filter, limit=limit,
                                    offset=offset, faces=faces_per_cluster)
    return page_of(EventClusterPage, page, lambda item: EventClusterOut.of(*item))


@router.post("/events/{event_id}/clusters", dependencies=[EDITOR],
             response_model=ClusteringQueuedOut, status_code=status.HTTP_202_ACCEPTED,
             responses=declare(404, 409))
def recluster_event(event_id: EventId, session: SessionDep, clusters: ClustersDep
                    ) -> ClusteringQueuedOut:
    """Queue a clustering of the event's faces from scratch (new photos are clustered
    on their own as they arrive). Hidden and named clusters stay."""
    return ClusteringQueuedOut(job_id=clusters.request_rebuild(session, event_id))
