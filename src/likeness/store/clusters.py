"""Every query on clusters of unknown faces. A scope is one clustering: the unknown tracks
of all videos, the photo faces of one event, or the unknown sightings of all camera
streams; its faces live in `tracks`, `photo_faces` or `sightings`, each with its
`cluster_id` and quality `weight`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    delete,
    func,
    literal,
    not_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, defer

from likeness.enums import ClusterScope, ClusterStatus, Decision, TrackStatus
from likeness.errors import NotFound
from likeness.store.models import (
    EMBEDDING_DIMENSION,
    Cluster,
    ClusterExclusion,
    Photo,
    PhotoFace,
    Sighting,
    Stream,
    Track,
    Video,
)

# pg_advisory_xact_lock key spaces (the high 32 bits): the videos' and the events'
# clusterings (the event's id, or 0, below), and the cameras' one.
LOCK_SPACE = 0x636C7573
CAMERAS_LOCK_SPACE = 0x63616D73
LIVE = (ClusterStatus.OPEN, ClusterStatus.HIDDEN)  # clusters that take new faces

Face = Track | PhotoFace | Sighting  # a face of some clustering
FACES: dict[ClusterScope, type[Track] | type[PhotoFace] | type[Sighting]] = {
    ClusterScope.VIDEOS: Track, ClusterScope.EVENT: PhotoFace, ClusterScope.CAMERAS: Sighting}
EXCLUSIONS = ClusterExclusion.__table__
EXCLUDED = {ClusterScope.VIDEOS: "track_id", ClusterScope.EVENT: "photo_face_id",
            ClusterScope.CAMERAS: "sighting_id"}  # the excluded face's column


@dataclass(frozen=True, slots=True)
class Scope:
    """One clustering of one model: video unknowns (event_id None), one event's faces
    (event_id), or camera unknowns (`cameras`)."""

    event_id: int | None
    model: str | None = None  # None: any model's clusters (reading only)
    cameras: bool = False

    @classmethod
    def of(cls, cluster: Cluster) -> Scope:
        return cls(cluster.event_id, cluster.model, cluster.scope == ClusterScope.CAMERAS)

    @property
    def kind(self) -> ClusterScope:
        if self.cameras:
            return ClusterScope.CAMERAS
        return ClusterScope.VIDEOS if self.event_id is None else ClusterScope.EVENT

    @property
    def faces(self) -> type[Track] | type[PhotoFace] | type[Sighting]:
        return FACES[self.kind]

    def pool(self) -> list[ColumnElement[bool]]:
        """Which faces are clustered: unknown tracks, the event's faces, or unknown
        sightings."""
        where = {ClusterScope.VIDEOS: [Track.status == TrackStatus.UNKNOWN],
                 ClusterScope.EVENT: [PhotoFace.event_id == self.event_id],
                 ClusterScope.CAMERAS: [Sighting.decision == Decision.UNKNOWN]}[self.kind]
        return where if self.model is None else [*where, self.faces.model == self.model]

    def clusters(self) -> list[ColumnElement[bool]]:
        owner = [Cluster.scope == self.kind]
        if self.event_id is not None:
            owner.append(Cluster.event_id == self.event_id)
        return owner if self.model is None else [*owner, Cluster.model == self.model]


@dataclass(frozen=True, slots=True)
class FaceRows:
    """Faces as arrays: ids, the cluster each is in (-1: none), weights, embeddings."""

    ids: np.ndarray
    clusters: np.ndarray
    weights: np.ndarray
    embeddings: np.ndarray

    @classmethod
    def of(cls, rows: Sequence[Any]) -> FaceRows:
        if not rows:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32),
                       np.zeros((0, EMBEDDING_DIMENSION), np.float32))
        ids, clusters, weights, embeddings = zip(*rows, strict=True)
        return cls(np.array(ids, np.int64),
                   np.array([-1 if c is None else c for c in clusters], np.int64),
                   np.array(weights, np.float32), np.stack(embeddings).astype(np.float32))


def lock(session: Session, scope: Scope) -> None:
    """Serialise changes to one clustering until the transaction ends."""
    space = CAMERAS_LOCK_SPACE if scope.cameras else LOCK_SPACE
    key = (space << 32) | ((scope.event_id or 0) & 0x7FFFFFFF)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


# ---------------------------------------------------------------- reading faces

def faces(session: Session, scope: Scope, *, clusters: Sequence[int] | None = None,
          unclustered: bool = False, outside: Sequence[int] = ()) -> FaceRows:
    """The scope's faces: those of `clusters`, or the `unclustered` ones, or all of them
    but those of the `outside` clusters."""
    table = scope.faces
    query = select(table.id, table.cluster_id, table.weight, table.embedding).where(
        *scope.pool())
    if clusters is not None:
        query = query.where(table.cluster_id.in_(clusters))
    if unclustered:
        query = query.where(table.cluster_id.is_(None))
    if outside:
        query = query.where(table.cluster_id.is_(None) | table.cluster_id.not_in(outside))
    return FaceRows.of(session.execute(query.order_by(table.id)).all())


def face(session: Session, scope: Scope, face_id: int) -> Face:
    found = session.get(scope.faces, face_id)
    if not isinstance(found, Face):
        raise NotFound(f"face {face_id} does not exist")
    return found


def detach_departed(session: Session, scope: Scope) -> set[int]:
    """Take out of live clusters the faces that left the pool (a track tagged since, by
    review or enrollment; a sighting recognised as its face turned to the camera); the
    clusters they left."""
    table = scope.faces
    live = select(Cluster.id).where(*scope.clusters(), Cluster.status.in_(LIVE))
    session.execute(update(table).where(table.cluster_id.in_(live), not_(and_(*scope.pool())))
                    .values(cluster_id=None))
    return set(stale_clusters(session, scope))


def stale_clusters(session: Session, scope: Scope) -> list[int]:
    """Live clusters whose stored size is not their faces' count (faces left them: a
    rescan replaced the tracks, a track was tagged)."""
    table = scope.faces
    # One index count per cluster: a join over the whole table, planned on stale
    # statistics, took minutes at 100k faces (bench/cluster.py --tables database).
    faces = select(func.count()).where(table.cluster_id == Cluster.id).scalar_subquery()
    return list(session.scalars(select(Cluster.id).where(
        *scope.clusters(), Cluster.status.in_(LIVE), faces != Cluster.size)))


def exclusions(session: Session, scope: Scope) -> list[tuple[int, int]]:
    """(cluster, face) pairs that must not meet again."""
    excluded = EXCLUSIONS.c[EXCLUDED[scope.kind]]
    return [(c, f) for c, f in session.execute(
        select(EXCLUSIONS.c.cluster_id, excluded)
        .join(Cluster, Cluster.id == EXCLUSIONS.c.cluster_id)
        .where(*scope.clusters(), excluded.is_not(None)))]


# ---------------------------------------------------------------- clusters

def live_clusters(session: Session, scope: Scope) -> list[Cluster]:
    return list(session.scalars(select(Cluster).where(
        *scope.clusters(), Cluster.status.in_(LIVE)).order_by(Cluster.id)))


def settled_ids(session: Session, scope: Scope) -> list[int]:
    """The hidden and named clusters: a rebuild leaves them as they are."""
    return list(session.scalars(select(Cluster.id).where(
        *scope.clusters(), Cluster.status.in_((ClusterStatus.HIDDEN, ClusterStatus.NAMED)))))


def get_cluster(session: Session, cluster_id: int, *, lock_row: bool = False) -> Cluster:
    cluster = session.get(Cluster, cluster_id, with_for_update=lock_row)
    if cluster is None:
        raise NotFound(f"cluster {cluster_id} does not exist")
    return cluster


def create_clusters(session: Session, scope: Scope, count: int) -> list[int]:
    if count <= 0:
        return []
    assert scope.model is not None, "clusters are made for one model"
    return list(session.scalars(text("""
        INSERT INTO clusters (scope, event_id, model, weighted_sum)
        SELECT :scope, :event, :model, CAST(:zero AS vector) FROM generate_series(1, :count)
        RETURNING id"""), {
        "scope": scope.kind.value, "event": scope.event_id, "model": scope.model, "count": count,
        "zero": np.zeros(EMBEDDING_DIMENSION, np.float32)}))


def save_totals(session: Session, ids: Sequence[int], sums: np.ndarray,
                weights: np.ndarray, sizes: np.ndarray) -> None:
    """Store the clusters' weighted sums, weights and sizes."""
    if not len(ids):
        return
    session.execute(text("""
        UPDATE clusters SET weighted_sum = t.weighted_sum, weight = t.weight, size = t.size,
                            updated_at = now()
        FROM unnest(CAST(:ids AS bigint[]), CAST(:sums AS vector[]), CAST(:weights AS real[]),
                    CAST(:sizes AS int[])) AS t(id, weighted_sum, weight, size)
        WHERE clusters.id = t.id"""), {
        "ids": [int(i) for i in ids], "sums": [np.asarray(s, np.float32) for s in sums],
        "weights": [float(w) for w in weights], "sizes": [int(s) for s in sizes]})


def set_members(session: Session, scope: Scope, face_ids: Sequence[int] | np.ndarray,
                cluster_ids: Sequence[int | None]) -> None:
    """Put each face in its cluster (None: in none)."""
    if not len(face_ids):
        return
    table = scope.faces.__tablename__
    # Unchanged rows are left alone: an update rewrites the whole row and its vector
    # index entries (2-3 ms a face at 100k).
    session.execute(text(f"""
        UPDATE {table} SET cluster_id = t.cluster_id
        FROM unnest(CAST(:faces AS bigint[]), CAST(:clusters AS bigint[]))
             AS t(id, cluster_id)
        WHERE {table}.id = t.id AND {table}.cluster_id IS DISTINCT FROM t.cluster_id"""), {
        "faces": [int(f) for f in face_ids],
        "clusters": [None if c is None else int(c) for c in cluster_ids]})


def delete_clusters(session: Session, ids: Sequence[int]) -> None:
    if len(ids):
        session.execute(delete(Cluster).where(Cluster.id.in_([int(i) for i in ids])))


def exclude(session: Session, scope: Scope, cluster_id: int, face_id: int) -> None:
    session.execute(pg_insert(ClusterExclusion).values(cluster_id=cluster_id,
                                                 **{EXCLUDED[scope.kind]: face_id})
                    .on_conflict_do_nothing())


def move_exclusions(session: Session, scope: Scope, source_id: int, target_id: int) -> None:
    """The source cluster's exclusions become the target's."""
    name = EXCLUDED[scope.kind]
    session.execute(pg_insert(ClusterExclusion).from_select(
        ["cluster_id", name],
        select(literal(target_id, BigInteger), EXCLUSIONS.c[name])
        .where(EXCLUSIONS.c.cluster_id == source_id, EXCLUSIONS.c[name].is_not(None)))
        .on_conflict_do_nothing())


def page(session: Session, scope: Scope, *, status: ClusterStatus, limit: int, offset: int
         ) -> tuple[list[Cluster], int]:
    """The scope's clusters of this status, largest first."""
    where = [*scope.clusters(), Cluster.status == status, Cluster.size > 0]
    total = session.scalar(select(func.count()).select_from(Cluster).where(*where)) or 0
    rows = session.scalars(select(Cluster).where(*where)
                           .order_by(Cluster.size.desc(), Cluster.id).limit(limit)
                           .offset(offset))
    return list(rows), total


def best_faces(session: Session, scope: Scope, cluster_ids: Sequence[int], per_cluster: int
               ) -> dict[int, list[int]]:
    """The ids of each cluster's `per_cluster` heaviest faces, heaviest first."""
    table = scope.faces
    rank = func.row_number().over(partition_by=table.cluster_id,
                                  order_by=(table.weight.desc(), table.id)).label("rank")
    ranked = select(table.cluster_id, table.id, rank).where(
        table.cluster_id.in_(cluster_ids)).subquery()
    found: dict[int, list[int]] = {c: [] for c in cluster_ids}
    for cluster_id, face_id in session.execute(
            select(ranked.c.cluster_id, ranked.c.id).where(ranked.c.rank <= per_cluster)
            .order_by(ranked.c.cluster_id, ranked.c.rank)):
        found[cluster_id].append(face_id)
    return found


def video_spans(session: Session, cluster_ids: Sequence[int]
                ) -> dict[int, list[tuple[Video, int, int, int]]]:
    """Per cluster, the videos its tracks come from: (video, first ms, last ms, tracks)."""
    found: dict[int, list[tuple[Video, int, int, int]]] = {c: [] for c in cluster_ids}
    rows = session.execute(
        select(Track.cluster_id, Video, func.min(Track.first_ms), func.max(Track.last_ms),
               func.count()).join(Video, Video.id == Track.video_id)
        .where(Track.cluster_id.in_(cluster_ids))
        .group_by(Track.cluster_id, Video.id).order_by(Track.cluster_id, Video.id))
    for cluster_id, video, first, last, count in rows:
        assert cluster_id is not None
        found[cluster_id].append((video, first, last, count))
    return found


def camera_spans(session: Session, cluster_ids: Sequence[int]
                 ) -> dict[int, list[tuple[int, str, datetime, datetime, int]]]:
    """Per cluster, the streams its sightings come from: (stream, its name, first seen,
    last seen, sightings)."""
    found: dict[int, list[tuple[int, str, datetime, datetime, int]]] = {
        c: [] for c in cluster_ids}
    rows = session.execute(
        select(Sighting.cluster_id, Stream.id, Stream.name, func.min(Sighting.first_seen_at),
               func.max(Sighting.last_seen_at), func.count())
        .join(Stream, Stream.id == Sighting.stream_id)
        .where(Sighting.cluster_id.in_(cluster_ids))
        .group_by(Sighting.cluster_id, Stream.id).order_by(Sighting.cluster_id, Stream.id))
    for cluster_id, stream_id, name, first, last, count in rows:
        assert cluster_id is not None
        found[cluster_id].append((stream_id, name, first, last, count))
    return found


def _described(scope: Scope) -> Any:
    """The scope's faces with what names each: its photo's key, or its stream's name."""
    if scope.kind == ClusterScope.EVENT:
        return select(PhotoFace, Photo.photo_key).join(Photo, Photo.id == PhotoFace.photo_id)
    return select(Sighting, Stream.name).outerjoin(Stream, Stream.id == Sighting.stream_id)


def members(session: Session, scope: Scope, cluster_id: int, *, limit: int | None = None,
            offset: int = 0) -> list[Any]:
    """A cluster's faces, heaviest first: tracks, (photo face, photo key) or (sighting,
    stream name) pairs."""
    table = scope.faces
    order = (table.weight.desc(), table.id)
    if scope.kind == ClusterScope.VIDEOS:
        return list(session.scalars(select(Track).where(Track.cluster_id == cluster_id)
                                    .order_by(*order).limit(limit).offset(offset)))
    return list(session.execute(_described(scope).where(table.cluster_id == cluster_id)
                                .order_by(*order).limit(limit).offset(offset)))


def members_of(session: Session, scope: Scope, cluster_ids: Sequence[int], per_cluster: int
               ) -> dict[int, list[Any]]:
    """The `per_cluster` heaviest faces of each cluster, as `members` gives them."""
    found: dict[int, list[Any]] = {c: [] for c in cluster_ids}
    table = scope.faces
    ranked = select(table.id, func.row_number().over(
        partition_by=table.cluster_id, order_by=(table.weight.desc(), table.id)).label("rank")
    ).where(table.cluster_id.in_(cluster_ids)).subquery()
    chosen = select(ranked.c.id).where(ranked.c.rank <= per_cluster)
    order = (table.cluster_id, table.weight.desc(), table.id)
    if scope.kind == ClusterScope.VIDEOS:
        for track in session.scalars(select(Track).where(Track.id.in_(chosen)).order_by(*order)
                                     .options(defer(Track.embedding), defer(Track.crop_jpeg))):
            found[track.cluster_id or 0].append(track)
        return found
    for face, name in session.execute(
            _described(scope).where(table.id.in_(chosen)).order_by(*order)
            .options(defer(table.embedding), defer(table.crop_jpeg))):
        found[face.cluster_id or 0].append((face, name))
    return found


def best_detection(session: Session, track_id: int) -> Any:
    """The track's detection with the largest sharp face, for enrollment."""
    return session.execute(text(
        "SELECT id, bbox, det_score, quality, embedding, crop_jpeg FROM detections "
        "WHERE track_id = :track ORDER BY det_score * (quality->>'face_size')::float DESC "
        "LIMIT 1"), {"track": track_id}).first()
