"""The container images: the health check script, the Dockerfiles as the chroot verifier
reads them, and (with LIKENESS_VERIFY_IMAGE=1, as root) the whole verification: the
Dockerfile's steps in a Debian bookworm chroot, then the service started and used there."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def verifier() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_image", DEPLOY / "verify_image.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@contextmanager
def health_server(status: int) -> Iterator[int]:
    """A server whose GET /health answers `status`; its port."""
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            code = status if self.path == "/health" else 404
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def run_healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("LIKENESS_HOST", "HOST", "LIKENESS_PORT", "PORT")}
    return subprocess.run([sys.executable, str(DEPLOY / "healthcheck.py")],
                          env={**clean, **env}, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(("status", "exit_status"), [(200, 0), (503, 1)])
def test_healthcheck_passes_only_on_200(status: int, exit_status: int) -> None:
    # the image's own settings: listening on every address, the port from the variable
    with health_server(status) as port:
        result = run_healthcheck({"LIKENESS_HOST": "0.0.0.0", "LIKENESS_PORT": str(port)})
    assert result.returncode == exit_status, result.stdout + result.stderr
    assert f"http://127.0.0.1:{port}/health: {status}" in result.stdout


def test_healthcheck_fails_when_nothing_listens(free_tcp_port: int) -> None:
    result = run_healthcheck({"LIKENESS_PORT": str(free_tcp_port)})
    assert result.returncode == 1
    assert f"127.0.0.1:{free_tcp_port}/health" in result.stderr


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cuda"])
def test_dockerfiles_run_as_a_user_and_serve_with_a_healthcheck(dockerfile: str) -> None:
    module = verifier()
    instructions = module.parse_dockerfile(REPO / dockerfile)
    last = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    final = {ins.keyword: ins.arguments for ins in instructions[last:]}
    assert final["USER"] == "likeness"
    assert module.exec_form(final["ENTRYPOINT"]) == ["likeness"]
    assert module.exec_form(final["CMD"]) == ["serve"]
    assert final["HEALTHCHECK"].endswith('CMD ["likeness-healthcheck"]')
    env = dict(word.split("=", 1) for word in final["ENV"].split())
    assert final["EXPOSE"] == env["LIKENESS_PORT"]
    assert env["LIKENESS_DATA_DIR"] in module.exec_form(final["VOLUME"])
    assert env["LIKENESS_MODEL_DIR"] in module.exec_form(final["VOLUME"])
    # every step of the runtime stage goes through deploy/install.sh
    runs = [ins.arguments for ins in instructions if ins.keyword == "RUN"]
    assert runs and all("likeness-install " in run for run in runs)


def test_dockerignore_keeps_data_and_environments_out() -> None:
    ignore = verifier().DockerIgnore(REPO)
    for path in (".venv/bin/python", "data/postgres/PG_VERSION", ".env", ".git/HEAD",
                 "src/likeness/__pycache__/config.cpython-311.pyc", "build/lib/x.py"):
        assert ignore.excludes(path), path
    for path in ("src/likeness/config.py", "pyproject.toml", "deploy/install.sh"):
        assert not ignore.excludes(path), path


@pytest.mark.image
@pytest.mark.timeout(3600)
@pytest.mark.skipif(os.environ.get("LIKENESS_VERIFY_IMAGE") != "1",
                    reason="minutes, root and network: set LIKENESS_VERIFY_IMAGE=1")
def test_image_builds_and_serves_in_a_debian_chroot() -> None:
    result = subprocess.run([str(DEPLOY / "verify-image.sh")], capture_output=True, text=True,
                            timeout=3500)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "PASSED" in output
