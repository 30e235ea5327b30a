"""InsightFace's genderage model: a 96x96 crop around the box in, (gender, age) out."""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort


class GenderAge:
    size = 96

    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def predict(self, crops: list[np.ndarray]) -> list[tuple[str, int]]:
        """("F" or "M", age in years) per crop. The model normalises inside its graph."""
        if not crops:
            return []
        blob = cv2.dnn.blobFromImages(crops, 1.0, (self.size, self.size), (0.0, 0.0, 0.0),
                                      swapRB=True)
        predictions = self.session.run(None, {self.input_name: blob})[0]
        return [("M" if int(np.argmax(p[:2])) == 1 else "F", round(float(p[2]) * 100))
                for p in predictions]
