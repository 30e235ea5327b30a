"""The real server for contract tests: `likeness serve` in a subprocess, on a free loopback
port, with an embedded PostgreSQL and a model directory of its own.

What every client must send (an admin API key) is in `CLIENT_HEADERS`; what the server
needs to expect it (the bootstrap key) is in `SERVER_ENV`: the one place to change for
both the fuzzer and the generated client."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("LIKENESS_TEST_DATA", REPO.parent / "shared" / "data"))

ADMIN_KEY = "lk_contract-admin-key-0123456789abcdef"
# Sent with every request of the contract tests (schemathesis -H, the generated client,
# the seeding requests).
CLIENT_HEADERS: dict[str, str] = {"X-API-Key": ADMIN_KEY}
# Extra environment of the server: the admin key it creates at start.
# The fuzzer sends wrong keys by the thousand from one address: throttling them (tested in
# tests/api) would leave it nothing but 429s to look at.
SERVER_ENV: dict[str, str] = {"LIKENESS_BOOTSTRAP_API_KEY": ADMIN_KEY,
                              "LIKENESS_AUTH_FAILURES_PER_MINUTE": "1000000"}

START_TIMEOUT_S = 180  # initdb, migrations and the model load on a 2-core machine
STOP_TIMEOUT_S = 30
VIDEO_TIMEOUT_S = 120  # the worker scans the 9 s seed clip


def data_file(relative: str) -> Path:
    path = DATA / relative
    if not path.is_file():
        raise FileNotFoundError(f"test data missing: {path} (set LIKENESS_TEST_DATA)")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    """A running `likeness serve`; `url` has no trailing slash."""

    url: str
    log: Path
    data_dir: Path
    process: subprocess.Popen
    headers: dict[str, str] = field(default_factory=lambda: dict(CLIENT_HEADERS))
    seeded: dict[str, int] = field(default_factory=dict)

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return requests.request(method, self.url + path, headers=headers, timeout=60,
                                **kwargs)  # type: ignore[arg-type]

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def errors_logged(self, limit: int = 40) -> str:
        """The distinct exception lines of the server's log (the causes of 500s), counted."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        counts: dict[str, int] = {}
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("Traceback"):
                continue
            # the exception line: the first unindented line after the traceback
            for after in lines[i + 1:]:
                if after and not after[0].isspace() and not after.startswith("Traceback"):
                    key = re.sub(r"0x[0-9a-f]+", "0x…", after)[:300]
                    counts[key] = counts.get(key, 0) + 1
                    break
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
        return "\n".join(f"{n:5d} x {line}" for line, n in ranked)


def start(base: Path) -> LiveServer:
    """Start the server with its state under `base`; returns once GET /health is 200."""
    data_dir, model_dir, run_dir = base / "data", base / "models", base / "run"
    for directory in (data_dir, model_dir, run_dir):
        directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIKENESS_")}
    env.update({
        "LIKENESS_DATA_DIR": str(data_dir),
        "LIKENESS_MODEL_DIR": str(model_dir),  # empty: buffalo_s comes from its wheel
        "LIKENESS_MODEL": "buffalo_s",
        "LIKENESS_EMBEDDED_SHARED_BUFFERS": "128MB",
        # 1:N thresholds around the seed video's faces (Alex about 0.45, Obama 0.49): one
        # track is tagged, the other goes to review, so review ids exist to be fuzzed.
        "LIKENESS_MATCH_THRESHOLD": "0.47",
        "LIKENESS_REVIEW_THRESHOLD": "0.3",
        "PYTHONUNBUFFERED": "1",
        **SERVER_ENV,
    })
    log = base / "server.log"
    command = [sys.executable, "-m", "likeness.cli", "serve", "--host", "127.0.0.1",
               "--port", str(port)]
    with log.open("wb") as out:
        # its own session: a kill reaches what it started too; cwd: no stray .env read
        process = subprocess.Popen(command, cwd=run_dir, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    server = LiveServer(url=f"http://127.0.0.1:{port}", log=log, data_dir=data_dir,
                        process=process)
    deadline = time.monotonic() + START_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}):\n"
                               f"{server.log_tail()}")
        try:
            answer = server.request("GET", "/health")
            if answer.status_code == 200:
                return server
            last = f"{answer.status_code} {answer.text[:200]}"
        except requests.RequestException as error:
            last = repr(error)
        time.sleep(0.5)
    stop(server)
    raise RuntimeError(f"GET /health not 200 in {START_TIMEOUT_S} s ({last}):\n"
                       f"{server.log_tail()}")


def stop(server: LiveServer) -> None:
    """SIGTERM (a graceful stop also stops the embedded PostgreSQL), then SIGKILL to the
    server's process group, then the embedded PostgreSQL it left, by its pid file."""
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    pid_file = server.data_dir / "postgres" / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        if pid_file.exists():  # left running: a killed server never released it
            postmaster = int(pid_file.read_text().splitlines()[0])
            os.kill(postmaster, signal.SIGTERM)  # "smart" shutdown
            for _ in range(100):
                os.kill(postmaster, 0)
                time.sleep(0.1)


def seed(server: LiveServer) -> dict[str, int]:
    """A person registered from a photo, a second person, an event with a photo and a video
    scanned by the server's worker (tracks, review items), so that fuzzed ids (small
    integers) hit existing rows now and then."""
    with data_file("faces/obama/obama_1.jpg").open("rb") as photo:
        registered = server.request("POST", "/register", data={"name": "Barack Obama"},
                                    files={"file": ("obama_1.jpg", photo, "image/jpeg")})
    assert registered.status_code == 201, registered.text
    body = registered.json()
    with data_file("faces/alex_lacamoire/alex_1.png").open("rb") as photo:
        alex = server.request("POST", "/register", data={"name": "Alex Lacamoire"},
                              files={"file": ("alex_1.png", photo, "image/png")})
    assert alex.status_code == 201, alex.text  # the seed video's borderline face: a review
    person = server.request("POST", "/people", json={"name": "Joe Biden"})
    assert person.status_code == 201, person.text
    event = server.request("POST", "/events", json={"name": "Inauguration"})
    assert event.status_code == 201, event.text
    with data_file("scenes/two_people.jpg").open("rb") as photo:
        ingested = server.request("POST", f"/events/{event.json()['id']}/photos",
                                  data={"photo_id": "two_people"},
                                  files={"file": ("two_people.jpg", photo, "image/jpeg")})
    assert ingested.status_code in (200, 201), ingested.text
    with data_file("video/hamilton_clip.mp4").open("rb") as clip:
        queued = server.request("POST", "/videos",
                                files={"file": ("hamilton_clip.mp4", clip, "video/mp4")})
    assert queued.status_code == 202, queued.text
    video = queued.json()["video"]
    deadline = time.monotonic() + VIDEO_TIMEOUT_S
    while video["status"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.5)
        video = server.request("GET", f"/videos/{video['id']}").json()
    assert video["status"] == "done", f"the seeded video did not finish: {video}"
    return {"person": body["person"]["id"], "face": body["face"]["id"],
            "other_person": person.json()["id"], "event": event.json()["id"],
            "video": video["id"]}
