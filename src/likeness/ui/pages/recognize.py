"""The recognize page: who is in a photo (1:N: boxes with names and decisions drawn over
the photo, each face's candidates with their similarity), and 1:1 verification of two
photos. Nothing is stored: the photo comes back inline, downscaled."""

from __future__ import annotations

import base64
import math
import time
from dataclasses import dataclass
from typing import Annotated

import cv2
import numpy as np
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from likeness.api.deps import get_people, upload_of
from likeness.errors import InvalidInput
from likeness.media import decode_image, encode_jpeg
from likeness.services.people import PeopleService, Recognition
from likeness.ui.web import DbSession, ViewerUser, page

router = APIRouter(include_in_schema=False)

PREVIEW = 1280  # px: the longer side of the photo shown back, at most
CROP = 96  # px: each face's crop in the list

People = Annotated[PeopleService, Depends(get_people)]
ThresholdText = Annotated[str, Form(max_length=32)]


def _threshold(text: str, what: str) -> float | None:
    """A threshold typed into a form: empty for the configured one, else -1 to 1."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"the {what} threshold must be a number from -1 to 1") from None
    if not math.isfinite(value) or not -1 <= value <= 1:
        raise InvalidInput(f"the {what} threshold must be a number from -1 to 1")
    return value


def _data_url(image: np.ndarray, quality: int = 85) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(encode_jpeg(image, quality)).decode()


def _preview(image: np.ndarray) -> tuple[str, float]:
    """The photo as an inline JPEG no larger than PREVIEW, and its scale."""
    height, width = image.shape[:2]
    scale = min(1.0, PREVIEW / max(height, width))
    if scale < 1:
        image = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                           interpolation=cv2.INTER_AREA)
    return _data_url(image, 82), scale


def _crop(image: np.ndarray, box: list[float]) -> str:
    """A square crop around a face with some margin, as an inline JPEG."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * 1.4
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    height, width = image.shape[:2]
    left, top = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    right, bottom = min(width, round(cx + side / 2)), min(height, round(cy + side / 2))
    crop = image[top:bottom, left:right]
    if crop.size == 0:
        crop = np.zeros((CROP, CROP, 3), np.uint8)
    return _data_url(cv2.resize(crop, (CROP, CROP), interpolation=cv2.INTER_AREA))


@dataclass(frozen=True, slots=True)
class Shown:
    """One recognised face as the page shows it."""

    number: int
    result: Recognition
    box: str  # x1,y1,x2,y2 in the preview's pixels
    crop: str  # data: URL

    @property
    def label(self) -> str:
        person = self.result.person
        if person is None:
            return f"{self.number} · unknown"
        doubt = "?" if self.result.decision == "review" else ""
        return f"{self.number} · {person.name}{doubt} {person.similarity:.2f}"


@router.get("/ui/recognize", response_class=HTMLResponse)
def recognize_page(request: Request, caller: ViewerUser) -> HTMLResponse:
    return page(request, "recognize.html", caller)


@router.post("/ui/recognize", response_class=HTMLResponse)
def recognize(request: Request, session: DbSession, caller: ViewerUser, people: People,
              file: Annotated[UploadFile, File()], match: ThresholdText = "",
              review: ThresholdText = "",
              top_k: Annotated[int, Form(ge=1, le=20)] = 5) -> HTMLResponse:
    """Who is in the photo, as POST /recognize answers it, drawn over the photo."""
    started = time.perf_counter()
    upload = upload_of(file, "the photo")
    policy = people.policy(_threshold(match, "match"), _threshold(review, "review"))
    image = decode_image(upload.data, people.limits)
    results = people.recognize(session, image, top_k=top_k, policy=policy)
    elapsed_ms = (time.perf_counter() - started) * 1000
    preview, scale = _preview(image)
    ordered = sorted(results, key=lambda r: float(r.face.bbox[0]))  # left to right
    shown = [Shown(number, result, ",".join(f"{v * scale:.1f}" for v in result.face.box()),
                   _crop(image, result.face.box()))
             for number, result in enumerate(ordered, 1)]
    return page(request, "_recognize_result.html", caller, name=upload.name, faces=shown,
                preview=preview, width=image.shape[1], height=image.shape[0],
                thresholds=policy.thresholds, elapsed_ms=elapsed_ms)


@router.post("/ui/recognize/verify", response_class=HTMLResponse)
def verify(request: Request, session: DbSession, caller: ViewerUser, people: People,
           file_a: Annotated[UploadFile, File()], file_b: Annotated[UploadFile, File()],
           threshold: ThresholdText = "") -> HTMLResponse:
    """The same person in both photos? As POST /verify answers it (largest faces)."""
    a, b = upload_of(file_a, "photo A"), upload_of(file_b, "photo B")
    result = people.verify_photos(session, file_a=a, file_b=b,
                                  threshold=_threshold(threshold, "verify"))
    return page(request, "_recognize_verify.html", caller, result=result, name_a=a.name,
                name_b=b.name)
