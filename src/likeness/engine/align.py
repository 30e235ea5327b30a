"""Face alignment: the 5-point similarity transform onto ArcFace's 112x112 template."""

from __future__ import annotations

import cv2
import numpy as np

# InsightFace's arcface_dst: eye centres, nose tip, mouth corners in a 112x112 crop.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
     [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 least-squares similarity transform taking `src` points onto `dst`
    (Umeyama 1991, as scikit-image's SimilarityTransform.estimate computes it)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_demean, dst_demean = src - src_mean, dst - dst_mean
    covariance = dst_demean.T @ src_demean / len(src)
    signs = np.ones(2)
    if np.linalg.det(covariance) < 0:
        signs[1] = -1
    u, s, vt = np.linalg.svd(covariance)
    if np.linalg.matrix_rank(covariance) == 1 and np.linalg.det(u) * np.linalg.det(vt) > 0:
        rotation = u @ vt
    else:
        rotation = u @ np.diag(signs) @ vt
    variance = src_demean.var(axis=0).sum()
    scale = (s @ signs) / variance if variance > 0 else 1.0
    matrix = np.empty((2, 3))
    matrix[:, :2] = rotation * scale
    matrix[:, 2] = dst_mean - scale * (rotation @ src_mean)
    return matrix


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """The face warped so its 5 landmarks sit on the ArcFace template, `size` x `size`."""
    matrix = similarity_transform(landmarks, ARCFACE_TEMPLATE * (size / 112.0))
    return cv2.warpAffine(image, matrix, (size, size), borderValue=0.0)


def crop_around_box(image: np.ndarray, bbox: np.ndarray, size: int,
                    margin: float = 1.5) -> np.ndarray:
    """A `size` x `size` crop centred on the box, its longer side scaled to size/margin
    (the input InsightFace's attribute models were trained on)."""
    x1, y1, x2, y2 = (float(v) for v in bbox[:4])
    scale = size / (max(x2 - x1, y2 - y1) * margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    matrix = np.array([[scale, 0, size / 2 - cx * scale], [0, scale, size / 2 - cy * scale]])
    return cv2.warpAffine(image, matrix, (size, size), borderValue=0.0)
