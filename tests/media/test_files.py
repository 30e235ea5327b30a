"""Scratch space: what a killed process left is removed at the next start, what another
process is working on stays."""

from __future__ import annotations

import os
import time
from pathlib import Path

from likeness.media.files import STALE_SCRATCH_S, clear_stale_scratch


def test_stale_uploads_and_downloads_are_removed_fresh_ones_stay(tmp_path: Path) -> None:
    old = time.time() - STALE_SCRATCH_S - 60
    upload = tmp_path / "upload-abc.mp4"
    upload.write_bytes(b"half an upload")
    download = tmp_path / "download-x1"
    download.mkdir()
    (download / "video.mp4").write_bytes(b"a video")
    for path in (upload, download / "video.mp4", download):
        os.utime(path, (old, old))
    working = tmp_path / "download-x2"  # another process's scan, in progress
    working.mkdir()
    (working / "video.mp4").write_bytes(b"a video")
    other = tmp_path / "notes.txt"  # not scratch
    other.write_text("kept")
    os.utime(other, (old, old))
    assert clear_stale_scratch(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["download-x2", "notes.txt"]
    assert clear_stale_scratch(tmp_path / "missing") == 0
