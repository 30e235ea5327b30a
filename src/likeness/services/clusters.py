"""Unknown faces grouped so that each new person is named once.

Three kinds of clustering, never mixed: the unknown tracks of every scanned video, the
faces of each event's photos (one clustering per event), and the unknown sightings of every
camera stream. New faces join the existing clusters or form new ones (`update`, a job
queued after each scan and ingest, and as unknown faces leave a camera); `rebuild`
clusters a scope again from scratch, keeping cluster ids where most of a cluster's faces
stay together, so that names in progress, exclusions and links survive. The algorithm
lives in services/clustering.py; this module keeps the database in step with it.

A person's decisions hold: a face taken out of a cluster never joins it again, a hidden
cluster keeps attracting its look-alikes (posters, a TV presenter) out of sight, and a
named cluster's faces belong to the person (its tracks tag their videos, its sightings
are relabelled, its best faces are enrolled within the enrollment gates).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from likeness.config import Settings
from likeness.enums import ClusterScope, ClusterStatus, Decision, TagSource, TrackStatus
from likeness.errors import Conflict, InvalidInput, NotFound
from likeness.services.clustering import ClusterParams, Clusters, assign
from likeness.services.faces import gallery_face
from likeness.services.pages import Page
from likeness.services.people import QualityGate
from likeness.services.videos import tag_video
from likeness.store import clusters as store
from likeness.store import events as events_store
from likeness.store import people as people_store
from likeness.store.clusters import Scope
from likeness.store.models import Cluster, Person, Sighting, Track

if TYPE_CHECKING:
    from likeness.services.notifications import Notifier

# A track (or a camera sighting) is already many detections of one face: two make a
# cluster, where photos need three faces (Immich's minimum too).
TRACK_PARAMS = ClusterParams(min_size=2)
ENROLLED_PER_NAMING = 5  # the best faces of a named cluster that join the gallery
PREVIEW_FACES = 4  # face ids shown with each cluster of a list
TAG_GAP_MS = 2000  # a named cluster's tracks this close in a video make one segment



P = ParamSpec("P")
R = TypeVar("R")


def _atomic(method: Callable[Concatenate[ClusterService, Session, P], R]
            ) -> Callable[Concatenate[ClusterService, Session, P], R]:
    """Roll back what a failed change did, releasing its clustering's lock at once."""
    @functools.wraps(method)
    def atomic(self: ClusterService, session: Session, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, session, *args, **kwargs)
        except BaseException:
            session.rollback()
            raise
    return atomic


class ClusterQueue(Protocol):
    def defer_clustering(self, event_id: int | None, rebuild: bool = False,
                         cameras: bool = False) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Updated:
    """What a clustering pass did."""

    faces: int  # faces considered
    joined: int  # of them, put into existing clusters
    formed: int  # new clusters
    clustered: int  # faces in a live cluster now


@dataclass(frozen=True, slots=True)
class VideoSpan:
    video_id: int
    source: str
    first_ms: int
    last_ms: int
    tracks: int


@dataclass(frozen=True, slots=True)
class CameraSpan:
    stream_id: int
    stream: str
    first_seen_at: datetime
    last_seen_at: datetime
    sightings: int


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    id: int
    event_id: int | None
    status: ClusterStatus
    size: int
    person_id: int | None
    faces: list[int]  # a few of its best faces (track, photo face or sighting ids)
    videos: list[VideoSpan] = field(default_factory=list)
    scope: ClusterScope = ClusterScope.VIDEOS
    cameras: list[CameraSpan] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ClusterFace:
    """One face of a cluster: a track of a video, a face of an event's photo, or a
    sighting on a camera."""

    id: int
    weight: float
    video_id: int | None = None
    first_ms: int | None = None
    last_ms: int | None = None
    photo_id: int | None = None
    photo_key: str | None = None
    bbox: list[float] | None = None
    stream_id: int | None = None
    stream: str | None = None
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Named:
    cluster_id: int
    person_id: int
    name: str
    created: bool  # a new person
    enrolled: int  # faces added to the person's gallery
    refused: int  # best faces the enrollment gates turned away
    videos: list[int]  # videos tagged with the person
    sightings: int = 0  # camera sightings relabelled as the person


@dataclass(frozen=True)
class ClusterService:
    """Clusters of unknown faces: the database only, never the model."""

    gate: QualityGate = field(default_factory=QualityGate)
    photo_params: ClusterParams = field(default_factory=ClusterParams)
    track_params: ClusterParams = TRACK_PARAMS
    queue: ClusterQueue | None = field(default=None, compare=False)
    notifier: Notifier | None = field(default=None, compare=False)  # of namings

    @classmethod
    def from_settings(cls, settings: Settings, queue: ClusterQueue | None = None,
                      notifier: Notifier | None = None) -> ClusterService:
        return cls(QualityGate.from_settings(settings), queue=queue, notifier=notifier)

    # ------------------------------------------------------------ clustering

    def request_rebuild(self, session: Session, event_id: int | None, *,
                        cameras: bool = False) -> int | None:
        """Queue a rebuild of the scope; the job's id (None: one is queued already)."""
        _check_scope(event_id, cameras)
        if event_id is not None:
            events_store.get_event(session, event_id)
            session.commit()
        if self.queue is None:
            raise Conflict("no job queue: run `likeness clusters rebuild` instead")
        return self.queue.defer_clustering(event_id, rebuild=True, cameras=cameras)

    @_atomic
    def update(self, session: Session, event_id: int | None, model: str, *,
               cameras: bool = False) -> Updated:
        """Cluster the scope's new faces: each joins an existing cluster or forms a new one
        with other new faces; faces left out before get another chance."""
        scope = self._scope(session, event_id, model, cameras)
        clusters = self._settled(session, scope)
        new = store.faces(session, scope, unclustered=True)
        if not len(new.ids):
            session.commit()
            return Updated(0, 0, 0, sum(c.size for c in clusters))
        existing = Clusters(
            np.stack([np.asarray(c.weighted_sum, np.float32) for c in clusters])
            if clusters else np.zeros((0, new.embeddings.shape[1]), np.float32),
            np.array([c.weight for c in clusters], np.float32),
            np.array([c.size for c in clusters], np.int64))
        labels = assign(new.embeddings, existing, new.weights, self._params(scope))
        ids = [c.id for c in clusters]
        labels = _without_excluded(labels, new.ids, ids, store.exclusions(session, scope))
        formed = store.create_clusters(
            session, scope, max(0, int(labels.max(initial=-1)) + 1 - len(ids)))
        ids += formed
        placed = labels >= 0
        store.set_members(session, scope, new.ids[placed], [ids[i] for i in labels[placed]])
        totals = _totals(existing, new, labels)
        changed = np.unique(labels[placed])  # only the clusters that took faces
        store.save_totals(session, [ids[i] for i in changed], totals.sums[changed],
                          totals.weights[changed], totals.sizes[changed])
        session.commit()
        return Updated(len(new.ids), int(np.sum(placed & (labels < len(clusters)))),
                       len(formed), sum(c.size for c in clusters) + int(placed.sum()))

    @_atomic
    def rebuild(self, session: Session, event_id: int | None, model: str, *,
                cameras: bool = False) -> Updated:
        """Cluster the scope again from scratch. Hidden and named clusters stay as they
        are (new look-alikes still join hidden ones); an open cluster keeps its id when the
        new cluster holding most of its faces is the best use of it."""
        scope = self._scope(session, event_id, model, cameras)
        hidden = [c for c in self._settled(session, scope) if c.status == ClusterStatus.HIDDEN]
        pool = store.faces(session, scope, outside=store.settled_ids(session, scope))
        existing = _clusters_of(hidden, pool.embeddings.shape[1])
        labels = assign(pool.embeddings, existing, pool.weights, self._params(scope))
        old_open = sorted({int(c) for c in pool.clusters if c >= 0})
        ids = [c.id for c in hidden] + _reused(labels, pool.clusters, len(hidden), old_open)
        labels = _without_excluded(labels, pool.ids, ids, store.exclusions(session, scope))
        missing = [i for i, cluster_id in enumerate(ids) if cluster_id < 0]
        for index, cluster_id in zip(missing, store.create_clusters(session, scope,
                                                                    len(missing)),
                                     strict=True):
            ids[index] = cluster_id
        store.delete_clusters(session, sorted(set(old_open) - set(ids)))
        placed = labels >= 0
        store.set_members(session, scope, pool.ids,
                          [ids[i] if i >= 0 else None for i in labels])
        self._save(session, scope, ids, _totals(existing, pool, labels))
        session.commit()
        return Updated(len(pool.ids), int(np.sum(placed & (labels < len(hidden)))),
                       len(missing), int(placed.sum()) + sum(c.size for c in hidden))

    def _params(self, scope: Scope) -> ClusterParams:
        return self.photo_params if scope.kind == ClusterScope.EVENT else self.track_params

    def _scope(self, session: Session, event_id: int | None, model: str, cameras: bool
               ) -> Scope:
        _check_scope(event_id, cameras)
        if event_id is not None:
            events_store.get_event(session, event_id)
        scope = Scope(event_id, model, cameras)
        store.lock(session, scope)
        return scope

    def _settled(self, session: Session, scope: Scope) -> list[Cluster]:
        """The live clusters, their totals recomputed where faces left them."""
        stale = store.detach_departed(session, scope)
        if stale:
            faces = store.faces(session, scope, clusters=sorted(stale))
            ids = sorted(stale)
            labels = np.searchsorted(ids, faces.clusters)
            totals = Clusters.from_labels(faces.embeddings, labels, faces.weights)
            padded = _padded(totals, len(ids))
            store.save_totals(session, ids, padded.sums, padded.weights, padded.sizes)
            session.expire_all()
        return store.live_clusters(session, scope)

    def _save(self, session: Session, scope: Scope, ids: Sequence[int],
              totals: Clusters) -> None:
        store.save_totals(session, ids, totals.sums, totals.weights, totals.sizes)
        store.delete_clusters(session, [i for i, size in zip(ids, totals.sizes, strict=True)
                                        if size == 0])

    # ------------------------------------------------------------ reading

    def page(self, session: Session, event_id: int | None, *, cameras: bool = False,
             status: ClusterStatus = ClusterStatus.OPEN, limit: int = 50, offset: int = 0
             ) -> Page[ClusterSummary]:
        """The scope's clusters, largest first, each with a few of its best faces and
        where it appears: for video clusters the videos and time ranges, for camera
        clusters the streams and when."""
        _check_scope(event_id, cameras)
        if event_id is not None:
            events_store.get_event(session, event_id)
        rows, total = store.page(session, Scope(event_id, cameras=cameras), status=status,
                                 limit=limit, offset=offset)
        items = self._summaries(session, rows)
        session.commit()
        return Page(items, total, limit, offset)

    @staticmethod
    def _summaries(session: Session, clusters: Sequence[Cluster]) -> list[ClusterSummary]:
        """The clusters (of one scope) with their best faces and where they appear."""
        if not clusters:
            return []
        scope = Scope.of(clusters[0])
        ids = [c.id for c in clusters]
        best = store.best_faces(session, scope, ids, PREVIEW_FACES)
        videos = store.video_spans(session, ids) if scope.kind == ClusterScope.VIDEOS else {}
        cameras = store.camera_spans(session, ids) if scope.cameras else {}
        return [ClusterSummary(
            c.id, c.event_id, c.status, c.size, c.person_id, best[c.id],
            [VideoSpan(v.id, v.source, first, last, count)
             for v, first, last, count in videos.get(c.id, [])], c.scope,
            [CameraSpan(*span) for span in cameras.get(c.id, [])]) for c in clusters]

    def page_with_faces(self, session: Session, event_id: int, *,
                        status: ClusterStatus = ClusterStatus.OPEN, limit: int = 50,
                        offset: int = 0, faces: int = 20
                        ) -> Page[tuple[ClusterSummary, list[ClusterFace]]]:
        """An event's clusters, largest first, each with its `faces` best faces."""
        page = self.page(session, event_id, status=status, limit=limit, offset=offset)
        members = store.members_of(session, Scope(event_id), [c.id for c in page.items],
                                   faces)
        session.commit()
        return Page([(c, [_face_of(row) for row in members[c.id]]) for c in page.items],
                    page.total, limit, offset)

    def get(self, session: Session, cluster_id: int) -> ClusterSummary:
        return self._summaries(session, [store.get_cluster(session, cluster_id)])[0]

    def faces(self, session: Session, cluster_id: int, *, limit: int = 50, offset: int = 0
              ) -> Page[ClusterFace]:
        """A cluster's faces, best first."""
        cluster = store.get_cluster(session, cluster_id)
        rows = store.members(session, Scope.of(cluster), cluster_id, limit=limit,
                             offset=offset)
        items = [_face_of(row) for row in rows]
        session.commit()
        return Page(items, cluster.size, limit, offset)

    def thumbnail(self, session: Session, cluster_id: int, face_id: int) -> bytes:
        """The crop of one of a cluster's faces (JPEG)."""
        face = self._member(session, store.get_cluster(session, cluster_id), face_id)
        session.commit()
        if face.crop_jpeg is None:
            raise NotFound(f"face {face_id} has no image: it was given as an embedding")
        return face.crop_jpeg

    # ------------------------------------------------------------ decisions

    @_atomic
    def name(self, session: Session, cluster_id: int, *, name: str | None = None,
             person_id: int | None = None) -> Named:
        """Give a cluster a person: a new one called `name`, or the existing `person_id`.
        Its best faces within the enrollment gates join the person's gallery, its tracks
        tag their videos (its sightings become the person's), and it leaves the unknown
        list."""
        if (name is None) == (person_id is None):
            raise InvalidInput("give either a name (a new person) or a person_id")
        cluster = self._decidable(session, cluster_id)
        scope = Scope.of(cluster)
        person: Person = people_store.create_person(session, name) if name is not None \
            else people_store.get_person(session, person_id or 0)
        faces = [m if scope.kind == ClusterScope.VIDEOS else m[0]
                 for m in store.members(session, scope, cluster_id)]
        enrolled, refused = self._enroll(session, scope, person.id, faces)
        videos = _tag_tracks(session, person.id, faces, cluster) \
            if scope.kind == ClusterScope.VIDEOS else []
        sightings = _label_sightings(person.id, faces, cluster) if scope.cameras else 0
        cluster.status, cluster.person_id = ClusterStatus.NAMED, person.id
        if self.notifier is not None:
            self.notifier.publish(session, "cluster.named", {
                "cluster_id": cluster_id, "scope": str(cluster.scope),
                "event_id": cluster.event_id,
                "person": {"id": person.id, "name": person.name},
                "created": name is not None, "enrolled": enrolled, "videos": videos,
                "sightings": sightings}, topic=(person.name,))
        session.commit()
        return Named(cluster_id, person.id, person.name, name is not None, enrolled, refused,
                     videos, sightings)

    @_atomic
    def merge(self, session: Session, cluster_id: int, other_id: int) -> ClusterSummary:
        """Join `other_id` into `cluster_id` (the same person in two clusters)."""
        if cluster_id == other_id:
            raise InvalidInput("a cluster cannot be merged with itself")
        target = self._decidable(session, cluster_id)
        source = self._decidable(session, other_id, lock=False)
        scope = Scope.of(target)
        if Scope.of(source) != scope:
            raise Conflict(f"clusters {cluster_id} and {other_id} belong to different "
                           "clusterings (videos, cameras, or different events)")
        faces = store.faces(session, scope, clusters=[other_id])
        store.set_members(session, scope, faces.ids, [cluster_id] * len(faces.ids))
        store.move_exclusions(session, scope, other_id, cluster_id)
        target.weighted_sum = np.asarray(target.weighted_sum, np.float32) + np.asarray(
            source.weighted_sum, np.float32)
        target.weight += source.weight
        target.size += source.size
        store.delete_clusters(session, [other_id])
        session.commit()
        return self.get(session, cluster_id)

    @_atomic
    def remove_face(self, session: Session, cluster_id: int, face_id: int) -> None:
        """"Not this person": the face leaves the cluster and never joins it again."""
        cluster = self._decidable(session, cluster_id)
        face = self._member(session, cluster, face_id)
        face.cluster_id = None
        store.exclude(session, Scope.of(cluster), cluster_id, face_id)
        cluster.weighted_sum = np.asarray(cluster.weighted_sum, np.float32) \
            - face.weight * np.asarray(face.embedding, np.float32)
        cluster.weight = max(0.0, cluster.weight - face.weight)
        cluster.size -= 1
        if cluster.size <= 0:
            store.delete_clusters(session, [cluster_id])
        session.commit()

    @_atomic
    def set_hidden(self, session: Session, cluster_id: int, hidden: bool) -> ClusterSummary:
        """Hide a cluster not worth naming, or show it again."""
        cluster = self._decidable(session, cluster_id)
        cluster.status = ClusterStatus.HIDDEN if hidden else ClusterStatus.OPEN
        session.commit()
        return self.get(session, cluster_id)

    def _decidable(self, session: Session, cluster_id: int, lock: bool = True) -> Cluster:
        """A live cluster, its clustering locked against a concurrent pass."""
        cluster = store.get_cluster(session, cluster_id)
        if lock:
            store.lock(session, Scope.of(cluster))
        cluster = store.get_cluster(session, cluster_id, lock_row=True)
        session.refresh(cluster)
        if cluster.status == ClusterStatus.NAMED:
            raise Conflict(f"cluster {cluster_id} is already named (person "
                           f"{cluster.person_id})")
        return cluster

    @staticmethod
    def _member(session: Session, cluster: Cluster, face_id: int) -> store.Face:
        face = store.face(session, Scope.of(cluster), face_id)
        if face.cluster_id != cluster.id:
            raise NotFound(f"face {face_id} is not in cluster {cluster.id}")
        return face

    def _enroll(self, session: Session, scope: Scope, person_id: int,
                faces: Sequence[store.Face]) -> tuple[int, int]:
        """Enroll the heaviest faces that pass the gates, up to ENROLLED_PER_NAMING (a
        person's first face must also be frontal enough); (enrolled, refused on the way)."""
        enrolled = refused = 0
        first = not people_store.face_counts(session, [person_id]).get(person_id)
        for face in faces:
            if enrolled == ENROLLED_PER_NAMING:
                break
            row = self._gallery_row(session, scope, face)
            if row is None or (first and not enrolled
                               and not self.gate.frontal(row["quality"].get("yaw"))):
                refused += 1
                continue
            enrolled += people_store.add_face(session, {**row, "person_id": person_id})[1]
        return enrolled, refused

    def _gallery_row(self, session: Session, scope: Scope, face: store.Face
                     ) -> dict[str, Any] | None:
        """The gallery row of a face, None when it fails the enrollment gates."""
        if isinstance(face, Sighting):
            return self._sighting_row(face)
        if isinstance(face, Track):
            best = store.best_detection(session, face.id)
            if best is None or not self._passes(best.quality["face_size"],
                                                best.quality["blur"], best.det_score):
                return None
            return gallery_face(
                embedding=best.embedding, model=face.model, det_score=best.det_score,
                bbox=best.bbox, landmarks=[], quality=best.quality,
                image_sha256=hashlib.sha256(best.crop_jpeg).hexdigest(),
                source_name=f"cluster: video {face.video_id}, track {face.id}",
                crop_jpeg=best.crop_jpeg)
        if face.crop_jpeg is None or face.bbox is None or face.det_score is None:
            return None
        size = min(face.bbox[2] - face.bbox[0], face.bbox[3] - face.bbox[1])
        if not self._passes(size, None, face.det_score):
            return None
        return gallery_face(
            embedding=face.embedding, model=face.model, det_score=face.det_score,
            bbox=face.bbox, landmarks=face.landmarks or [], quality={"face_size": size},
            image_sha256=hashlib.sha256(face.crop_jpeg).hexdigest(),
            source_name=f"cluster: event {face.event_id}, photo {face.photo_id}",
            crop_jpeg=face.crop_jpeg)

    def _sighting_row(self, sighting: Sighting) -> dict[str, Any] | None:
        """A sighting's gallery row: its track's mean embedding with its best face's
        crop, box and quality (None: recorded before they were kept, or below a gate)."""
        quality, bbox, det_score = sighting.quality, sighting.bbox, sighting.det_score
        if quality is None or bbox is None or det_score is None or not self._passes(
                quality["face_size"], quality["blur"], det_score):
            return None
        return gallery_face(
            embedding=sighting.embedding, model=sighting.model, det_score=det_score,
            bbox=bbox, landmarks=[], quality=quality,
            image_sha256=hashlib.sha256(sighting.crop_jpeg).hexdigest(),
            source_name=f"cluster: stream {sighting.stream_id}, sighting {sighting.id}",
            crop_jpeg=sighting.crop_jpeg)

    def _passes(self, size: float, blur: float | None, det_score: float) -> bool:
        return size >= self.gate.min_face_size and det_score >= self.gate.min_det_score \
            and (blur is None or blur >= self.gate.min_blur)


@dataclass(frozen=True)
class InlineClustering:
    """A ClusterQueue that clusters at once: for the CLI, which runs no worker."""

    sessions: sessionmaker
    service: ClusterService
    model: str

    def defer_clustering(self, event_id: int | None, rebuild: bool = False,
                         cameras: bool = False) -> int | None:
        with self.sessions() as session:
            (self.service.rebuild if rebuild else self.service.update)(
                session, event_id, self.model, cameras=cameras)
        return None


def _check_scope(event_id: int | None, cameras: bool) -> None:
    if cameras and event_id is not None:
        raise InvalidInput("the cameras' clustering belongs to no event")


def _clusters_of(clusters: Sequence[Cluster], dimension: int) -> Clusters:
    if not clusters:
        return Clusters(np.zeros((0, dimension), np.float32), np.zeros(0, np.float32),
                        np.zeros(0, np.int64))
    return Clusters(np.stack([np.asarray(c.weighted_sum, np.float32) for c in clusters]),
                    np.array([c.weight for c in clusters], np.float32),
                    np.array([c.size for c in clusters], np.int64))


def _padded(totals: Clusters, count: int) -> Clusters:
    """Totals for `count` clusters, zero for those with no faces left."""
    missing = count - len(totals)
    if missing <= 0:
        return totals
    return Clusters(np.concatenate([totals.sums, np.zeros((missing, totals.sums.shape[1]),
                                                          np.float32)]),
                    np.concatenate([totals.weights, np.zeros(missing, np.float32)]),
                    np.concatenate([totals.sizes, np.zeros(missing, np.int64)]))


def _totals(existing: Clusters, new: store.FaceRows, labels: np.ndarray) -> Clusters:
    """The clusters' totals after adding the labelled new faces to `existing`."""
    count = max(len(existing), int(labels.max(initial=-1)) + 1)
    added = _padded(Clusters.from_labels(new.embeddings, labels, new.weights), count)
    before = _padded(existing, count)
    return Clusters(before.sums + added.sums, before.weights + added.weights,
                    before.sizes + added.sizes)


def _without_excluded(labels: np.ndarray, face_ids: np.ndarray, cluster_ids: Sequence[int],
                      excluded: Sequence[tuple[int, int]]) -> np.ndarray:
    """Labels with faces sent back to a cluster they were taken out of set to -1."""
    if not excluded:
        return labels
    barred = set(excluded)
    labels = labels.copy()
    for index in np.flatnonzero((labels >= 0) & (labels < len(cluster_ids))):
        if (cluster_ids[labels[index]], int(face_ids[index])) in barred:
            labels[index] = -1
    return labels


def _reused(labels: np.ndarray, previous: np.ndarray, first: int,
            old_ids: Sequence[int]) -> list[int]:
    """Ids for the new clusters (labels from `first` on): an old open cluster's id goes
    to the new cluster holding most of its faces, largest overlaps first; -1: a new id."""
    count = int(labels.max(initial=first - 1)) + 1 - first
    ids = [-1] * count
    both = (labels >= first) & (previous >= 0)
    pairs, overlap = np.unique(np.stack([labels[both] - first, previous[both]], axis=1),
                               axis=0, return_counts=True)
    taken: set[int] = set()
    for index in np.argsort(-overlap, kind="stable"):
        new, old = (int(v) for v in pairs[index])
        if ids[new] < 0 and old not in taken and old in old_ids:
            ids[new] = old
            taken.add(old)
    return ids


def _face_of(row: Any) -> ClusterFace:
    if isinstance(row, Track):
        return ClusterFace(row.id, row.weight, video_id=row.video_id, first_ms=row.first_ms,
                           last_ms=row.last_ms)
    face, name = row
    if isinstance(face, Sighting):
        return ClusterFace(face.id, face.weight, stream_id=face.stream_id, stream=name,
                           first_seen_at=face.first_seen_at, last_seen_at=face.last_seen_at)
    return ClusterFace(face.id, face.weight, photo_id=face.photo_id, photo_key=name,
                       bbox=face.bbox)


def _unit_mean(cluster: Cluster) -> np.ndarray:
    mean = np.asarray(cluster.weighted_sum, np.float32)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


def _label_sightings(person_id: int, sightings: Sequence[Sighting], cluster: Cluster
                     ) -> int:
    """The cluster's sightings become the person's (a match); each one's similarity is to
    the cluster's mean face."""
    mean = _unit_mean(cluster)
    for sighting in sightings:
        sighting.person_id, sighting.decision = person_id, Decision.MATCH
        sighting.similarity = round(float(np.asarray(sighting.embedding, np.float32) @ mean),
                                    4)
    return len(sightings)


def _tag_tracks(session: Session, person_id: int, tracks: Sequence[Track],
                cluster: Cluster) -> list[int]:
    """Tag the tracks with the person and their videos (source `cluster`); each track's
    similarity is to the cluster's mean face."""
    mean = _unit_mean(cluster)
    spans: dict[int, list[tuple[int, int, float]]] = {}
    for track in tracks:
        similarity = round(float(np.asarray(track.embedding, np.float32) @ mean), 4)
        track.status, track.person_id, track.similarity = \
            TrackStatus.TAGGED, person_id, similarity
        spans.setdefault(track.video_id, []).append((track.first_ms, track.last_ms,
                                                     similarity))
    for video_id, video_spans in spans.items():
        tag_video(session, video_id, person_id, video_spans, TAG_GAP_MS, TagSource.CLUSTER)
    return sorted(spans)
