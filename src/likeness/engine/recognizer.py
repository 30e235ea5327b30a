"""ArcFace recognizer: aligned crops in, L2-normalised float32 embeddings out, batched."""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort

from likeness.errors import ModelPackError

MAX_BATCH = 32  # past this, per-face cost on CPU stops falling and memory keeps growing


class Recognizer:
    # InsightFace's w600k_* recognizers normalise (x - 127.5) / 127.5 outside the graph.
    input_mean = 127.5
    input_std = 127.5

    def __init__(self, session: ort.InferenceSession) -> None:
        shape = session.get_inputs()[0].shape
        if len(shape) != 4 or shape[2] != shape[3] or not isinstance(shape[2], int):
            raise ModelPackError(f"the recognizer's input {shape} is not a square image")
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.size = int(shape[2])
        self.dimension = int(session.get_outputs()[0].shape[1])
        self._batch = MAX_BATCH if not isinstance(shape[0], int) else int(shape[0])

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """(N, dimension) unit vectors, one per crop; all crops go through in few runs."""
        if not crops:
            return np.empty((0, self.dimension), np.float32)
        parts = []
        for start in range(0, len(crops), self._batch):
            blob = cv2.dnn.blobFromImages(crops[start : start + self._batch],
                                          1.0 / self.input_std, (self.size, self.size),
                                          (self.input_mean,) * 3, swapRB=True)
            parts.append(self.session.run(None, {self.input_name: blob})[0])
        embeddings = np.concatenate(parts).astype(np.float32, copy=False)
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        return embeddings / np.maximum(norms, 1e-12)
