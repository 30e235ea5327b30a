"""The load-time PReLU rewrite changes speed, not results."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from likeness.engine import FaceEngine
from likeness.engine.graph import rewrite_prelu


def test_rewritten_recognizer_gives_the_same_embeddings(engine: FaceEngine) -> None:
    path = engine.pack.recognizer
    model = onnx.load(str(path))
    assert rewrite_prelu(model) == 34  # every PReLU of w600k_mbf
    assert not any(node.op_type == "PRelu" for node in model.graph.node)
    original = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rewritten = ort.InferenceSession(model.SerializeToString(),
                                     providers=["CPUExecutionProvider"])
    crops = np.random.default_rng(7).uniform(-1, 1, (6, 3, 112, 112)).astype(np.float32)
    name = original.get_inputs()[0].name
    a = original.run(None, {name: crops})[0]
    b = rewritten.run(None, {name: crops})[0]
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.999999


def test_models_without_prelu_are_left_alone(engine: FaceEngine) -> None:
    model = onnx.load(str(engine.pack.detector))
    nodes = len(model.graph.node)
    assert rewrite_prelu(model) == 0
    assert len(model.graph.node) == nodes
