"""Stateless face endpoints: health, detect, extract-embedding."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, UploadFile
from starlette.concurrency import run_in_threadpool

from likeness import __version__
from likeness.api.deps import EngineDep, LimitsDep
from likeness.api.errors import IMAGE_RESPONSES
from likeness.api.schemas import DetectOut, FaceOut, HealthOut, ImageBase64In
from likeness.engine import FaceEngine
from likeness.errors import InvalidInput
from likeness.media import ImageLimits
from likeness.services.faces import DetectOptions, detect_in_bytes

router = APIRouter(tags=["faces"])



def detect_options(
    max_faces: Annotated[int, Query(ge=0, description="Keep the N largest faces; 0 = all")] = 0,
    min_face_size: Annotated[float, Query(
        ge=0, description="Drop faces whose shorter box side is below this, pixels")] = 0,
    include_embedding: Annotated[bool, Query(description="Compute embeddings")] = True,
) -> DetectOptions:
    return DetectOptions(max_faces, min_face_size, include_embedding)


OptionsDep = Annotated[DetectOptions, Depends(detect_options)]


@router.get("/health", response_model=HealthOut, responses={503: IMAGE_RESPONSES[503]})
def health(engine: EngineDep) -> HealthOut:
    return HealthOut(version=__version__, model=engine.model_name,
                     onnx_providers=engine.providers,
                     embedding_dimension=engine.embedding_dimension,
                     det_size=list(engine.det_size))


@router.post("/detect", response_model=DetectOut, responses=IMAGE_RESPONSES)
async def detect(engine: EngineDep, limits: LimitsDep, options: OptionsDep,
                 file: Annotated[UploadFile, File(description="The image")]) -> DetectOut:
    """Every face in the uploaded image, largest first. No face: 200 with `faces: []`."""
    return await _detect(engine, await file.read(), limits, options)


@router.post("/extract-embedding", response_model=DetectOut, responses=IMAGE_RESPONSES)
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
