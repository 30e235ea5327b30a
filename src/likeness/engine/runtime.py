"""ONNX Runtime execution providers and sessions, chosen and verified in one place."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

from likeness.engine.graph import optimised_model
from likeness.errors import ModelPackError, ProviderUnavailable

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
# Best first. TensorRT is used only when asked for: it builds an engine per input shape,
# which costs minutes at start-up and again for every new detector input shape.
AUTO_ORDER = (
    "CUDAExecutionProvider",
    "ROCMExecutionProvider",
    "MIGraphXExecutionProvider",
    "CoreMLExecutionProvider",
)
SHORT_NAMES = {
    "cpu": CPU,
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
}


def choose_providers(requested: Sequence[str]) -> tuple[list[str], bool]:
    """The providers to use and whether they were asked for explicitly (strict)."""
    available = ort.get_available_providers()
    if requested:
        names = [SHORT_NAMES.get(p.lower(), p) for p in requested]
        missing = [p for p in names if p not in available]
        if missing:
            raise ProviderUnavailable(
                f"ONNX provider(s) {', '.join(missing)} requested but this ONNX Runtime build "
                f"offers only {', '.join(available)}. Install onnxruntime-gpu for CUDA/TensorRT "
                "(and uninstall onnxruntime), or set LIKENESS_ONNX_PROVIDERS=CPUExecutionProvider."
            )
        return names, True
    best = [p for p in AUTO_ORDER if p in available][:1]
    return [*best, CPU], False


def create_session(path: Path, providers: Sequence[str], *, strict: bool,
                   threads: int = 0) -> ort.InferenceSession:
    """A session on `providers`; if a requested GPU provider did not start, fail loudly
    when `strict`, else say so in the log (ONNX Runtime itself falls back silently)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    # Idle spinning threads of one session steal the CPU from the next one: the detector
    # and recognizer run back to back, and spinning made each image ~1.8x slower on 2 cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        source = optimised_model(path) or str(path)
        session = ort.InferenceSession(source, options, providers=list(providers))
    except Exception as exc:  # onnx and ONNX Runtime raise their own types on bad files
        raise ModelPackError(f"ONNX Runtime cannot load {path}: {exc}") from exc
    active = session.get_providers()
    lost = [p for p in providers if p not in active]
    if lost:
        message = (f"ONNX Runtime could not start {', '.join(lost)} for {path.name} "
                   f"(it runs on {', '.join(active)}); check the GPU driver, CUDA and cuDNN "
                   "libraries, or set LIKENESS_ONNX_PROVIDERS=CPUExecutionProvider")
        if strict:
            raise ProviderUnavailable(message)
        log.warning(message)
    return session
