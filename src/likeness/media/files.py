"""Files on disk."""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from pathlib import Path


def sha256_of(path: Path) -> str:
    """The file's sha256, read in 1 MB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


log = logging.getLogger(__name__)

SCRATCH_PREFIXES = ("upload-", "download-")  # what uploads and scans leave in scratch space
STALE_SCRATCH_S = 24 * 3600


def clear_stale_scratch(directory: Path, older_than_s: float = STALE_SCRATCH_S) -> int:
    """Remove what a killed process left in its scratch space (an upload being received,
    a video downloaded for a scan): entries not touched for `older_than_s`, so that
    another process sharing the directory keeps what it is working on. How many went."""
    if not directory.is_dir():
        return 0
    removed, now = 0, time.time()
    for entry in directory.iterdir():
        if not entry.name.startswith(SCRATCH_PREFIXES):
            continue
        try:
            if now - entry.stat().st_mtime < older_than_s:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:  # gone meanwhile, or not ours to remove: leave it
            continue
        removed += 1
    if removed:
        log.info("removed %d stale upload(s) and download(s) from %s", removed, directory)
    return removed
