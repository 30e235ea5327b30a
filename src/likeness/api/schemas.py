"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from likeness.api.validation import BigId, Days, Metadata, Text
from likeness.enums import (
    ClusterScope,
    ClusterStatus,
    Decision,
    PhotoSource,
    PhotoStatus,
    ReviewStatus,
    Role,
    TagSource,
    VideoStatus,
)

if TYPE_CHECKING:  # only the formatters' signatures: the schemas load with pydantic alone
    from likeness.engine import Face
    from likeness.services.clusters import ClusterFace, ClusterSummary, Named, Updated
    from likeness.services.events import EventSummary, Ingested, PhotoEntry
    from likeness.services.faces import Comparison
    from likeness.services.pages import Page
    from likeness.services.people import Enrolled, Merged, PersonSummary, Recognition
    from likeness.services.videos import ReviewEntry, VideoAdded, VideoDetail, VideoState
    from likeness.store.events import PhotoMatch
    from likeness.store.models import (
        ApiKey,
        AuditEntry,
        FaceRecord,
        PhotoFace,
        ShareLink,
        Video,
        VideoTag,
    )
    from likeness.store.people import Candidate


class ComponentOut(BaseModel):
    state: Literal["up", "starting", "down", "disabled"]
    required: bool = Field(description="The service cannot work while it is down")
    detail: str | None = None


class HealthOut(BaseModel):
    status: Literal["healthy", "starting", "unhealthy"] = Field(
        description="healthy: every required component is up (HTTP 200); else 503")
    version: str
    model: str | None = Field(description="The model pack, once loaded")
    onnx_providers: list[str]
    embedding_dimension: int | None
    det_size: list[int]
    vector_backend: Literal["pgvector", "milvus"] = Field(
        description="Which index answers vector searches (LIKENESS_VECTOR_BACKEND)")
    components: dict[str, ComponentOut] = Field(
        description="model, database, worker, watcher, grpc; vectors with Milvus")


class QualityOut(BaseModel):
    face_size: float = Field(description="Shorter side of the box, pixels")
    blur: float = Field(description="Variance of the Laplacian of the aligned crop; "
                                    "higher is sharper")
    yaw: float = Field(description="Degrees; > 0: the nose points to the image's right")
    pitch: float = Field(description="Degrees; > 0: the face looks up")
    roll: float = Field(description="Degrees; > 0: the eye line slopes down to the right")


class FaceOut(BaseModel):
    bbox: list[float] = Field(description="[x1, y1, x2, y2] in original-image pixels")
    embedding: list[float] | None = Field(
        description="512 floats, L2-normalised (cosine similarity = dot product); "
                    "null when include_embedding=false")
    det_score: float
    age: int | None = Field(description="Years; null when the pack has no genderage model")
    gender: str | None = Field(description="'F' or 'M'; null without a genderage model")
    landmarks: list[list[float]] = Field(
        description="5 points [x, y]: left eye, right eye, nose tip, mouth left, mouth right")
    quality: QualityOut

    @classmethod
    def from_face(cls, face: Face) -> FaceOut:
        q = face.quality
        return cls(
            bbox=face.box(),
            embedding=face.embedding.tolist() if face.embedding is not None else None,
            det_score=round(face.det_score, 4),
            age=face.age,
            gender=face.gender,
            landmarks=face.points(),
            quality=QualityOut(face_size=round(q.face_size, 1), blur=round(q.blur, 1),
                               yaw=round(q.yaw, 1), pitch=round(q.pitch, 1),
                               roll=round(q.roll, 1)),
        )


class DetectOut(BaseModel):
    faces: list[FaceOut]
    processing_time_ms: float
    image_width: int
    image_height: int


class ImageBase64In(BaseModel):
    image_base64: str = Field(description="The image file's bytes, base64-encoded; a "
                                          "'data:image/...;base64,' prefix is accepted",
                              max_length=40_000_000)


class PersonIn(BaseModel):
    name: Text = Field(min_length=1, max_length=200)
    external_id: Text | None = Field(None, max_length=200,
                                     description="Your own unique id for the person")
    metadata: Metadata = Field(default_factory=dict)


class PersonPatch(BaseModel):
    # null is not a name: refused (400), and not offered in the schema
    name: Annotated[Text, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
    external_id: Text | None = Field(None, max_length=200)
    metadata: Metadata | None = None


class PersonOut(BaseModel):
    id: int
    name: str
    external_id: str | None
    metadata: dict[str, Any]
    face_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, summary: PersonSummary) -> PersonOut:
        person = summary.person
        return cls(id=person.id, name=person.name, external_id=person.external_id,
                   metadata=person.attributes, face_count=summary.face_count,
                   created_at=person.created_at, updated_at=person.updated_at)


class PeoplePage(BaseModel):
    items: list[PersonOut]
    total: int
    limit: int
    offset: int


class MergeIn(BaseModel):
    source_id: BigId = Field(description="The person whose faces move; deleted afterwards")


class MergeOut(BaseModel):
    person: PersonOut
    moved_faces: int

    @classmethod
    def of(cls, merged: Merged) -> MergeOut:
        return cls(person=PersonOut.of(merged.person), moved_faces=merged.moved_faces)


class StoredFaceOut(BaseModel):
    id: int
    person_id: int
    model: str
    det_score: float
    bbox: list[float]
    landmarks: list[list[float]]
    quality: dict[str, float]
    image_sha256: str
    source_name: str | None
    created_at: datetime
    thumbnail_url: str

    @classmethod
    def from_record(cls, face: FaceRecord) -> StoredFaceOut:
        return cls(id=face.id, person_id=face.person_id, model=face.model,
                   det_score=face.det_score, bbox=face.bbox, landmarks=face.landmarks,
                   quality=face.quality, image_sha256=face.image_sha256.strip(),
                   source_name=face.source_name, created_at=face.created_at,
                   thumbnail_url=f"/faces/{face.id}/thumbnail")


class EnrolledOut(BaseModel):
    face: StoredFaceOut
    created: bool = Field(description="false: the person already had this image")


class RegisteredOut(EnrolledOut):
    person: PersonOut

    @classmethod
    def of(cls, enrolled: Enrolled) -> RegisteredOut:
        (enrollment,) = enrolled.enrollments
        return cls(person=PersonOut.of(enrolled.person),
                   face=StoredFaceOut.from_record(enrollment.face), created=True)


class CandidateOut(BaseModel):
    person_id: int
    name: str
    similarity: float

    @classmethod
    def of(cls, candidate: Candidate) -> CandidateOut:
        return cls(person_id=candidate.person_id, name=candidate.name,
                   similarity=round(candidate.similarity, 4))


class RecognizedFaceOut(BaseModel):
    bbox: list[float]
    det_score: float
    decision: Decision
    person: CandidateOut | None = Field(description="The person given to this face")
    candidates: list[CandidateOut]

    @classmethod
    def of(cls, result: Recognition) -> RecognizedFaceOut:
        return cls(bbox=result.face.box(), det_score=round(result.face.det_score, 4),
                   decision=result.decision,
                   person=CandidateOut.of(result.person) if result.person else None,
                   candidates=[CandidateOut.of(c) for c in result.candidates])


class RecognizeOut(BaseModel):
    faces: list[RecognizedFaceOut]
    processing_time_ms: float
    image_width: int
    image_height: int


class VerifyOut(BaseModel):
    similarity: float
    same_person: bool
    threshold: float

    @classmethod
    def of(cls, result: Comparison) -> VerifyOut:
        return cls(similarity=round(result.similarity, 4), same_person=result.same_person,
                   threshold=result.threshold)


class VideoPersonOut(BaseModel):
    person_id: int
    name: str
    confidence: float
    first_ms: int
    last_ms: int
    segments: list[list[int]] = Field(description="[start_ms, end_ms] spans")
    source: TagSource

    @classmethod
    def of(cls, tag: VideoTag, name: str) -> VideoPersonOut:
        return cls(name=name, **tag_fields(tag))


def tag_fields(tag: VideoTag) -> dict[str, Any]:
    return {"person_id": tag.person_id, "confidence": round(tag.confidence, 4),
            "first_ms": tag.first_ms, "last_ms": tag.last_ms, "segments": tag.segments,
            "source": tag.source}


class VideoOut(BaseModel):
    id: int
    source: str
    status: VideoStatus
    error: str | None
    duration_ms: int | None
    fps: float | None
    width: int | None
    height: int | None
    sample_fps: float
    keyframes: bool
    samples_done: int
    samples_total: int | None
    progress: float | None = Field(description="0..1, when the total is known")
    eta_s: float | None
    created_at: datetime
    finished_at: datetime | None
    people: list[VideoPersonOut] | None = None
    tracks: dict[str, int] | None = Field(None, description="tracks by status")

    @classmethod
    def of(cls, state: VideoState) -> VideoOut:
        video: Video = state.video
        return cls(id=video.id, source=video.source, status=video.status, error=video.error,
                   duration_ms=video.duration_ms, fps=video.fps, width=video.width,
                   height=video.height, sample_fps=video.sample_fps,
                   keyframes=video.keyframes, samples_done=video.samples_done,
                   samples_total=video.samples_total, progress=state.progress,
                   eta_s=state.eta_s, created_at=video.created_at,
                   finished_at=video.finished_at)

    @classmethod
    def detail(cls, detail: VideoDetail) -> VideoOut:
        out = cls.of(detail.state)
        out.people = [VideoPersonOut.of(tag, name) for tag, name in detail.people]
        out.tracks = detail.tracks
        return out


class VideoQueuedOut(BaseModel):
    video: VideoOut
    created: bool = Field(description="false: this content was already registered")
    job_id: int | None

    @classmethod
    def of(cls, added: VideoAdded) -> VideoQueuedOut:
        return cls(video=VideoOut.of(added.state), created=added.created,
                   job_id=added.job_id)


class VideoPage(BaseModel):
    items: list[VideoOut]
    total: int
    limit: int
    offset: int


class ReviewItemOut(BaseModel):
    id: int
    status: ReviewStatus
    video_id: int
    track_id: int
    person_id: int
    name: str
    similarity: float
    first_ms: int
    last_ms: int
    thumbnail_url: str

    @classmethod
    def of(cls, entry: ReviewEntry) -> ReviewItemOut:
        item, track = entry.item, entry.track
        return cls(id=item.id, status=item.status, video_id=track.video_id,
                   track_id=track.id, person_id=item.person_id, name=entry.name,
                   similarity=round(item.similarity, 4), first_ms=track.first_ms,
                   last_ms=track.last_ms, thumbnail_url=f"/tracks/{track.id}/thumbnail")


class ReviewPage(BaseModel):
    items: list[ReviewItemOut]
    total: int
    limit: int
    offset: int


class PersonVideoOut(VideoPersonOut):
    video_id: int
    video_source: str

    @classmethod
    def tagged(cls, name: str, tag: VideoTag, video: Video) -> PersonVideoOut:
        return cls(name=name, video_id=video.id, video_source=video.source,
                   **tag_fields(tag))


# ---------------------------------------------------------------- events and photos

class EventIn(BaseModel):
    name: Text = Field(min_length=1, max_length=200)
    metadata: Metadata = Field(default_factory=dict)


class EventOut(BaseModel):
    id: int
    name: str
    metadata: dict[str, Any]
    created_at: datetime
    photos: int
    faces: int

    @classmethod
    def of(cls, summary: EventSummary) -> EventOut:
        event = summary.event
        return cls(id=event.id, name=event.name, metadata=event.attributes,
                   created_at=event.created_at, photos=summary.photos, faces=summary.faces)


class EventPage(BaseModel):
    items: list[EventOut]
    total: int
    limit: int
    offset: int


class PhotoFaceOut(BaseModel):
    id: int
    bbox: list[float] | None = Field(description="[x1, y1, x2, y2]; null for a given "
                                                 "embedding")
    det_score: float | None

    @classmethod
    def of(cls, face: PhotoFace) -> PhotoFaceOut:
        return cls(id=face.id, bbox=face.bbox, det_score=face.det_score)


class PhotoOut(BaseModel):
    id: int = Field(description="Likeness's id of the photo (GET /photos/{id}/annotated)")
    photo_id: str = Field(description="The caller's id of the photo")
    event_id: int | None
    source: PhotoSource
    source_url: str | None
    status: PhotoStatus = Field(description="ready; pending while a URL is downloaded; "
                                            "failed")
    error: str | None
    width: int | None
    height: int | None
    faces: list[PhotoFaceOut]
    created_at: datetime

    @classmethod
    def of(cls, entry: PhotoEntry | Ingested) -> PhotoOut:
        photo = entry.photo
        return cls(id=photo.id, photo_id=photo.photo_key, event_id=photo.event_id,
                   source=photo.source, source_url=photo.source_url, status=photo.status,
                   error=photo.error, width=photo.width, height=photo.height,
                   created_at=photo.created_at,
                   faces=[PhotoFaceOut.of(f) for f in entry.faces])


class IngestedOut(BaseModel):
    photo: PhotoOut
    created: bool = Field(description="false: the event already held this photo_id")
    job_id: int | None = Field(None, description="The download job of an image_url")

    @classmethod
    def of(cls, ingested: Ingested) -> IngestedOut:
        return cls(photo=PhotoOut.of(ingested), created=ingested.created,
                   job_id=ingested.job_id)


class PhotoPage(BaseModel):
    items: list[PhotoOut]
    total: int
    limit: int
    offset: int


class PhotoMatchOut(BaseModel):
    photo: int = Field(description="Likeness's id of the photo")
    photo_id: str = Field(description="The caller's id of the photo")
    similarity: float = Field(description="Of the photo's face most like the query")
    bbox: list[float] | None = Field(description="That face's box")

    @classmethod
    def of(cls, match: PhotoMatch) -> PhotoMatchOut:
        return cls(photo=match.photo_id, photo_id=match.photo_key,
                   similarity=round(match.similarity, 5), bbox=match.bbox)


class MatchOut(BaseModel):
    threshold: float
    matches: list[PhotoMatchOut]


# ---------------------------------------------------------------- clusters

class ClusterVideoOut(BaseModel):
    video_id: int
    source: str
    first_ms: int = Field(description="The cluster's first appearance in the video")
    last_ms: int
    tracks: int


class ClusterCameraOut(BaseModel):
    stream_id: int
    stream: str = Field(description="The stream's name")
    first_seen_at: datetime = Field(description="The cluster's first sighting on it")
    last_seen_at: datetime
    sightings: int


class ClusterOut(BaseModel):
    id: int
    scope: ClusterScope = Field(description=(
        "videos: unknown tracks of videos; event: an event's photo faces; cameras: unknown "
        "sightings of camera streams"))
    event_id: int | None = Field(description="The event of an event's cluster")
    status: ClusterStatus
    size: int = Field(description="Faces: tracks of videos, faces of event photos, or "
                                  "sightings")
    person_id: int | None = Field(description="The person a named cluster was given")
    faces: list[int] = Field(description="A few of its best faces' ids")
    thumbnail_urls: list[str]
    videos: list[ClusterVideoOut] = Field(description="Where a video cluster appears")
    cameras: list[ClusterCameraOut] = Field(description="Where a camera cluster was seen")

    @classmethod
    def of(cls, cluster: ClusterSummary) -> ClusterOut:
        return cls(id=cluster.id, scope=cluster.scope, event_id=cluster.event_id,
                   status=cluster.status, size=cluster.size, person_id=cluster.person_id,
                   faces=cluster.faces,
                   thumbnail_urls=[f"/clusters/{cluster.id}/faces/{face}/thumbnail"
                                   for face in cluster.faces],
                   videos=[ClusterVideoOut(video_id=v.video_id, source=v.source,
                                           first_ms=v.first_ms, last_ms=v.last_ms,
                                           tracks=v.tracks) for v in cluster.videos],
                   cameras=[ClusterCameraOut(stream_id=c.stream_id, stream=c.stream,
                                             first_seen_at=c.first_seen_at,
                                             last_seen_at=c.last_seen_at,
                                             sightings=c.sightings) for c in cluster.cameras])


class ClusterPage(BaseModel):
    items: list[ClusterOut]
    total: int
    limit: int
    offset: int


class ClusterFaceOut(BaseModel):
    id: int = Field(description="A track's id (videos), a photo face's id (events) or a "
                                "sighting's id (cameras)")
    weight: float = Field(description="Its quality weight, 0-1: size, sharpness, pose")
    thumbnail_url: str
    video_id: int | None = None
    first_ms: int | None = None
    last_ms: int | None = None
    photo: int | None = Field(None, description="Likeness's id of the event photo")
    photo_id: str | None = Field(None, description="The caller's id of the event photo")
    bbox: list[float] | None = Field(None, description="The face in its photo")
    stream_id: int | None = Field(None, description="The stream a sighting was on")
    stream: str | None = Field(None, description="That stream's name")
    first_seen_at: datetime | None = Field(None, description="A sighting's first frame")
    last_seen_at: datetime | None = None

    @classmethod
    def of(cls, cluster_id: int, face: ClusterFace) -> ClusterFaceOut:
        return cls(id=face.id, weight=round(face.weight, 3),
                   thumbnail_url=f"/clusters/{cluster_id}/faces/{face.id}/thumbnail",
                   video_id=face.video_id, first_ms=face.first_ms, last_ms=face.last_ms,
                   photo=face.photo_id, photo_id=face.photo_key, bbox=face.bbox,
                   stream_id=face.stream_id, stream=face.stream,
                   first_seen_at=face.first_seen_at, last_seen_at=face.last_seen_at)


class ClusterFacePage(BaseModel):
    items: list[ClusterFaceOut]
    total: int
    limit: int
    offset: int


class EventClusterOut(BaseModel):
    id: int
    status: ClusterStatus
    size: int
    person_id: int | None
    faces: list[ClusterFaceOut] = Field(description="Its faces, best first (at most "
                                                    "faces_per_cluster)")

    @classmethod
    def of(cls, cluster: ClusterSummary, faces: list[ClusterFace]) -> EventClusterOut:
        return cls(id=cluster.id, status=cluster.status, size=cluster.size,
                   person_id=cluster.person_id,
                   faces=[ClusterFaceOut.of(cluster.id, face) for face in faces])


class EventClusterPage(BaseModel):
    items: list[EventClusterOut]
    total: int
    limit: int
    offset: int


class NewPersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=200, description="A new person's name")


class ExistingPersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person_id: BigId = Field(description="An enrolled person")


class NamedOut(BaseModel):
    cluster_id: int
    person_id: int
    name: str
    created: bool = Field(description="A new person was created")
    enrolled: int = Field(description="Faces added to the person's gallery")
    refused: int = Field(description="Best faces below the enrollment gates, skipped")
    videos: list[int] = Field(description="Videos tagged with the person")
    sightings: int = Field(0, description="Camera sightings relabelled as the person")

    @classmethod
    def of(cls, named: Named) -> NamedOut:
        return cls(cluster_id=named.cluster_id, person_id=named.person_id, name=named.name,
                   created=named.created, enrolled=named.enrolled, refused=named.refused,
                   videos=named.videos, sightings=named.sightings)


class ClusterMergeIn(BaseModel):
    cluster_id: BigId = Field(description="The cluster whose faces move; deleted "
                                          "afterwards")


class ClusterPatch(BaseModel):
    hidden: bool = Field(description="Hide a cluster not worth naming (posters, "
                                     "crowds), or show it again")


class ClusteringQueuedOut(BaseModel):
    job_id: int | None = Field(description="null: a pass was already queued; it will "
                                           "see the new faces too")


class ClusteringOut(BaseModel):
    faces: int = Field(description="Faces considered")
    joined: int = Field(description="Of them, put into existing clusters")
    formed: int = Field(description="New clusters")
    clustered: int = Field(description="Faces in a live cluster now")

    @classmethod
    def of(cls, updated: Updated) -> ClusteringOut:
        return cls(faces=updated.faces, joined=updated.joined, formed=updated.formed,
                   clustered=updated.clustered)


def page_of(kind: Any, page: Page[Any], item: Any) -> Any:
    """A page of results as the page schema `kind`, each item formatted by `item`."""
    return kind(items=[item(x) for x in page.items], total=page.total, limit=page.limit,
                offset=page.offset)


# ---------------------------------------------------------------- access control

class LoginOut(BaseModel):
    username: str
    role: Role
    csrf_token: str = Field(description="Send it as X-CSRF-Token with every write made "
                                        "with the session cookie")
    expires_at: datetime


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class ApiKeyIn(BaseModel):
    name: Text = Field(min_length=1, max_length=200)
    role: Role
    event_id: BigId | None = Field(None, description="Limit the key to this event")


class ApiKeyOut(BaseModel):
    id: int
    name: str
    role: Role
    event_id: int | None
    prefix: str = Field(description="The key's first characters, to recognise it")
    created_by: str | None
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(id=key.id, name=key.name, role=key.role, event_id=key.event_id,
                   prefix=key.prefix, created_by=key.created_by, created_at=key.created_at,
                   last_used_at=key.last_used_at)


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(description="The key itself: shown this once, stored only as a hash")


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="key ID (name) or user ID (username)")
    action: str = Field(description="The operation, e.g. delete_person")
    target: str | None = Field(description="Its path parameters, e.g. person_id=4")
    status: int

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(id=entry.id, at=entry.at, actor=entry.actor, action=entry.action,
                   target=entry.target, status=entry.status)


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    total: int
    limit: int
    offset: int


class ShareLinkIn(BaseModel):
    expires_in_days: Days | None = Field(
        30, description="Days until the link stops working; null: never")


class ShareLinkOut(BaseModel):
    id: int
    event_id: int
    prefix: str
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked: bool

    @classmethod
    def of(cls, link: ShareLink) -> ShareLinkOut:
        return cls(id=link.id, event_id=link.event_id, prefix=link.prefix,
                   created_by=link.created_by, created_at=link.created_at,
                   expires_at=link.expires_at, revoked=link.revoked_at is not None)


class NewShareLinkOut(BaseModel):
    id: int
    token: str = Field(description="Shown this once, stored only as a hash")
    url: str = Field(description="The guest page: /share/{token}")
    expires_at: datetime | None


class SharedEventOut(BaseModel):
    event: str = Field(description="The event's name")
    photos: int
    match_url: str = Field(description="POST a selfie here (multipart field file)")


class SharedPhotoOut(BaseModel):
    similarity: float
    image_url: str = Field(description="The photo, through the same link")


class SharedMatchOut(BaseModel):
    photos: list[SharedPhotoOut]


# ---------------------------------------------------------------- notifications

WebhookEvent = Literal["sighting", "video.tagged", "review.created", "cluster.named"]


class WebhookIn(BaseModel):
    url: Text = Field(min_length=1, max_length=2048, description=(
        "http(s) URL the events are POSTed to; its host must resolve to public addresses "
        "only, unless allow_private"))
    events: list[WebhookEvent] = Field(min_length=1, max_length=20,
                                       description="The events to send to it")
    allow_private: bool = Field(False, description=(
        "Allow private, loopback and link-local addresses for this webhook (a receiver "
        "on the same network)"))


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    allow_private: bool
    created_by: str | None
    created_at: datetime

    @classmethod
    def of(cls, webhook: Any) -> WebhookOut:  # a store.models.Webhook
        return cls(id=webhook.id, url=webhook.url, events=list(webhook.events),
                   allow_private=webhook.allow_private, created_by=webhook.created_by,
                   created_at=webhook.created_at)


class NewWebhookOut(WebhookOut):
    secret: str = Field(description=(
        "The signing secret, shown this once: X-Likeness-Signature is sha256= and the hex "
        "HMAC-SHA256 of the request body keyed with this string"))


class WebhookDeliveryOut(BaseModel):
    id: int = Field(description="Also sent as X-Likeness-Delivery: a receiver that sees it "
                                "twice has the same delivery again")
    webhook_id: int
    event: str
    status: Literal["pending", "delivered", "failed"] = Field(
        description="pending: being tried (again, after a backoff); failed: given up")
    attempts: int
    response_status: int | None = Field(description="The receiver's last HTTP status")
    error: str | None = Field(description="Why the last attempt failed")
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="The body sent: event, id, created_at, data")

    @classmethod
    def of(cls, delivery: Any) -> WebhookDeliveryOut:  # a store.models.WebhookDelivery
        return cls(id=delivery.id, webhook_id=delivery.webhook_id, event=delivery.event,
                   status=delivery.status, attempts=delivery.attempts,
                   response_status=delivery.response_status, error=delivery.error,
                   created_at=delivery.created_at, delivered_at=delivery.delivered_at,
                   payload=delivery.payload)


class WebhookDeliveryPage(BaseModel):
    items: list[WebhookDeliveryOut]
    total: int
    limit: int
    offset: int


# ---------------------------------------------------------------- camera streams

class StreamIn(BaseModel):
    name: Text = Field(min_length=1, max_length=200, description="The camera's name")
    url: Text = Field(min_length=1, max_length=2048, description=(
        "rtsp:// or rtsps:// (any address: cameras live on local networks), http(s):// "
        "(HLS, MJPEG, MP4; public addresses only unless LIKENESS_FETCH_ALLOW_PRIVATE), or "
        "an absolute file path on the server (when LIKENESS_ALLOW_SERVER_PATHS)"))
    fps: float | None = Field(None, gt=0, le=30, description=(
        "Frames analysed per second (default 5)"))


class SeenPersonOut(BaseModel):
    person_id: int
    name: str
    last_seen_at: datetime


class StreamOut(BaseModel):
    id: int
    name: str
    url: str = Field(description="With its password hidden")
    fps: float
    status: Literal["starting", "up", "reconnecting", "down"] = Field(description=(
        "starting: waiting for a worker or its first frame; up: frames arriving; "
        "reconnecting: the camera dropped, tried again with backoff; down: ended, or no "
        "worker runs it"))
    error: str | None = Field(description="Why it is reconnecting or down")
    frames: int = Field(description="Frames analysed")
    last_frame_at: datetime | None
    created_at: datetime
    people: list[SeenPersonOut] = Field(description="The people last seen on it, latest "
                                                    "first")

    @classmethod
    def of(cls, state: Any) -> StreamOut:  # a services.streams.StreamState
        stream = state.stream
        return cls(id=stream.id, name=stream.name, url=state.url, fps=stream.fps,
                   status=state.status, error=state.error, frames=stream.frames,
                   last_frame_at=stream.last_frame_at, created_at=stream.created_at,
                   people=[SeenPersonOut(person_id=p.person_id, name=p.name,
                                         last_seen_at=p.last_seen_at) for p in state.people])


class StreamPage(BaseModel):
    items: list[StreamOut]
    total: int
    limit: int
    offset: int


class SightingOut(BaseModel):
    id: int
    stream_id: int | None
    stream: str | None = Field(description="The stream's name")
    person_id: int | None = Field(description="The person matched (decision match) or "
                                              "proposed (review); null: unknown")
    name: str | None = Field(description="The person's name")
    decision: Decision
    similarity: float | None = Field(description="To the best candidate person")
    first_seen_at: datetime
    last_seen_at: datetime
    detections: int = Field(description="Frames the face was found in")
    weight: float = Field(description="Quality of its best face, 0..1")
    thumbnail_url: str

    @classmethod
    def of(cls, entry: Any) -> SightingOut:  # a services.streams.SightingEntry
        sighting = entry.sighting
        return cls(id=sighting.id, stream_id=sighting.stream_id, stream=entry.stream,
                   person_id=sighting.person_id, name=entry.name, decision=sighting.decision,
                   similarity=sighting.similarity, first_seen_at=sighting.first_seen_at,
                   last_seen_at=sighting.last_seen_at, detections=sighting.detections,
                   weight=sighting.weight, thumbnail_url=f"/sightings/{sighting.id}/thumbnail")


class SightingPage(BaseModel):
    items: list[SightingOut]
    total: int
    limit: int
    offset: int
