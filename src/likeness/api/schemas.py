"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from likeness.engine import Face


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
            bbox=[round(float(v), 2) for v in face.bbox],
            embedding=face.embedding.tolist() if face.embedding is not None else None,
            det_score=round(face.det_score, 4),
            age=face.age,
            gender=face.gender,
            landmarks=[[round(float(x), 2), round(float(y), 2)] for x, y in face.landmarks],
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
