"""Video frames, decoded in-process with PyAV (FFmpeg's libraries): no temporary files.

Times are milliseconds from the start of the video stream, taken from each frame's
timestamp, so variable frame rates come out right. Frames are returned upright (the
stream's rotation applied) as BGR uint8.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from likeness.errors import InvalidInput

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg",
                            ".ts", ".wmv", ".flv"})


@dataclass(frozen=True, slots=True)
class VideoInfo:
    duration_ms: int
    fps: float  # average
    width: int  # as displayed (after rotation)
    height: int
    frames: int  # estimated from duration x fps when the container does not say


@dataclass(frozen=True, slots=True)
class VideoFrame:
    index: int  # frame number, from the timestamp and the average rate
    time_ms: int
    image: np.ndarray  # BGR, upright


def _open(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path.name} is not a readable video: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise InvalidInput(f"{path.name} has no video stream")
    return container


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply the display rotation: PyAV reports, as ffprobe does, the degrees to turn the
    stored picture clockwise (checked on tests/data/rotated_90.mp4, a phone-style file)."""
    turns = round(-rotation / 90) % 4  # np.rot90 turns counter-clockwise
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def probe(path: Path) -> VideoInfo:
    container = _open(path)
    try:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        if stream.duration is not None and stream.time_base is not None:
            duration_ms = int(stream.duration * stream.time_base * 1000)
        else:
            duration_ms = int((container.duration or 0) / 1000)
        frames = stream.frames or round(duration_ms / 1000 * fps)
        width, height = stream.codec_context.width, stream.codec_context.height
        first = next(container.decode(stream), None)
        if first is None:
            raise InvalidInput(f"{path.name} has no decodable video frame")
        if round(first.rotation / 90) % 2:
            width, height = height, width
        return VideoInfo(duration_ms, fps, width, height, frames)
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"{path.name} is corrupt: {exc}") from exc
    finally:
        container.close()


def sample_frames(path: Path, *, fps: float = 1.0, keyframes: bool = False
                  ) -> Iterator[VideoFrame]:
    """Frames at `fps` per second (the first frame at or after each tick), or only the
    keyframes. Sparse sampling lets the decoder skip frames nothing refers to."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        if keyframes:
            stream.codec_context.skip_frame = "NONKEY"
        elif fps < rate / 2:
            stream.codec_context.skip_frame = "NONREF"
        start = (float(stream.start_time * stream.time_base)
                 if stream.start_time and stream.time_base is not None else 0.0)
        next_tick = 0.0
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            seconds = max(0.0, frame.time - start)
            if not keyframes:
                if seconds + 1e-6 < next_tick:
                    continue
                next_tick = (int(seconds * fps + 1e-6) + 1) / fps
            image = _upright(frame.to_ndarray(format="bgr24"), frame.rotation)
            yield VideoFrame(round(seconds * rate), round(seconds * 1000), image)
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"{path.name} is corrupt: {exc}") from exc
    finally:
        container.close()
