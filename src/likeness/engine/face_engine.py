"""The face engine: numpy BGR images in, `Face` dataclasses out. Knows nothing of HTTP or SQL.

One engine per process, loaded once. Its sessions are thread-safe, so concurrent callers
may share it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from time import perf_counter

import cv2
import numpy as np

from likeness import metrics
from likeness.config import Settings
from likeness.engine.align import align_face, crop_around_box
from likeness.engine.attributes import GenderAge
from likeness.engine.catalog import Thresholds
from likeness.engine.detector import Detector
from likeness.engine.packs import ModelPack, resolve_pack
from likeness.engine.quality import blur_score, head_pose
from likeness.engine.recognizer import Recognizer
from likeness.engine.runtime import CPU, choose_providers, create_session

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Quality:
    face_size: float  # shorter side of the box, in original-image pixels
    blur: float  # variance of the Laplacian of the aligned crop; higher is sharper
    yaw: float  # degrees
    pitch: float
    roll: float


@dataclass(slots=True)
class Face:
    bbox: np.ndarray  # [x1, y1, x2, y2], original-image pixels
    det_score: float
    landmarks: np.ndarray  # (5, 2): eyes, nose tip, mouth corners
    quality: Quality
    embedding: np.ndarray | None = None  # (512,) float32, unit length
    age: int | None = None
    gender: str | None = None  # "F" | "M"

    @property
    def area(self) -> float:
        return float((self.bbox[2] - self.bbox[0]) * (self.bbox[3] - self.bbox[1]))

    def require_embedding(self) -> np.ndarray:
        """The embedding, which every face analysed with embed=True (the default) has."""
        assert self.embedding is not None, "the face was analysed with embed=False"
        return self.embedding

    def box(self) -> list[float]:
        """The box as plain floats to 0.01 px, as responses and stored rows carry it."""
        return [round(float(v), 2) for v in self.bbox]

    def points(self) -> list[list[float]]:
        """The landmarks as [x, y] plain floats to 0.01 px."""
        return [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks]


class FaceEngine:
    """Detection, alignment, embedding and quality for BGR images.

    Inference runs on a pool of `workers` threads, each inference on `threads` intra-op
    threads. On 2 CPU cores, 2 workers x 1 thread gave 1.6x the throughput of 1 worker x 2
    threads (ONNX Runtime parallelises these small models poorly inside one run).
    """

    def __init__(self, pack: ModelPack, *, providers: Sequence[str] = (),
                 det_size: tuple[int, int] = (640, 640), det_threshold: float = 0.5,
                 threads: int = 1, workers: int = 0, flip: bool = False) -> None:
        chosen, strict = choose_providers(providers)
        self.pack = pack
        self.det_size = det_size
        # Embeddings averaged with the mirror image's: opt-in, as they are no longer
        # InsightFace's (cosine ~0.99 to them), at twice the recognizer's time.
        self.flip = flip
        load = partial(create_session, providers=chosen, strict=strict, threads=threads)
        self.detector = Detector(load(pack.detector), det_size, det_threshold)
        self.recognizer = Recognizer(load(pack.recognizer))
        self.genderage = GenderAge(load(pack.genderage)) if pack.genderage else None
        self.providers = self.detector.session.get_providers()
        self.workers = workers or len(os.sched_getaffinity(0))
        # On a GPU one batched run beats several small ones; on CPU, parallel chunks win.
        self._split_batches = self.providers[0] == CPU
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="likeness-engine")
        log.info("model pack %s from %s on %s, %d workers x %s threads", pack.name, pack.source,
                 ", ".join(self.providers), self.workers, threads or "default")

    @classmethod
    def from_settings(cls, settings: Settings) -> FaceEngine:
        return cls(resolve_pack(settings.model, settings.model_dir),
                   providers=settings.onnx_providers, det_size=settings.det_size,
                   det_threshold=settings.det_threshold, threads=settings.onnx_threads,
                   workers=settings.inference_workers, flip=settings.flip_embeddings)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    @property
    def model_name(self) -> str:
        return self.pack.name

    @property
    def embedding_dimension(self) -> int:
        return self.recognizer.dimension

    @property
    def thresholds(self) -> Thresholds:
        return self.pack.thresholds

    def analyze(self, image: np.ndarray, *, max_faces: int = 0, min_face_size: float = 0,
                embed: bool = True) -> list[Face]:
        """Every face of `image`, largest first."""
        return self.analyze_batch([image], max_faces=max_faces, min_face_size=min_face_size,
                                  embed=embed)[0]

    def analyze_batch(self, images: Sequence[np.ndarray], *, max_faces: int = 0,
                      min_face_size: float = 0, embed: bool = True) -> list[list[Face]]:
        """Faces of each image, largest first. Images are detected in parallel; the faces
        of all images then go through the recognizer together, in one batch per worker.
        Each stage's time and the faces found are recorded (`likeness.metrics`)."""
        detect = partial(self._detect, max_faces=max_faces, min_face_size=min_face_size)
        detected = list(self._pool.map(detect, images))
        everyone = [face for faces in detected for face, _ in faces]
        crops = [crop for faces in detected for _, crop in faces]
        if embed and crops:
            with metrics.timed("embed"):
                embeddings = self._embed(crops)
            for face, embedding in zip(everyone, embeddings, strict=True):
                face.embedding = embedding
        if self.genderage is not None and everyone:
            with metrics.timed("attributes"):
                attribute_crops = [crop_around_box(image, face.bbox, GenderAge.size)
                                   for image, faces in zip(images, detected, strict=True)
                                   for face, _ in faces]
                attributes = self.genderage.predict(attribute_crops)
            for face, (gender, age) in zip(everyone, attributes, strict=True):
                face.gender, face.age = gender, age
        metrics.analysed(len(images), len(everyone))
        return [[face for face, _ in faces] for faces in detected]

    def _detect(self, image: np.ndarray, *, max_faces: int,
                min_face_size: float) -> list[tuple[Face, np.ndarray]]:
        """Faces of one image with their aligned crops, largest first."""
        started = perf_counter()
        boxes, points = self.detector.detect(image)
        faces = []
        for box, landmarks in zip(boxes, points, strict=True):
            size = float(min(box[2] - box[0], box[3] - box[1]))
            if size < min_face_size:
                continue
            crop = align_face(image, landmarks, self.recognizer.size)
            yaw, pitch, roll = head_pose(landmarks)
            face = Face(bbox=box[:4].copy(), det_score=float(box[4]), landmarks=landmarks,
                        quality=Quality(size, blur_score(crop), yaw, pitch, roll))
            faces.append((face, crop))
        faces.sort(key=lambda pair: -pair[0].area)
        metrics.observe("detect", perf_counter() - started)
        return faces[:max_faces] if max_faces > 0 else faces

    def _embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """Embeddings of `crops` (with `flip`, each averaged with its mirror image's)."""
        if not self.flip:
            return self._embed_crops(crops)
        pairs = self._embed_crops([c for crop in crops for c in (crop, cv2.flip(crop, 1))])
        summed = pairs.reshape(len(crops), 2, -1).sum(axis=1)
        return summed / np.maximum(np.linalg.norm(summed, axis=1, keepdims=True), 1e-12)

    def _embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        """Embeddings of `crops`: on CPU one contiguous chunk per worker, run in parallel;
        on a GPU one batch."""
        if not self._split_batches:
            return self.recognizer.embed(crops)
        chunk = -(-len(crops) // self.workers)
        parts = [crops[i : i + chunk] for i in range(0, len(crops), chunk)]
        if len(parts) == 1:
            return self.recognizer.embed(parts[0])
        return np.concatenate(list(self._pool.map(self.recognizer.embed, parts)))
