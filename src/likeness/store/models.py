"""SQLAlchemy models. The schema itself is created by the Alembic migrations."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy import Enum as SQLEnum
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from likeness.enums import (
    ClusterScope,
    ClusterStatus,
    Decision,
    DeliveryStatus,
    PhotoSource,
    PhotoStatus,
    ReviewStatus,
    Role,
    StreamStatus,
    TagSource,
    TrackStatus,
    VideoStatus,
)

EMBEDDING_DIMENSION = 512


def _states(kind: type[StrEnum], length: int) -> SQLEnum:
    """A varchar column read and written as `kind` (its CHECK constraint: migration 0004)."""
    return SQLEnum(kind, native_enum=False, create_constraint=False, length=length,
                   values_callable=lambda members: [m.value for m in members])


class Base(DeclarativeBase):
    pass


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    attributes: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now(),
                                                 onupdate=func.now())


class FaceRecord(Base):
    """One enrolled face of a person: its embedding and where it came from."""

    __tablename__ = "faces"
    __table_args__ = (UniqueConstraint("person_id", "image_sha256",
                                       name="faces_person_image_key"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    embedding: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIMENSION))
    model: Mapped[str] = mapped_column(String(100))
    det_score: Mapped[float] = mapped_column(Float)
    bbox: Mapped[list[float]] = mapped_column(JSONB)
    landmarks: Mapped[list[list[float]]] = mapped_column(JSONB)
    quality: Mapped[dict[str, float]] = mapped_column(JSONB)
    image_sha256: Mapped[str] = mapped_column(String(64))
    source_name: Mapped[str | None] = mapped_column(String(500))
    crop_jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class Video(Base):
    __tablename__ = "videos"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    source: Mapped[str] = mapped_column(String(1000))  # what the caller named it
    path: Mapped[str | None] = mapped_column(String(1000))  # a file on the server, or
    location: Mapped[str | None] = mapped_column(Text)  # an upload in object storage
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[VideoStatus] = mapped_column(_states(VideoStatus, 20),
                                                default=VideoStatus.QUEUED)
    error: Mapped[str | None] = mapped_column(Text)
    sample_fps: Mapped[float] = mapped_column(Float)
    keyframes: Mapped[bool] = mapped_column(Boolean)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    fps: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    samples_total: Mapped[int | None] = mapped_column(Integer)
    samples_done: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class Track(Base):
    """Detections of one face followed through consecutive samples."""

    __tablename__ = "tracks"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(100))
    first_ms: Mapped[int] = mapped_column(Integer)
    last_ms: Mapped[int] = mapped_column(Integer)
    detections: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIMENSION))
    status: Mapped[TrackStatus] = mapped_column(_states(TrackStatus, 10))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id",
                                                             ondelete="SET NULL"))
    similarity: Mapped[float | None] = mapped_column(Float)
    crop_jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id",
                                                              ondelete="SET NULL"))
    weight: Mapped[float] = mapped_column(Float, default=1.0)  # clustering.face_weight


class VideoTag(Base):
    __tablename__ = "video_tags"

    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"),
                                          primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"),
                                           primary_key=True)
    confidence: Mapped[float] = mapped_column(Float)
    first_ms: Mapped[int] = mapped_column(Integer)
    last_ms: Mapped[int] = mapped_column(Integer)
    segments: Mapped[list[list[int]]] = mapped_column(JSONB)
    source: Mapped[TagSource] = mapped_column(_states(TagSource, 10))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class ReviewItem(Base):
    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    similarity: Mapped[float] = mapped_column(Float)
    status: Mapped[ReviewStatus] = mapped_column(_states(ReviewStatus, 10),
                                                 default=ReviewStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Event(Base):
    """A set of photos searched together and never with another event's."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    attributes: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class Photo(Base):
    """A photo of an event, or one processed on its own (gRPC ProcessPhoto)."""

    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    photo_key: Mapped[str] = mapped_column(String(500))  # the caller's photo id
    source: Mapped[PhotoSource] = mapped_column(_states(PhotoSource, 20))
    source_url: Mapped[str | None] = mapped_column(Text)
    image_sha256: Mapped[str | None] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[PhotoStatus] = mapped_column(_states(PhotoStatus, 20),
                                                default=PhotoStatus.READY)
    error: Mapped[str | None] = mapped_column(Text)
    original_location: Mapped[str | None] = mapped_column(Text)  # in object storage
    annotated_location: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now(),
                                                 onupdate=func.now())


class PhotoFace(Base):
    __tablename__ = "photo_faces"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    embedding: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIMENSION))
    model: Mapped[str] = mapped_column(String(100))
    det_score: Mapped[float | None] = mapped_column(Float)  # None: a given embedding
    bbox: Mapped[list[float] | None] = mapped_column(JSONB)
    landmarks: Mapped[list[list[float]] | None] = mapped_column(JSONB)
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id",
                                                              ondelete="SET NULL"))
    weight: Mapped[float] = mapped_column(Float, default=1.0)  # clustering.face_weight
    crop_jpeg: Mapped[bytes | None] = mapped_column(LargeBinary)  # None: a given embedding


class Cluster(Base):
    """Unknown faces that look like one person: video tracks, the photo faces of one
    event (event_id), or camera sightings, as `scope` says. The weighted sum of its faces'
    embeddings, their total weight and count are what incremental assignment compares new
    faces with."""

    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    scope: Mapped[ClusterScope] = mapped_column(_states(ClusterScope, 10),
                                                default=ClusterScope.VIDEOS)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(100))
    status: Mapped[ClusterStatus] = mapped_column(_states(ClusterStatus, 10),
                                                  default=ClusterStatus.OPEN)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id",
                                                             ondelete="SET NULL"))
    size: Mapped[int] = mapped_column(Integer, default=0)
    weight: Mapped[float] = mapped_column(Float, default=0.0)
    weighted_sum: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIMENSION))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now(),
                                                 onupdate=func.now())


class ClusterExclusion(Base):
    """A face taken out of a cluster: it never joins that cluster again."""

    __tablename__ = "cluster_exclusions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    track_id: Mapped[int | None] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    photo_face_id: Mapped[int | None] = mapped_column(ForeignKey("photo_faces.id",
                                                                 ondelete="CASCADE"))
    sighting_id: Mapped[int | None] = mapped_column(ForeignKey("sightings.id",
                                                               ondelete="CASCADE"))


class Stream(Base):
    """A camera (RTSP, HTTP/HLS or a file) that a worker reads and recognises live."""

    __tablename__ = "streams"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    fps: Mapped[float] = mapped_column(Float)
    status: Mapped[StreamStatus] = mapped_column(_states(StreamStatus, 20),
                                                 default=StreamStatus.STARTING)
    error: Mapped[str | None] = mapped_column(Text)
    frames: Mapped[int] = mapped_column(BigInteger, default=0)
    last_frame_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class Sighting(Base):
    """A face seen on a stream: a person (or an unknown face) from first to last seen."""

    __tablename__ = "sightings"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    stream_id: Mapped[int | None] = mapped_column(ForeignKey("streams.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    decision: Mapped[Decision] = mapped_column(_states(Decision, 10))
    similarity: Mapped[float | None] = mapped_column(Float)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    detections: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(100))
    embedding: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIMENSION))
    weight: Mapped[float] = mapped_column(Float, default=1.0)  # clustering.face_weight
    crop_jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    # Its best face, for the enrollment gates when its cluster is named (None: recorded
    # before migration 0009).
    det_score: Mapped[float | None] = mapped_column(Float)
    bbox: Mapped[list[float] | None] = mapped_column(JSONB)
    quality: Mapped[dict[str, float] | None] = mapped_column(JSONB)
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id",
                                                              ondelete="SET NULL"))


class Webhook(Base):
    """Where events are POSTed, signed with HMAC-SHA256."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSONB)
    allow_private: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[DeliveryStatus] = mapped_column(_states(DeliveryStatus, 10),
                                                   default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id
    role: Mapped[Role] = mapped_column(_states(Role, 10))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                          server_default=func.now())


class UserSession(Base):
    """A login: the cookie's token is kept only as its sha256."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    """A program's key: shown once, kept only as its sha256 (keys are 256 random bits, so
    a fast hash is as safe as a slow one, and a lookup by hash takes constant time)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))  # the key's first characters
    key_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[Role] = mapped_column(_states(Role, 10))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ShareLink(Base):
    """A guest's way into one event: the token is kept only as its sha256."""

    __tablename__ = "share_links"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(300))  # "key 3 (ci)", "user alice"
    action: Mapped[str] = mapped_column(String(100))  # the operation, e.g. delete_person
    target: Mapped[str | None] = mapped_column(String(300))  # e.g. "person_id=4"
    status: Mapped[int] = mapped_column(Integer)


class ServerSecret(Base):
    """A random key of the server's (the webhooks' signing key), shared by its processes."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
