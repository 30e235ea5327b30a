"""Video decoding with PyAV: sampling, keyframes, bad files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from likeness.engine import FaceEngine
from likeness.errors import InvalidInput
from likeness.media.video import probe, sample_frames
from tests.conftest import data_file

CLIP = "video/hamilton_clip.mp4"


def test_probe() -> None:
    info = probe(data_file(CLIP))
    assert (info.width, info.height) == (640, 360)
    assert info.fps == pytest.approx(29.97, abs=0.01)
    assert 9000 <= info.duration_ms <= 9300 and info.frames == 275


def test_one_sample_per_second() -> None:
    frames = list(sample_frames(data_file(CLIP), fps=1.0))
    assert [f.time_ms // 1000 for f in frames] == list(range(10))
    assert frames[0].time_ms == 0  # times count from the stream's start
    assert frames[3].index == pytest.approx(90, abs=2)
    assert frames[0].image.shape == (360, 640, 3) and frames[0].image.dtype == np.uint8


def test_denser_sampling_and_keyframes() -> None:
    assert len(list(sample_frames(data_file(CLIP), fps=4.0))) == 37
    keyframes = [f.time_ms for f in sample_frames(data_file(CLIP), keyframes=True)]
    assert len(keyframes) == 6 and keyframes[0] == 0


def _write(path: Path, video: bool, audio: bool, frames: int = 12) -> Path:
    with av.open(str(path), "w") as container:
        if video:
            stream = container.add_stream("mpeg4", rate=6)
            stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
            for index in range(frames):
                image = np.full((64, 96, 3), index * 20 % 255, np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, "bgr24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        if audio:
            stream = container.add_stream("aac", rate=8000)
            samples = np.zeros((1, 8000), np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.time_base, frame.pts = 8000, Fraction(1, 8000), 0
            for packet in stream.encode(frame):
                container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return path


def test_a_written_video_decodes(tmp_path: Path) -> None:
    path = _write(tmp_path / "small.mp4", video=True, audio=False)
    frames = list(sample_frames(path, fps=2.0))
    assert len(frames) == 4 and frames[1].time_ms == 500


def test_audio_only_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "sound.mp4", video=False, audio=True)
    with pytest.raises(InvalidInput, match="no video stream"):
        probe(path)


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100])
def test_garbage_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(InvalidInput):
        probe(path)


def test_truncated_video_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut.mp4"
    path.write_bytes(data_file(CLIP).read_bytes()[:20_000])
    with pytest.raises(InvalidInput):
        probe(path)
        list(sample_frames(path))


ROTATED = Path(__file__).resolve().parents[1] / "data" / "rotated_90.mp4"


def test_rotation_metadata_is_applied(engine: FaceEngine) -> None:
    """rotated_90.mp4: 2 s of the clip stored sideways (360x640) with a display matrix
    saying 'turn 90 degrees clockwise', as phones record. Made with
    `ffmpeg -ss 3 -t 2 -i hamilton_clip.mp4 -vf transpose=2 ... sideways.mp4` then
    `ffmpeg -i sideways.mp4 -c copy -metadata:s:v:0 rotate=90 rotated_90.mp4`."""
    info = probe(ROTATED)
    assert (info.width, info.height) == (640, 360)
    frames = list(sample_frames(ROTATED, fps=2.0))
    assert all(f.image.shape == (360, 640, 3) for f in frames)
    # upright, the faces are found (sideways, SCRFD misses most of them)
    assert sum(len(engine.analyze(f.image, embed=False)) for f in frames) >= 5


def test_variable_frame_rate_uses_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "vfr.mov"
    times_ms = [0, 100, 500, 1700, 1800, 2600, 3050]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("png", rate=1000)  # lossless, any timing
        stream.width, stream.height, stream.pix_fmt = 64, 48, "rgb24"
        stream.time_base = Fraction(1, 1000)
        for index, ms in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index * 30, np.uint8),
                                               "rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    # the first frame at or after each whole second
    assert [f.time_ms for f in sample_frames(path, fps=1.0)] == [0, 1700, 2600, 3050]


def test_odd_frame_sizes(tmp_path: Path) -> None:
    path = tmp_path / "odd.mov"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("png", rate=4)
        stream.width, stream.height, stream.pix_fmt = 97, 65, "rgb24"
        for index in range(8):
            image = np.full((65, 97, 3), index * 25, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, "rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert (probe(path).width, probe(path).height) == (97, 65)
    frames = list(sample_frames(path, fps=2.0))
    assert len(frames) == 4 and frames[0].image.shape == (65, 97, 3)
