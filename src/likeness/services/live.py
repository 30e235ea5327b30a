"""Live recognition: the frames of one camera, one after another (a browser's webcam over
the WebSocket, or a camera stream).

Each frame's faces join tracks (`services.tracking.Tracker`, as video scans use), and each
track is decided on the quality-weighted mean of its embeddings under the recognition
policy of `PeopleService` (thresholds, margin, low-quality raise; one person per face
within a frame). So a person's decision holds steady from frame to frame and firms up as
their track gathers frames, where a single frame could be blurred or turned.

A `LiveRecognizer` holds one camera's state and is used by one thread at a time. Only
the tracks still active are kept, each with its first, best and last detections (its
mean embedding is a running sum), so a session can run for days in constant memory.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.orm import Session

from likeness.enums import Decision
from likeness.errors import PayloadTooLarge, UnsupportedMediaType
from likeness.media import ImageLimits, decode_image
from likeness.media.image import sniff_format
from likeness.services.faces import RecognitionPolicy, thumbnail
from likeness.services.tracking import FaceTrack, Tracker

if TYPE_CHECKING:
    from likeness.engine import Face
    from likeness.services.people import PeopleService
    from likeness.store.people import Candidate

# A track ends when its face has not been seen for this long, or for GAP_FRAMES of the
# frames processed, whichever is longer: a loaded server processes fewer frames, and a
# face should not lose its track (and its decision) because of that.
GAP_MS = 2000
GAP_FRAMES = 4
KEPT_MEMBERS = 3  # first, best and last detection of a track


def check_frame(data: bytes, limits: ImageLimits) -> None:
    """Refuse at once what cannot be a frame: too many bytes, or not a JPEG (judged by its
    magic bytes; nothing is decoded)."""
    if limits.max_bytes is not None and len(data) > limits.max_bytes:
        raise PayloadTooLarge(f"the frame is {len(data) / 1e6:.1f} MB, above the "
                              f"{limits.max_bytes / 1e6:.1f} MB limit")
    if sniff_format(data) != "JPEG":
        raise UnsupportedMediaType("frames must be JPEG images")


@dataclass(slots=True)
class LiveTrack:
    """A face followed from frame to frame, and what it was last decided to be."""

    id: int  # unique within the recognizer, never reused
    track: FaceTrack  # its detections (first, best and last kept) and mean embedding
    frames: int = 0  # detections so far
    decision: Decision = Decision.UNKNOWN
    person: Candidate | None = None  # the person given to it (match or review)
    similarity: float | None = None  # of that person, else of the closest one


@dataclass(frozen=True, slots=True)
class LiveFace:
    """One face of a frame: its box in this frame, and its track's decision then."""

    bbox: list[float]
    det_score: float
    track: LiveTrack
    decision: Decision
    person: Candidate | None
    similarity: float | None


@dataclass(frozen=True, slots=True)
class LiveFrame:
    faces: list[LiveFace]  # largest first
    width: int
    height: int
    ended: list[LiveTrack] = field(default_factory=list)  # tracks that ended before it


class LiveRecognizer:
    """One camera's tracks and their decisions."""

    def __init__(self, people: PeopleService, *, gap_ms: int = GAP_MS,
                 gap_frames: int = GAP_FRAMES, crops: bool = False) -> None:
        self.people = people
        self.policy: RecognitionPolicy = people.policy()
        self.gap_ms = gap_ms
        self.gap_frames = gap_frames
        self.crops = crops  # keep a thumbnail of each kept detection (sightings want one)
        self.tracker = Tracker(max_gap_ms=gap_ms)
        self.tracks: dict[int, LiveTrack] = {}  # by FaceTrack.key, active ones only
        self._next_id = 1
        self._last_ms: int | None = None
        self._interval_ms = 0.0  # between processed frames, smoothed

    @property
    def limits(self) -> ImageLimits:
        return self.people.limits

    def recognize_jpeg(self, session: Session, data: bytes, time_ms: int, index: int
                       ) -> LiveFrame:
        """recognize() for a JPEG frame's bytes; a typed error if they are not one."""
        check_frame(data, self.limits)
        return self.recognize(session, decode_image(data, self.limits), time_ms, index)

    def recognize(self, session: Session, image: np.ndarray, time_ms: int, index: int
                  ) -> LiveFrame:
        """The faces of the frame taken at `time_ms` (numbered `index`), each with its
        track and the track's decision. Inference runs before the session's first query;
        nothing is written."""
        faces = self.people.engine.analyze(image)
        ended = self._track(image, faces, time_ms, index)
        current = self._current(faces, time_ms, index)
        self._decide(session, current)
        shown = [LiveFace(face.box(), round(face.det_score, 4), live, live.decision,
                          live.person, live.similarity)
                 for face, live in zip(faces, current, strict=True)]
        return LiveFrame(shown, image.shape[1], image.shape[0], ended)

    # ------------------------------------------------------------ tracking

    def _track(self, image: np.ndarray, faces: list[Face], time_ms: int, index: int
               ) -> list[LiveTrack]:
        """Add the faces to the tracks; the tracks that ended, dropped from memory."""
        if self._last_ms is not None:
            step = max(0, time_ms - self._last_ms)
            self._interval_ms = step if not self._interval_ms else \
                0.8 * self._interval_ms + 0.2 * step
        self._last_ms = time_ms
        gap = max(self.gap_ms, round(self.gap_frames * self._interval_ms))
        # The tracker lets a track go `gap` after its last detection (at the start of
        # update(), with the same rule); forget those here too, before it does, so that
        # every track it may still extend is known (its list would otherwise keep every
        # track of the session).
        alive = [t for t in self.tracker.tracks if time_ms - t.last_ms <= gap]
        self.tracker.tracks = alive
        ended = [self.tracks.pop(key) for key in set(self.tracks) - {t.key for t in alive}]
        self.tracker.max_gap_ms = gap
        before = len(alive)
        crops = [thumbnail(image, face) if self.crops else b"" for face in faces]
        self.tracker.update(time_ms, index, faces, crops)
        for track in self.tracker.tracks[before:]:  # new: ids of our own, never reused
            track.key = self._next_id
            self.tracks[track.key] = LiveTrack(track.key, track)
            self._next_id += 1
        for track in self.tracker.tracks:
            if track.last.time_ms == time_ms and track.last.frame_index == index:
                self.tracks[track.key].frames += 1
            if len(track.members) > KEPT_MEMBERS:
                first, best, last = track.members[0], track.best, track.members[-1]
                track.members = [first, best, last] if best is not first and \
                    best is not last else [first, last]
        return sorted(ended, key=lambda t: t.id)

    def _current(self, faces: list[Face], time_ms: int, index: int) -> list[LiveTrack]:
        """The track each face of this frame joined."""
        joined = {id(t.last.face): t for t in self.tracker.tracks
                  if t.last.time_ms == time_ms and t.last.frame_index == index}
        return [self.tracks[joined[id(face)].key] for face in faces]

    # ------------------------------------------------------------ deciding

    def _decide(self, session: Session, current: list[LiveTrack]) -> None:
        """Decide the frame's tracks on their mean embeddings, together (one person per
        face within the frame), each judged for quality on its best detection."""
        if not current:
            return
        means = [dataclasses.replace(live.track.best.face, embedding=live.track.embedding)
                 for live in current]
        results = self.people.recognize_faces(session, means, top_k=1, policy=self.policy)
        for live, result in zip(current, results, strict=True):
            live.decision = result.decision
            live.person = result.person
            best = result.person or (result.candidates[0] if result.candidates else None)
            live.similarity = round(best.similarity, 4) if best else None
