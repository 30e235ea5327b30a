"""Model packs: the wheel fallback, directories, checksums, errors; providers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from likeness.engine import FaceEngine, catalog
from likeness.engine.packs import VECTRON_SOURCE, available_packs, classify, resolve_pack
from likeness.engine.runtime import choose_providers
from likeness.errors import ModelPackError, ProviderUnavailable
from tests.conftest import read_bgr


def test_buffalo_s_falls_back_to_the_wheel(tmp_path: Path) -> None:
    pack = resolve_pack("buffalo_s", tmp_path)
    assert pack.source == VECTRON_SOURCE
    assert pack.detector.name == "scrfd_500m_bnkps.onnx"
    assert pack.recognizer.name == "w600k_mbf.onnx"
    assert pack.genderage is None


def test_a_damaged_wheel_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    monkeypatch.setitem(catalog.VECTRON_FILES, "w600k_mbf.onnx", "0" * 64)
    with pytest.raises(ModelPackError, match="sha256"):
        resolve_pack("buffalo_s", tmp_path)


def test_missing_pack_lists_every_place_looked(tmp_path: Path) -> None:
    with pytest.raises(ModelPackError) as error:
        resolve_pack("buffalo_l", tmp_path)
    message = str(error.value)
    assert str(tmp_path / "buffalo_l") in message
    assert "buffalo_l.zip" in message  # how to install one
    with pytest.raises(ModelPackError, match="nowhere"):
        resolve_pack(str(tmp_path / "nowhere"), tmp_path)


def test_a_pack_directory_wins_over_the_wheel(buffalo_s_dir: Path) -> None:
    pack = resolve_pack("buffalo_s", buffalo_s_dir.parent / "unused")
    assert pack.source == VECTRON_SOURCE
    named = resolve_pack(buffalo_s_dir.name, buffalo_s_dir.parent)
    assert named.source == str(buffalo_s_dir)
    by_path = resolve_pack(str(buffalo_s_dir), Path("/nonexistent"))
    assert {f.role for f in by_path.files} == {"detector", "recognizer"}


def test_files_with_unknown_names_are_classified_by_signature(buffalo_s_dir: Path,
                                                              tmp_path: Path) -> None:
    (tmp_path / "my_detector.onnx").symlink_to(buffalo_s_dir / "scrfd_500m_bnkps.onnx")
    (tmp_path / "my_recognizer.onnx").symlink_to(buffalo_s_dir / "w600k_mbf.onnx")
    (tmp_path / "notes.onnx").write_bytes(b"not a model")
    assert classify(tmp_path / "my_detector.onnx") == "detector"
    assert classify(tmp_path / "my_recognizer.onnx") == "recognizer"
    assert classify(tmp_path / "notes.onnx") == "unknown"
    engine = FaceEngine(resolve_pack(str(tmp_path), Path("/nonexistent")))
    assert len(engine.analyze(read_bgr("scenes/two_people.jpg"))) == 2
    engine.close()


def test_available_packs_lists_directories_and_the_wheel(buffalo_s_dir: Path) -> None:
    names = [(p.name, p.source) for p in available_packs(buffalo_s_dir.parent)]
    assert (buffalo_s_dir.name, str(buffalo_s_dir)) in names
    assert ("buffalo_s", VECTRON_SOURCE) in names


def _fake_genderage(path: Path) -> None:
    """An ONNX model with genderage.onnx's signature ([N,3,96,96] -> [N,3]) that answers
    female 0.2 / male 0.8 / age 0.35 for every crop."""
    answer = helper.make_tensor("answer", TensorProto.FLOAT, [1, 3], [0.2, 0.8, 0.35])
    axes = helper.make_tensor("axes", TensorProto.INT64, [3], [1, 2, 3])
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["data", "axes"], ["mean"], keepdims=0),
         helper.make_node("Mul", ["mean", "zero"], ["zeros"]),
         helper.make_node("Unsqueeze", ["zeros", "one"], ["column"]),
         helper.make_node("Add", ["column", "answer"], ["fc1"])],
        "genderage",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, 96, 96])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, ["N", 3])],
        [answer, axes, helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
         helper.make_tensor("one", TensorProto.INT64, [1], [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9  # what ONNX Runtime 1.31 reads
    onnx.save(model, path)


def test_genderage_model_fills_age_and_gender(buffalo_s_dir: Path, tmp_path: Path) -> None:
    for name in ("scrfd_500m_bnkps.onnx", "w600k_mbf.onnx"):
        (tmp_path / name).symlink_to(buffalo_s_dir / name)
    _fake_genderage(tmp_path / "genderage.onnx")
    engine = FaceEngine(resolve_pack(str(tmp_path), Path("/nonexistent")))
    faces = engine.analyze(read_bgr("scenes/obama_and_biden.jpg"))
    engine.close()
    assert len(faces) == 3
    assert all(f.gender == "M" and f.age == 35 for f in faces)


def test_a_pack_without_a_recognizer_is_a_clear_error(buffalo_s_dir: Path,
                                                      tmp_path: Path) -> None:
    (tmp_path / "det_500m.onnx").symlink_to(buffalo_s_dir / "scrfd_500m_bnkps.onnx")
    with pytest.raises(ModelPackError, match="has no recognizer"):
        FaceEngine(resolve_pack(str(tmp_path), Path("/nonexistent")))


def test_a_corrupt_model_file_is_a_clear_error(buffalo_s_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "w600k_mbf.onnx").symlink_to(buffalo_s_dir / "w600k_mbf.onnx")
    (tmp_path / "det_500m.onnx").write_bytes(b"\x08\x07garbage" * 100)
    with pytest.raises(ModelPackError, match=r"cannot load .*det_500m\.onnx"):
        FaceEngine(resolve_pack(str(tmp_path), Path("/nonexistent")))


def test_provider_choice() -> None:
    providers, strict = choose_providers([])
    assert providers[-1] == "CPUExecutionProvider" and not strict
    assert choose_providers(["cpu"]) == (["CPUExecutionProvider"], True)
    with pytest.raises(ProviderUnavailable, match=r"CUDAExecutionProvider.*onnxruntime-gpu"):
        choose_providers(["CUDAExecutionProvider", "CPUExecutionProvider"])


def test_engine_refuses_an_unavailable_gpu_provider() -> None:
    with pytest.raises(ProviderUnavailable):
        FaceEngine(resolve_pack("buffalo_s", Path("/nonexistent")), providers=["cuda"])


def test_threads_and_workers_do_not_change_results(engine: FaceEngine) -> None:
    image = read_bgr("scenes/two_people.jpg")
    expected = engine.analyze(image)
    other = FaceEngine(engine.pack, threads=2, workers=1)
    faces = other.analyze(image)
    other.close()
    for a, b in zip(expected, faces, strict=True):
        assert np.allclose(a.bbox, b.bbox, atol=1e-3)
        assert float(a.embedding @ b.embedding) > 0.9999
