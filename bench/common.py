"""Helpers the benchmarks share (they run as scripts: `python bench/NAME.py`)."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnxruntime as ort

from likeness.engine import FaceEngine
from likeness.engine.packs import ModelPack

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LIKENESS_TEST_DATA", REPO.parent / "shared" / "data"))


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


def rates(rounds: int, *works: Callable[[], int]) -> list[list[float]]:
    """Items/s of each work in each round. The works run back to back within a round, so
    a noisy neighbour hurts them alike; per-round ratios are then robust."""
    for work in works:
        work()  # warm-up
    table: list[list[float]] = [[] for _ in works]
    for _ in range(rounds):
        for work, row in zip(works, table, strict=True):
            started = time.perf_counter()
            count = work()
            row.append(count / (time.perf_counter() - started))
    return table


def median(values: list[float]) -> float:
    return statistics.median(values)


def reference_analysis(pack_dir: Path) -> Any:  # insightface has no type hints
    from insightface.app import FaceAnalysis

    analysis = FaceAnalysis(name=str(pack_dir), providers=["CPUExecutionProvider"])
    analysis.prepare(ctx_id=-1, det_size=(640, 640))
    return analysis


def pack_directory(source: FaceEngine | ModelPack, where: Path) -> Path:
    """A directory of links to the pack's files, as FaceAnalysis expects one."""
    pack = source.pack if isinstance(source, FaceEngine) else source
    where.mkdir(parents=True, exist_ok=True)
    for model_file in pack.files:
        link = where / model_file.path.name
        if not link.exists():
            link.symlink_to(model_file.path)
    return where
