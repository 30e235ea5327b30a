"""Face tracks across the sampled frames of a video.

A detection joins the active track it overlaps and resembles, or, when the camera cut or
the person moved between samples, a track it clearly resembles; otherwise it starts a
track. A track ends when it has not been seen for `max_gap_ms`. Its identity is judged on
the quality-weighted mean of its embeddings, so one blurred or turned frame cannot tag or
untag a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from likeness.engine import Face

LINK_OVERLAP = 0.2  # IoU with the track's last box ...
LINK_SIMILARITY = 0.2  # ... and at least this similarity to the track: same face
JUMP_SIMILARITY = 0.5  # no overlap needed at this similarity: the same person, moved


def quality_weight(face: Face) -> float:
    """How much a detection counts in its track's identity: sharp, large, frontal faces
    with confident detections count most (from 0.02 up to 1)."""
    q = face.quality
    size = min(1.0, q.face_size / 80)
    sharpness = min(1.0, 0.2 + q.blur / 150)
    frontal = max(0.1, float(np.cos(np.radians(min(abs(q.yaw), 80)))))
    return max(0.02, face.det_score * size * sharpness * frontal)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass
class TrackedFace:
    time_ms: int
    frame_index: int
    face: Face
    weight: float
    crop_jpeg: bytes  # a thumbnail: tracks keep crops, never whole frames


@dataclass
class FaceTrack:
    key: int
    members: list[TrackedFace] = field(default_factory=list)
    _sum: np.ndarray = field(default_factory=lambda: np.zeros(512, np.float64))

    def add(self, member: TrackedFace) -> None:
        self.members.append(member)
        self._sum += member.weight * member.face.require_embedding()

    @property
    def embedding(self) -> np.ndarray:
        """Quality-weighted mean embedding, unit length."""
        norm = np.linalg.norm(self._sum)
        return (self._sum / norm).astype(np.float32) if norm > 0 else self._sum.astype(
            np.float32)

    @property
    def last(self) -> TrackedFace:
        return self.members[-1]

    @property
    def best(self) -> TrackedFace:
        return max(self.members, key=lambda m: m.weight)

    @property
    def first_ms(self) -> int:
        return self.members[0].time_ms

    @property
    def last_ms(self) -> int:
        return self.members[-1].time_ms


class Tracker:
    def __init__(self, max_gap_ms: int) -> None:
        self.max_gap_ms = max_gap_ms
        self.tracks: list[FaceTrack] = []
        self._active: list[FaceTrack] = []

    def update(self, time_ms: int, frame_index: int, faces: list[Face],
               crops: list[bytes]) -> None:
        """Add the faces of one sampled frame, with their thumbnails."""
        self._active = [t for t in self._active if time_ms - t.last_ms <= self.max_gap_ms]
        pairs = []
        for t_index, track in enumerate(self._active):
            mean = track.embedding
            for f_index, face in enumerate(faces):
                similarity = float(mean @ face.embedding)
                overlap = iou(track.last.face.bbox, face.bbox)
                if (overlap >= LINK_OVERLAP and similarity >= LINK_SIMILARITY) or \
                        similarity >= JUMP_SIMILARITY:
                    pairs.append((similarity + overlap, t_index, f_index))
        used_tracks: set[int] = set()
        used_faces: set[int] = set()
        for _, t_index, f_index in sorted(pairs, reverse=True):
            if t_index in used_tracks or f_index in used_faces:
                continue
            used_tracks.add(t_index)
            used_faces.add(f_index)
            self._active[t_index].add(TrackedFace(time_ms, frame_index, faces[f_index],
                                                  quality_weight(faces[f_index]),
                                                  crops[f_index]))
        for f_index, face in enumerate(faces):
            if f_index not in used_faces:
                track = FaceTrack(key=len(self.tracks))
                track.add(TrackedFace(time_ms, frame_index, face, quality_weight(face),
                                      crops[f_index]))
                self.tracks.append(track)
                self._active.append(track)


def merge_segments(spans: list[tuple[int, int]], gap_ms: int) -> list[list[int]]:
    """Time spans joined where they overlap or lie within `gap_ms` of each other."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start - merged[-1][1] <= gap_ms:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged
