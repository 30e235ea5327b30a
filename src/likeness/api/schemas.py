"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from likeness.engine import Face
from likeness.store.models import FaceRecord, Person


class HealthOut(BaseModel):
    status: str = "healthy"
    version: str
    model: str
    onnx_providers: list[str]
    embedding_dimension: int
    det_size: list[int]


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
                                          "'data:image/...;base64,' prefix is accepted")


class PersonIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    external_id: str | None = Field(None, max_length=200,
                                    description="Your own unique id for the person")
    metadata: dict[str, Any] = Field(default_factory=dict)


class PersonPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    external_id: str | None = Field(None, max_length=200)
    metadata: dict[str, Any] | None = None


class PersonOut(BaseModel):
    id: int
    name: str
    external_id: str | None
    metadata: dict[str, Any]
    face_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_person(cls, person: Person, face_count: int) -> PersonOut:
        return cls(id=person.id, name=person.name, external_id=person.external_id,
                   metadata=person.attributes, face_count=face_count,
                   created_at=person.created_at, updated_at=person.updated_at)


class PeoplePage(BaseModel):
    items: list[PersonOut]
    total: int
    limit: int
    offset: int


class MergeIn(BaseModel):
    source_id: int = Field(description="The person whose faces move; deleted afterwards")


class MergeOut(BaseModel):
    person: PersonOut
    moved_faces: int


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


class CandidateOut(BaseModel):
    person_id: int
    name: str
    similarity: float


class RecognizedFaceOut(BaseModel):
    bbox: list[float]
    det_score: float
    decision: str = Field(description="match | review | unknown")
    person: CandidateOut | None = Field(description="The person given to this face")
    candidates: list[CandidateOut]


class RecognizeOut(BaseModel):
    faces: list[RecognizedFaceOut]
    processing_time_ms: float
    image_width: int
    image_height: int


class VerifyOut(BaseModel):
    similarity: float
    same_person: bool
    threshold: float


class VideoPersonOut(BaseModel):
    person_id: int
    name: str
    confidence: float
    first_ms: int
    last_ms: int
    segments: list[list[int]] = Field(description="[start_ms, end_ms] spans")
    source: str = Field(description="scan | review | retro")


class VideoOut(BaseModel):
    id: int
    source: str
    status: str = Field(description="queued | scanning | done | failed")
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


class VideoQueuedOut(BaseModel):
    video: VideoOut
    created: bool = Field(description="false: this content was already registered")
    job_id: int | None


class VideoPage(BaseModel):
    items: list[VideoOut]
    total: int
    limit: int
    offset: int


class ReviewItemOut(BaseModel):
    id: int
    status: str
    video_id: int
    track_id: int
    person_id: int
    name: str
    similarity: float
    first_ms: int
    last_ms: int
    thumbnail_url: str


class ReviewPage(BaseModel):
    items: list[ReviewItemOut]
    total: int
    limit: int
    offset: int


class PersonVideoOut(VideoPersonOut):
    video_id: int
    video_source: str


# ---------------------------------------------------------------- events and photos

class EventIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)


class EventOut(BaseModel):
    id: int
    name: str
    metadata: dict[str, Any]
    created_at: datetime
    photos: int
    faces: int


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


class PhotoOut(BaseModel):
    id: int = Field(description="Likeness's id of the photo (GET /photos/{id}/annotated)")
    photo_id: str = Field(description="The caller's id of the photo")
    event_id: int | None
    source: str = Field(description="upload, url or embedding")
    source_url: str | None
    status: str = Field(description="ready; pending while a URL is downloaded; failed")
    error: str | None
    width: int | None
    height: int | None
    faces: list[PhotoFaceOut]
    created_at: datetime


class IngestedOut(BaseModel):
    photo: PhotoOut
    created: bool = Field(description="false: the event already held this photo_id")
    job_id: int | None = Field(None, description="The download job of an image_url")


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


class MatchOut(BaseModel):
    threshold: float
    matches: list[PhotoMatchOut]
