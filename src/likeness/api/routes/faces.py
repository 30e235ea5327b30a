"""Stateless face endpoints: health, detect, extract-embedding."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from likeness import __version__
from likeness.api.auth import VIEWER
from likeness.api.deps import EngineDep, SettingsDep
from likeness.api.errors import COMMON, IMAGE
from likeness.api.schemas import ComponentOut, DetectOut, FaceOut, HealthOut, ImageBase64In
from likeness.api.supervisor import Supervisor
from likeness.engine import FaceEngine
from likeness.errors import InvalidInput
from likeness.media import ImageLimits
from likeness.services.faces import DetectOptions, detect_in_bytes
from likeness.store import vectors

router = APIRouter(tags=["faces"], responses=COMMON)


def detect_options(
    max_faces: Annotated[int, Query(ge=0, le=1000,
                                    description="Keep the N largest faces; 0 = all")] = 0,
    min_face_size: Annotated[float, Query(
        ge=0, le=100_000, description="Drop faces whose shorter box side is below this, "
                                      "pixels")] = 0,
    include_embedding: Annotated[bool, Query(description="Compute embeddings")] = True,
) -> DetectOptions:
    return DetectOptions(max_faces, min_face_size, include_embedding)


OptionsDep = Annotated[DetectOptions, Depends(detect_options)]


def _limits(settings: SettingsDep) -> ImageLimits:
    return ImageLimits(settings.max_upload_bytes, settings.max_image_pixels)


LimitsDep = Annotated[ImageLimits, Depends(_limits)]


@router.get("/health", response_model=HealthOut, responses={
    503: {"model": HealthOut, "description": "A required component (the model or the "
                                             "database) is not up"}})
def health(request: Request, settings: SettingsDep) -> JSONResponse:
    """Each component's state; 200 when the model and the database are up, else 503."""
    supervisor: Supervisor = request.app.state.supervisor
    states = supervisor.report()
    required = [s for s in states.values() if s.required]
    status: Literal["healthy", "starting", "unhealthy"]
    status = "healthy" if all(s.state == "up" for s in required) else (
        "starting" if any(s.state == "starting" for s in required) and
        not any(s.state == "down" for s in required) else "unhealthy")
    engine = supervisor.holder.engine
    body = HealthOut(
        status=status, version=__version__,
        model=engine.model_name if engine else None,
        onnx_providers=engine.providers if engine else [],
        embedding_dimension=engine.embedding_dimension if engine else None,
        det_size=list(engine.det_size if engine else settings.det_size),
        vector_backend=settings.vector_backend,
        components={name: ComponentOut(state=s.state, required=s.required, detail=s.detail)
                    for name, s in states.items()})
    if settings.vector_backend == "milvus" and states["database"].state == "up":
        body.components["vectors"] = _vector_index(supervisor)
    return JSONResponse(body.model_dump(mode="json"),
                        status_code=200 if status == "healthy" else 503)


def _vector_index(supervisor: Supervisor) -> ComponentOut:
    """The external vector index: reachable or not, its rows and the outbox's backlog
    (not required: unreachable, searches fall back to pgvector)."""
    up, detail = vectors.health(supervisor.database.engine)
    return ComponentOut(state="up" if up else "down", required=False, detail=detail)


@router.post("/detect", dependencies=[VIEWER], response_model=DetectOut, responses=IMAGE)
async def detect(engine: EngineDep, limits: LimitsDep, options: OptionsDep,
                 file: Annotated[UploadFile, File(description="The image")]) -> DetectOut:
    """Every face in the uploaded image, largest first. No face: 200 with `faces: []`."""
    return await _detect(engine, await file.read(), limits, options)


@router.post("/extract-embedding", dependencies=[VIEWER], response_model=DetectOut, responses=IMAGE)
async def extract_embedding(engine: EngineDep, limits: LimitsDep, options: OptionsDep,
                            body: ImageBase64In) -> DetectOut:
    """The same as /detect, for an image sent as base64 in JSON."""
    return await _detect(engine, decode_base64(body.image_base64), limits, options)


def decode_base64(text: str) -> bytes:
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"image_base64 is not valid base64: {exc}") from exc


async def _detect(engine: FaceEngine, data: bytes, limits: ImageLimits,
                  options: DetectOptions) -> DetectOut:
    detection = await run_in_threadpool(detect_in_bytes, engine, data, limits, options)
    return DetectOut(faces=[FaceOut.from_face(f) for f in detection.faces],
                     processing_time_ms=round(detection.elapsed_ms, 2),
                     image_width=detection.width, image_height=detection.height)
