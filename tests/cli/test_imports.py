"""The CLI imports what a command needs when it runs: `likeness --help` stays fast and
`likeness detect` loads neither the database layer nor the HTTP API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from likeness.cli import people
from likeness.store import search_index
from tests.conftest import data_file

# Run `likeness ARGS`, then print which of these modules it had imported.
PROBE = """
import json, sys
from likeness.cli import app
try:
    app(sys.argv[2:], prog_name="likeness")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"exit": code, "loaded": [m for m in json.loads(sys.argv[1])
                                           if m in sys.modules]}))
"""
DATABASE_AND_API = ["sqlalchemy", "alembic", "psycopg", "fastapi", "starlette",
                    "likeness.store", "likeness.api.app", "likeness.services", "likeness.jobs"]


def loaded_by(args: list[str], modules: list[str], tmp_path: Path) -> tuple[list[str], dict]:
    """Output lines of `likeness ARGS` in a fresh interpreter, and the probe's verdict."""
    env = {**os.environ, "LIKENESS_MODEL": "buffalo_s",
           "LIKENESS_MODEL_DIR": str(tmp_path / "models"), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(modules), *args],
                          env=env, capture_output=True, text=True, timeout=120, check=True)
    *lines, verdict = done.stdout.splitlines()
    return lines, json.loads(verdict)


def test_help_imports_no_engine_database_or_api(tmp_path: Path) -> None:
    heavy = [*DATABASE_AND_API, "onnxruntime", "onnx", "numpy", "cv2", "likeness.engine",
             "likeness.config"]
    lines, verdict = loaded_by(["--help"], heavy, tmp_path)
    assert verdict == {"exit": 0, "loaded": []}
    assert any("detect" in line for line in lines)
    for command in (["detect", "--help"], ["db", "reindex", "--help"], ["ingest", "--help"]):
        _, verdict = loaded_by(command, [*DATABASE_AND_API, "onnxruntime"], tmp_path)
        assert verdict == {"exit": 0, "loaded": []}, command


def test_detect_loads_neither_the_database_nor_the_api(tmp_path: Path) -> None:
    photo = str(data_file("scenes/two_people.jpg"))
    lines, verdict = loaded_by(["detect", "--json", photo],
                               [*DATABASE_AND_API, "onnxruntime"], tmp_path)
    assert verdict == {"exit": 0, "loaded": ["onnxruntime"]}
    (record,) = [json.loads(line) for line in lines]
    assert record["file"] == photo and len(record["faces"]) == 2


def test_reindex_help_defaults_are_the_index_defaults() -> None:
    assert people.DEFAULT_SHARDS == search_index.DEFAULT_SHARDS
    assert people.FACES_PER_LIST == search_index.FACES_PER_LIST
