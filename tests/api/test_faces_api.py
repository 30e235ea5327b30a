"""The HTTP contract of /health, /detect and /extract-embedding, bad input included."""

from __future__ import annotations

import base64
import io
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from likeness.api import create_app
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.store import Database
from tests.conftest import AUTH, data_file, read_bgr
from tests.helpers import box_distance, png_declaring


def _post(client: TestClient, path: str, data: bytes, name: str = "photo.jpg",
          **params: object) -> httpx2.Response:
    return client.post(path, files={"file": (name, data, "application/octet-stream")},
                       params=params)


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["model"] == "buffalo_s"
    assert body["embedding_dimension"] == 512
    assert body["det_size"] == [640, 640]
    assert "CPUExecutionProvider" in body["onnx_providers"]
    assert body["version"] and body["vector_backend"] == "pgvector"
    states = {name: part["state"] for name, part in body["components"].items()}
    assert states == {"model": "up", "database": "up", "worker": "disabled",
                      "watcher": "disabled", "grpc": "disabled"}
    assert body["components"]["model"]["required"] and body["components"]["database"]["required"]


def test_a_part_that_cannot_start_is_reported_and_the_others_run(
        settings: Settings, engine: FaceEngine, database: Database) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        both = settings.model_copy(update={"worker_in_serve": True, "grpc_port": port})
        with TestClient(create_app(both, engine=engine, database=database), headers=AUTH) as client:
            response = client.get("/health")
            assert response.status_code == 200  # neither part is required
            parts = response.json()["components"]
            assert parts["worker"]["state"] == "up"
            assert parts["grpc"]["state"] == "down"
            assert "failed to start" in parts["grpc"]["detail"]


def test_openapi_docs(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/detect", "/extract-embedding"} <= set(paths)


def test_detect_two_people(client: TestClient, engine: FaceEngine) -> None:
    data = data_file("scenes/two_people.jpg").read_bytes()
    response = _post(client, "/detect", data)
    assert response.status_code == 200
    body = response.json()
    assert (body["image_width"], body["image_height"]) == (1126, 661)
    assert body["processing_time_ms"] > 0
    assert len(body["faces"]) == 2
    expected = engine.analyze(read_bgr("scenes/two_people.jpg"))
    for face, reference in zip(body["faces"], expected, strict=True):
        assert box_distance(face["bbox"], reference.bbox) < 0.01
        assert len(face["embedding"]) == 512
        assert float(np.dot(face["embedding"], reference.embedding)) > 0.99999
        assert len(face["landmarks"]) == 5 and len(face["landmarks"][0]) == 2
        assert face["age"] is None and face["gender"] is None
        assert set(face["quality"]) == {"face_size", "blur", "yaw", "pitch", "roll"}
        assert 0 < face["det_score"] <= 1


def test_extract_embedding_equals_detect(client: TestClient) -> None:
    data = data_file("faces/rose_leslie/rose_2.jpg").read_bytes()
    detected = _post(client, "/detect", data).json()
    for encoded in (base64.b64encode(data).decode(),
                    "data:image/jpeg;base64," + base64.b64encode(data).decode()):
        response = client.post("/extract-embedding", json={"image_base64": encoded})
        assert response.status_code == 200
        body = response.json()
        assert body["faces"][0]["bbox"] == detected["faces"][0]["bbox"]
        assert body["faces"][0]["embedding"] == detected["faces"][0]["embedding"]


def test_options(client: TestClient) -> None:
    data = data_file("scenes/obama_and_biden.jpg").read_bytes()
    every = _post(client, "/detect", data).json()["faces"]
    assert len(every) == 3
    areas = [(f["bbox"][2] - f["bbox"][0]) * (f["bbox"][3] - f["bbox"][1]) for f in every]
    assert areas == sorted(areas, reverse=True)
    largest = _post(client, "/detect", data, max_faces=1).json()["faces"]
    assert [f["bbox"] for f in largest] == [every[0]["bbox"]]
    smallest = min(f["quality"]["face_size"] for f in every)
    big = _post(client, "/detect", data, min_face_size=smallest + 1).json()["faces"]
    assert len(big) == 2
    bare = _post(client, "/detect", data, include_embedding="false").json()["faces"]
    assert len(bare) == 3 and all(f["embedding"] is None for f in bare)
    response = _post(client, "/detect", data, max_faces=-1)
    assert response.status_code == 422 and "max_faces" in response.json()["detail"]


def test_no_face_is_an_empty_list(client: TestClient) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 140, 200)).save(buffer, "PNG")
    response = _post(client, "/detect", buffer.getvalue(), name="sky.png")
    assert response.status_code == 200
    assert response.json()["faces"] == []


def _truncated_jpeg() -> bytes:
    data = data_file("faces/obama/obama_1.jpg").read_bytes()
    return data[: len(data) // 2]


@pytest.mark.parametrize(("data", "status", "words"), [
    (b"", 400, "empty"),
    (b"this is a text file, renamed .jpg", 415, "not a recognised image"),
    (_truncated_jpeg(), 400, "truncated"),
    (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x00\x00\x00\x00"
     b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;", 415, "GIF"),
    (png_declaring(100_000, 100_000), 413, "100000x100000"),
], ids=["zero-bytes", "text-as-jpg", "truncated-jpeg", "gif", "png-bomb"])
def test_bad_uploads(client: TestClient, data: bytes, status: int, words: str) -> None:
    for path in ("/detect", "/extract-embedding"):
        if path == "/detect":
            response = _post(client, path, data)
        else:
            response = client.post(path, json={"image_base64": base64.b64encode(data).decode()})
        assert response.status_code == status, (path, response.text)
        detail = response.json()["detail"]
        assert isinstance(detail, str) and words in detail


@pytest.mark.parametrize("payload", [
    {"image_base64": "not base64 at all!"},
    {"image_base64": "QUJ"},  # a missing padding character
])
def test_invalid_base64(client: TestClient, payload: dict) -> None:
    response = client.post("/extract-embedding", json=payload)
    assert response.status_code == 400
    assert "base64" in response.json()["detail"]


def test_missing_fields(client: TestClient) -> None:
    response = client.post("/detect", data={"other": "x"})
    assert response.status_code == 422
    assert response.json()["detail"] == "file: Field required"
    response = client.post("/extract-embedding", json={})
    assert response.status_code == 422
    assert "image_base64" in response.json()["detail"]
    response = client.post("/extract-embedding", content=b"{not json",
                           headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


def test_upload_limit(settings: Settings, engine: FaceEngine, database: Database) -> None:
    small = settings.model_copy(update={"max_upload_mb": 0.05})
    with TestClient(create_app(small, engine=engine, database=database), headers=AUTH) as client:
        photo = data_file("faces/obama/obama_3.jpg").read_bytes()  # ~0.5 MB
        response = _post(client, "/detect", photo)
        assert response.status_code == 413
        assert "MB" in response.json()["detail"]
        # the body limit holds for a body streamed without a Content-Length too
        def chunks() -> Iterator[bytes]:
            yield from (photo[i : i + 65536] for i in range(0, len(photo), 65536))

        response = client.post("/extract-embedding", content=chunks(),
                               headers={"content-type": "application/json"})
        assert response.status_code == 413
        # a file under the limit still goes through
        fits = data_file("edge/obama_small.jpg").read_bytes()
        assert _post(client, "/detect", fits).status_code == 200


def test_concurrent_requests_match_serial_ones(client: TestClient) -> None:
    names = ["scenes/two_people.jpg", "scenes/kit_with_rose.jpg", "faces/biden/biden_1.jpg",
             "scenes/obama_and_biden.jpg", "faces/alex_lacamoire/alex_1.png",
             "edge/obama-720p.jpg"] * 2
    payloads = [data_file(n).read_bytes() for n in names]

    def run(data: bytes) -> list:
        response = _post(client, "/detect", data)
        assert response.status_code == 200
        return [(f["bbox"], f["embedding"]) for f in response.json()["faces"]]

    serial = [run(p) for p in payloads]
    with ThreadPoolExecutor(6) as pool:
        parallel = list(pool.map(run, payloads))
    for expected, got in zip(serial, parallel, strict=True):
        assert len(expected) == len(got)
        for (box_a, emb_a), (box_b, emb_b) in zip(expected, got, strict=True):
            assert box_a == box_b
            assert float(np.dot(emb_a, emb_b)) > 0.99999


def test_503_while_no_model_is_loaded(tmp_path: Path, settings: Settings,
                                      database: Database) -> None:
    (tmp_path / "w600k_mbf.onnx").write_bytes(b"\x08\x07 this is not a model")
    (tmp_path / "det_500m.onnx").write_bytes(b"\x08\x07 nor this")
    broken = settings.model_copy(update={"model": str(tmp_path)})
    with TestClient(create_app(broken, database=database), headers=AUTH) as client:
        holder = client.app.state.engine_holder
        deadline = time.monotonic() + 30
        while not holder.wait(0.1) and time.monotonic() < deadline:
            assert client.get("/health").status_code == 503
        response = client.get("/health")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unhealthy" and body["model"] is None
        assert body["components"]["model"]["state"] == "down"
        assert "failed to load" in body["components"]["model"]["detail"]
        assert body["components"]["database"]["state"] == "up"
        response = _post(client, "/detect", data_file("edge/obama_small.jpg").read_bytes())
        assert response.status_code == 503


def test_the_app_loads_its_own_model(settings: Settings, database: Database) -> None:
    with TestClient(create_app(settings, database=database), headers=AUTH) as client:
        assert client.app.state.engine_holder.wait(60)
        assert client.get("/health").json()["model"] == "buffalo_s"
