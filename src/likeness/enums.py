"""The closed sets of values that every layer shares. The database holds the same values
under CHECK constraints (migrations 0004 and later); tests/store checks the two agree."""

from __future__ import annotations

from enum import StrEnum


class VideoStatus(StrEnum):
    QUEUED = "queued"
    SCANNING = "scanning"
    DONE = "done"
    FAILED = "failed"


class Decision(StrEnum):
    """What 1:N recognition concluded about one face."""

    MATCH = "match"  # confident: the person
    REVIEW = "review"  # worth a person's look
    UNKNOWN = "unknown"


class TrackStatus(StrEnum):
    TAGGED = "tagged"
    REVIEW = "review"
    UNKNOWN = "unknown"


class ReviewStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class TagSource(StrEnum):
    """How a person came to be tagged in a video."""

    SCAN = "scan"
    REVIEW = "review"
    RETRO = "retro"  # found later, when the person was enrolled
    CLUSTER = "cluster"  # a cluster of unknown faces was named


class ClusterStatus(StrEnum):
    OPEN = "open"  # unknown faces waiting for a name
    HIDDEN = "hidden"  # not worth naming (posters, crowds); still attracts its look-alikes
    NAMED = "named"  # its faces belong to a person now


class ClusterScope(StrEnum):
    """Which clustering a cluster belongs to; clusterings never mix."""

    VIDEOS = "videos"  # the unknown tracks of every scanned video
    EVENT = "event"  # the photo faces of one event
    CAMERAS = "cameras"  # the unknown sightings of every camera stream


class StreamStatus(StrEnum):
    STARTING = "starting"
    UP = "up"  # frames arriving
    RECONNECTING = "reconnecting"  # the camera dropped: trying again, with backoff
    DOWN = "down"  # given up, or no worker runs it


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed


class PhotoSource(StrEnum):
    UPLOAD = "upload"
    URL = "url"
    EMBEDDING = "embedding"


class PhotoStatus(StrEnum):
    PENDING = "pending"  # a URL waiting for its download
    READY = "ready"
    FAILED = "failed"


class Role(StrEnum):
    """What a user or an API key may do; each role may do what the ones below it may."""

    VIEWER = "viewer"  # read and recognize
    EDITOR = "editor"  # also enroll, delete, review, scan, ingest
    ADMIN = "admin"  # also API keys, users and the audit log

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


# table.column: the enumeration its CHECK constraint holds.
CHECKED_COLUMNS: dict[str, type[StrEnum]] = {
    "videos.status": VideoStatus,
    "tracks.status": TrackStatus,
    "review_items.status": ReviewStatus,
    "video_tags.source": TagSource,
    "photos.source": PhotoSource,
    "clusters.status": ClusterStatus,
    "clusters.scope": ClusterScope,
    "streams.status": StreamStatus,
    "sightings.decision": Decision,
    "webhook_deliveries.status": DeliveryStatus,
    "photos.status": PhotoStatus,
    "users.role": Role,
    "api_keys.role": Role,
}
