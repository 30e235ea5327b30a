"""Annotated copies of images: boxes, labels and landmarks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np


class DrawableFace(Protocol):
    bbox: np.ndarray
    landmarks: np.ndarray
    det_score: float

BOX_COLOUR = (0, 200, 0)  # BGR
LANDMARK_COLOURS = ((255, 0, 0), (0, 0, 255), (0, 255, 255), (255, 0, 255), (255, 255, 0))


def draw_faces(image: np.ndarray, faces: Sequence[DrawableFace],
               labels: Sequence[str] | None = None) -> np.ndarray:
    """A copy of `image` with each face's box, label (default: its score) and landmarks,
    drawn with line widths that scale with the image."""
    canvas = image.copy()
    thickness = max(1, round(max(image.shape[:2]) / 500))
    font_scale = max(0.4, thickness * 0.5)
    for index, face in enumerate(faces):
        x1, y1, x2, y2 = np.rint(face.bbox).astype(int).tolist()
        cv2.rectangle(canvas, (x1, y1), (x2, y2), BOX_COLOUR, thickness)
        label = labels[index] if labels is not None else f"{face.det_score:.2f}"
        (width, height), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX,
                                                    font_scale, thickness)
        top = max(0, y1 - height - baseline - 2)
        cv2.rectangle(canvas, (x1, top), (x1 + width + 2, top + height + baseline + 2),
                      BOX_COLOUR, cv2.FILLED)
        cv2.putText(canvas, label, (x1 + 1, top + height + 1), cv2.FONT_HERSHEY_SIMPLEX,
                    font_scale, (0, 0, 0), thickness, cv2.LINE_AA)
        points = np.rint(face.landmarks).astype(int).tolist()
        for (x, y), colour in zip(points, LANDMARK_COLOURS, strict=True):
            cv2.circle(canvas, (x, y), thickness + 1, colour, cv2.FILLED)
    return canvas
