"""Helpers the benchmarks share (they run as scripts: `python bench/NAME.py`)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import onnxruntime as ort


def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}, "
            f"onnxruntime {ort.__version__}")
