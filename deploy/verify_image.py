#!/usr/bin/env python3
"""Verify the Dockerfile where no container can run: its steps in a Debian chroot.

Each stage starts from a Debian root made with `debootstrap` that stands in for the stage's
base image (cached as a tarball), and the Dockerfile's own instructions run in it: COPY
from the build context (minus .dockerignore) or from an earlier stage, RUN with its bind and
cache mounts, ENV, USER, WORKDIR. The last stage is then run as compose.yaml runs the
image, as its USER with its ENV, on its default embedded PostgreSQL: `db upgrade`, then its
ENTRYPOINT and CMD (`likeness serve`) beside `likeness worker`, until /health answers 200;
then two people are registered and recognized with the bootstrap API key, a video is
scanned by the worker, `likeness keys add` runs beside them (as `docker exec` would), the
HEALTHCHECK command must pass, and SIGTERM must stop everything.

Standard library only; needs root, and network access to a Debian mirror and PyPI.
Run it through deploy/verify-image.sh.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import mimetypes
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MIRROR = "http://deb.debian.org/debian"
# RUN steps trust the host's certificate authorities, as a build on this host would have to
# (where a proxy re-signs HTTPS, PyPI's certificate is otherwise refused); the image's own
# bundle is back in place after each step.
CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"


@dataclass(frozen=True)
class Base:
    """A Debian root that stands in for an image: the suite, the packages beyond minbase
    (debian:*-slim is a minbase root), and the environment the image sets."""

    suite: str
    packages: tuple[str, ...]
    env: dict[str, str]

    def tarball(self, cache: Path) -> Path:
        digest = hashlib.sha256(" ".join(self.packages).encode()).hexdigest()[:10]
        return cache / f"{self.suite}-minbase-{digest}.tar"


DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# python:3.11-slim-bookworm is debian:bookworm-slim with Python 3.11 built into /usr/local
# and the runtime packages below; here Debian's own python3 (3.11 too) takes its place.
BASES = {
    "python:3.11-slim-bookworm": Base(
        "bookworm", ("python3", "python3-venv", "ca-certificates", "netbase", "tzdata"),
        {"PATH": DEFAULT_PATH, "LANG": "C.UTF-8"}),
}


class VerificationFailed(Exception):
    pass


def log(message: str) -> None:
    print(f"[verify-image {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(*args: str, **kwargs: Any) -> None:
    subprocess.run(args, check=True, **kwargs)


# ------------------------------------------------------------------ the Dockerfile


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    line: int


def parse_dockerfile(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined; comments and blank lines dropped."""
    instructions, pending, start = [], "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip(), start))
        pending = ""
    return instructions


def split_options(arguments: str) -> tuple[dict[str, list[str]], list[str]]:
    """`--name=value` options (repeatable) and the remaining words."""
    words = shlex.split(arguments)
    options: dict[str, list[str]] = {}
    while words and words[0].startswith("--"):
        name, _, value = words.pop(0)[2:].partition("=")
        options.setdefault(name, []).append(value)
    return options, words


def mount_spec(value: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in value.split(","))


def expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$(?:\{(\w+)\}|(\w+))",
                  lambda m: env.get(m.group(1) or m.group(2), ""), value)


def exec_form(arguments: str) -> list[str]:
    words = json.loads(arguments)
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise VerificationFailed(f"expected a JSON array of strings: {arguments}")
    return words


class DockerIgnore:
    """.dockerignore's patterns: `*`, `?` and `**`; a directory excluded excludes its
    contents. Exceptions (`!`) are not supported: none are used."""

    def __init__(self, context: Path) -> None:
        self.patterns = []
        path = context / ".dockerignore"
        lines = path.read_text().splitlines() if path.exists() else []
        for line in (raw.strip() for raw in lines):
            if not line or line.startswith("#"):
                continue
            if line.startswith("!"):
                raise VerificationFailed(".dockerignore exceptions (!) are not supported")
            self.patterns.append(re.compile(self._regex(line.strip("/"))))

    @staticmethod
    def _regex(pattern: str) -> str:
        out = pattern.replace(".", r"\.").replace("**/", "\0").replace("*", "[^/]*")
        return "^" + out.replace("?", "[^/]").replace("\0", "(?:.*/)?") + "$"

    def excludes(self, relative: str) -> bool:
        parts = relative.split("/")
        prefixes = ("/".join(parts[:n]) for n in range(1, len(parts) + 1))
        return any(p.match(prefix) for prefix in prefixes for p in self.patterns)


# ------------------------------------------------------------------ roots and processes


def passwd_entry(root: Path, user: str) -> tuple[int, int, str]:
    """uid, gid and home of a user name or uid in the root's /etc/passwd."""
    for line in (root / "etc/passwd").read_text().splitlines():
        name, _, uid, gid, _, home, _ = line.split(":")
        if user in (name, uid):
            return int(uid), int(gid), home
    raise VerificationFailed(f"no user {user!r} in the image's /etc/passwd")


def entering(root: Path, uid: int, gid: int, workdir: str) -> Callable[[], None]:
    """What the child does before exec: the image's root, directory and user."""
    def enter() -> None:
        os.chroot(root)
        os.chdir(workdir)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return enter


def processes_in(root: Path) -> list[int]:
    """Processes whose root directory is this root: what runs 'in the container'."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "root") == str(root):
                    found.append(int(entry.name))
    return found


def mounted_under(directory: Path) -> list[str]:
    prefix = f"{directory}/"
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if line.split()[4].startswith(prefix)]


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise VerificationFailed(f"no uid for process {pid}")


@dataclass
class Stage:
    name: str
    root: Path
    env: dict[str, str]
    user: str = "root"
    workdir: str = "/"
    healthcheck: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)

    def process_env(self, extra: dict[str, str] | None = None) -> tuple[int, int, dict[str, str]]:
        uid, gid, home = passwd_entry(self.root, self.user)
        env = {"HOME": home, **self.env, **(extra or {})}
        return uid, gid, env

    def popen(self, argv: list[str], extra_env: dict[str, str] | None = None,
              **kwargs: Any) -> subprocess.Popen[bytes]:
        uid, gid, env = self.process_env(extra_env)
        return subprocess.Popen(argv, env=env, preexec_fn=entering(
            self.root, uid, gid, self.workdir), **kwargs)

    def run(self, argv: list[str], extra_env: dict[str, str] | None = None,
            capture: bool = False, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
        uid, gid, env = self.process_env(extra_env)
        return subprocess.run(argv, env=env, preexec_fn=entering(
            self.root, uid, gid, self.workdir), capture_output=capture, text=True,
            timeout=timeout, check=False)


class Builder:
    """Runs a Dockerfile's instructions on chroots under `work`; `close` undoes every
    mount and ends every process left in them."""

    def __init__(self, context: Path, work: Path, cache: Path) -> None:
        self.context, self.work, self.cache = context, work, cache
        self.ignore = DockerIgnore(context)
        self.stages: dict[str, Stage] = {}
        self.mounts: list[Path] = []
        self.created: set[Path] = set()  # mount points made for a RUN step

    # ---- mounts

    def mount(self, *args: str, target: Path) -> None:
        if not target.exists():
            target.mkdir(parents=True)
            self.created.add(target)
        run("mount", *args, str(target))
        self.mounts.append(target)

    def unmount(self, target: Path) -> None:
        """Unmount, and remove the mount point if it was made for the mount (as BuildKit
        does: a RUN's mount leaves nothing in the image)."""
        run("umount", str(target))
        self.mounts.remove(target)
        if target in self.created:
            target.rmdir()
            self.created.discard(target)

    def close(self) -> None:
        for stage in self.stages.values():
            for pid in processes_in(stage.root):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        for target in reversed(self.mounts):
            # lazily, if something still holds it: the next run's roots are new ones
            if subprocess.run(["umount", str(target)], check=False).returncode:
                subprocess.run(["umount", "--lazy", str(target)], check=False)
        self.mounts.clear()

    def remove(self) -> None:
        """Delete the roots, never what is mounted in them (/dev is the host's)."""
        left = mounted_under(self.work)
        if left:
            log(f"not deleting {self.work}: still mounted: {', '.join(left)}")
            return
        run("rm", "-rf", "--one-file-system", str(self.work))

    # ---- bases

    def base_tarball(self, base: Base) -> Path:
        tarball = base.tarball(self.cache)
        if tarball.exists():
            log(f"base root from the cache: {tarball}")
            return tarball
        if shutil.which("debootstrap") is None:
            log("installing debootstrap")
            run("apt-get", "update", "-qq")
            run("apt-get", "install", "-y", "-qq", "debootstrap",
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        staging = self.work / "debootstrap"
        log(f"debootstrap --variant=minbase {base.suite} + {' '.join(base.packages)}")
        run("debootstrap", "--variant=minbase", f"--include={','.join(base.packages)}",
            base.suite, str(staging), MIRROR, stdout=subprocess.DEVNULL)
        # like the slim images: no package files or lists left behind
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (staging / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        self.cache.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".partial")
        run("tar", "-C", str(staging), "-cf", str(partial), ".")
        partial.rename(tarball)
        shutil.rmtree(staging)
        return tarball

    def new_stage(self, image: str, name: str) -> Stage:
        if image in self.stages:
            parent = self.stages[image]
            raise VerificationFailed(f"FROM an earlier stage ({parent.name}) is not supported")
        base = BASES.get(image)
        if base is None:
            raise VerificationFailed(f"no stand-in for the base image {image!r}: "
                                     f"known: {', '.join(BASES)}")
        root = self.work / f"stage-{len(self.stages)}-{name}"
        root.mkdir(parents=True)
        run("tar", "-C", str(root), "-xf", str(self.base_tarball(base)))
        shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
        self.mount("-t", "proc", "proc", target=root / "proc")
        self.mount("-t", "sysfs", "-o", "ro", "sysfs", target=root / "sys")
        self.mount("--bind", "/dev", target=root / "dev")
        self.mount("-t", "tmpfs", "-o", "mode=1777", "shm", target=root / "dev/shm")
        stage = Stage(name, root, dict(base.env))
        self.stages[name] = stage
        return stage

    # ---- instructions

    def build(self, dockerfile: Path) -> Stage:
        stage: Stage | None = None
        for instruction in parse_dockerfile(dockerfile):
            keyword, arguments = instruction.keyword, instruction.arguments
            if keyword == "FROM":
                words = arguments.split()
                name = words[2] if len(words) == 3 and words[1].upper() == "AS" \
                    else f"stage{len(self.stages)}"
                log(f"FROM {words[0]} ({name})")
                stage = self.new_stage(words[0], name)
                continue
            if stage is None:
                raise VerificationFailed(f"line {instruction.line}: {keyword} before FROM")
            handler = getattr(self, f"do_{keyword.lower()}", None)
            if handler is None:
                raise VerificationFailed(f"line {instruction.line}: {keyword} is not supported")
            handler(stage, arguments)
        if stage is None:
            raise VerificationFailed(f"{dockerfile} has no FROM")
        return stage

    def do_copy(self, stage: Stage, arguments: str) -> None:
        options, words = split_options(arguments)
        unknown = set(options) - {"from", "chmod"}
        if unknown or len(words) < 2:
            raise VerificationFailed(f"COPY {arguments}: unsupported")
        *sources, destination = words
        target = stage.root / Path(stage.workdir, destination).relative_to("/")
        into_directory = destination.endswith("/") or len(sources) > 1
        mode = int(options["chmod"][0], 8) if "chmod" in options else None
        if "from" in options:
            origin, ignore = self.stages[options["from"][0]].root, None
        else:
            origin, ignore = self.context, self.ignore
        for source in sources:
            path = origin / source.lstrip("/")
            if path.is_dir():
                self.copy_tree(path, target, origin, ignore, mode)
            else:
                self.copy_file(path, target / path.name if into_directory else target, mode)
        log(f"COPY {arguments}")

    def copy_tree(self, directory: Path, target: Path, origin: Path,
                  ignore: DockerIgnore | None, mode: int | None) -> None:
        for path in sorted(directory.rglob("*")):
            if path.is_dir() or (ignore and ignore.excludes(str(path.relative_to(origin)))):
                continue
            self.copy_file(path, target / path.relative_to(directory), mode)

    @staticmethod
    def copy_file(source: Path, target: Path, mode: int | None) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        os.chown(target, 0, 0)
        if mode is not None:
            target.chmod(mode)

    def do_run(self, stage: Stage, arguments: str) -> None:
        command = arguments
        mounts = []
        while command.startswith("--mount="):
            option, _, command = command.partition(" ")
            mounts.append(mount_spec(option.removeprefix("--mount=")))
            command = command.lstrip()
        bound = []
        for spec in mounts:
            target = stage.root / spec["target"].lstrip("/")
            if spec.get("type") == "cache":  # kept between runs, as BuildKit's cache
                source = self.cache / "mounts" / spec["target"].strip("/").replace("/", "_")
                source.mkdir(parents=True, exist_ok=True)
                self.mount("--bind", str(source), target=target)
            elif spec.get("type") == "bind" and "from" in spec:
                source = self.stages[spec["from"]].root / spec.get("source", "/").lstrip("/")
                self.mount("--bind", "-o", "ro", str(source), target=target)
            else:
                raise VerificationFailed(f"RUN --mount={spec}: unsupported")
            bound.append(target)
        if Path("/", CA_BUNDLE).is_file() and (stage.root / CA_BUNDLE).is_file():
            self.mount("--bind", "-o", "ro", str(Path("/", CA_BUNDLE)),
                       target=stage.root / CA_BUNDLE)
            bound.append(stage.root / CA_BUNDLE)
        log(f"RUN {command}")
        started = time.monotonic()
        try:
            result = stage.run(["/bin/sh", "-c", command])
        finally:
            for target in reversed(bound):
                self.unmount(target)
        if result.returncode:
            raise VerificationFailed(f"RUN {command}: exit status {result.returncode}")
        log(f"RUN done in {time.monotonic() - started:.0f} s")

    def do_env(self, stage: Stage, arguments: str) -> None:
        for word in shlex.split(arguments):
            key, equals, value = word.partition("=")
            if not equals:
                raise VerificationFailed(f"ENV {arguments}: use the KEY=VALUE form")
            stage.env[key] = expand(value, stage.env)

    def do_user(self, stage: Stage, arguments: str) -> None:
        stage.user = arguments.strip()

    def do_workdir(self, stage: Stage, arguments: str) -> None:
        stage.workdir = str(Path(stage.workdir, arguments.strip()))
        (stage.root / stage.workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)

    def do_volume(self, stage: Stage, arguments: str) -> None:
        for volume in exec_form(arguments):
            if not (stage.root / volume.lstrip("/")).is_dir():
                raise VerificationFailed(f"VOLUME {volume} is not a directory of the image")

    def do_expose(self, stage: Stage, arguments: str) -> None:
        pass  # nothing to do without a network namespace

    def do_healthcheck(self, stage: Stage, arguments: str) -> None:
        command = re.search(r"(?:^|\s)CMD\s+(.*)$", arguments)
        if command is None:
            raise VerificationFailed(f"HEALTHCHECK {arguments}: no CMD")
        stage.healthcheck = exec_form(command.group(1))

    def do_entrypoint(self, stage: Stage, arguments: str) -> None:
        stage.entrypoint = exec_form(arguments)

    def do_cmd(self, stage: Stage, arguments: str) -> None:
        stage.cmd = exec_form(arguments)


# ------------------------------------------------------------------ the running image


# Files of the test data (shared/data): two people enrolled, a photo of both, a video.
ENROLLED = {"Obama": "faces/obama/obama_1.jpg", "Biden": "faces/biden/biden_1.jpg"}
GROUP_PHOTO = "scenes/two_people.jpg"
VIDEO = "video/hamilton_clip.mp4"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def multipart(fields: dict[str, str], files: dict[str, Path]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
             f"{value}\r\n".encode() for name, value in fields.items()]
    for name, path in files.items():
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{path.name}"\r\nContent-Type: {kind}\r\n\r\n')
        parts.append(head.encode() + path.read_bytes() + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def call(url: str, key: str | None = None, fields: dict[str, str] | None = None,
         files: dict[str, Path] | None = None) -> tuple[int, dict[str, Any]]:
    headers, body = {}, None
    if key:
        headers["X-API-Key"] = key
    if files is not None:
        body, headers["Content-Type"] = multipart(fields or {}, files)
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def wait_healthy(base_url: str, server: subprocess.Popen[bytes], timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if server.poll() is not None:
            raise VerificationFailed(f"`serve` exited with status {server.returncode}")
        with contextlib.suppress(OSError, ValueError):
            status, body = call(f"{base_url}/health")
            if status == 200 and body.get("status") == "healthy":
                return time.monotonic() - started
        time.sleep(1)
    raise VerificationFailed(f"/health not healthy after {timeout_s:.0f} s")


def check(condition: bool, message: str) -> None:
    if not condition:
        raise VerificationFailed(message)
    log(f"ok: {message}")


def inspect_image(image: Stage) -> None:
    """What the runtime stage must and must not hold."""
    check(image.user != "root" and passwd_entry(image.root, image.user)[0] != 0,
          f"the image runs as a non-root user ({image.user})")
    compilers = [name for name in ("cc", "gcc", "g++", "clang", "make")
                 for directory in image.env["PATH"].split(":")
                 if (image.root / directory.lstrip("/") / name).exists()]
    check(not compilers, "no compiler or make on the image's PATH")
    check(not (image.root / "src").exists() and not (image.root / "wheels").exists(),
          "neither the source tree nor the wheels are in the image")
    size = subprocess.run(["du", "-sm", "--one-file-system", str(image.root)],
                          capture_output=True, text=True, check=True).stdout.split()[0]
    venv = subprocess.run(["du", "-sm", str(image.root / "opt/likeness")],
                          capture_output=True, text=True, check=True).stdout.split()[0]
    log(f"image root: {size} MB, of which the virtual environment /opt/likeness: {venv} MB")


def start(image: Stage, argv: list[str], env: dict[str, str], log_path: Path
          ) -> subprocess.Popen[bytes]:
    log(f"starting {shlex.join(argv)} as {image.user} (log: {log_path})")
    with log_path.open("wb") as output:
        return image.popen(argv, env, stdout=output, stderr=subprocess.STDOUT,
                           start_new_session=True)


def stop(process: subprocess.Popen[bytes], log_path: Path, name: str) -> None:
    """SIGTERM, as `docker stop`; uvicorn raises the signal again once it has shut down,
    so the exit status says what stopped it."""
    process.send_signal(signal.SIGTERM)
    status = process.wait(timeout=120)
    text = log_path.read_text(errors="replace")
    check(status in (0, -signal.SIGTERM) and "Traceback" not in text,
          f"SIGTERM stopped {name} cleanly (exit status {status}, no traceback in its log)")


def wait_scanned(base_url: str, key: str, video_id: int, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, body = call(f"{base_url}/videos/{video_id}", key)
        if status != 200 or body["status"] in ("done", "failed"):
            return body
        time.sleep(1)
    raise VerificationFailed(f"video {video_id} not scanned after {timeout_s:.0f} s")


def exercise(image: Stage, data: Path, work: Path, health_timeout_s: float) -> None:
    """Run the image in compose.yaml's roles, one after the other (migrate) and side by
    side (api, worker), on the image's default database, and use it."""
    port, key = free_port(), f"lk_verify-{uuid.uuid4().hex}"
    # like `docker run -e ...`: the key, and a free loopback port (the chroot shares the
    # host's network, where 0.0.0.0:8000 would be open to all and may be taken)
    env = {"LIKENESS_BOOTSTRAP_API_KEY": key, "LIKENESS_PORT": str(port),
           "LIKENESS_HOST": "127.0.0.1", "LIKENESS_WORKER_IN_SERVE": "false"}
    base_url = f"http://127.0.0.1:{port}"

    upgrade = image.run([*image.entrypoint, "db", "upgrade"], env, capture=True, timeout=600)
    if upgrade.returncode:
        log(f"`likeness db upgrade` said:\n{(upgrade.stdout + upgrade.stderr)[-3000:]}")
    check(upgrade.returncode == 0, "`likeness db upgrade` (compose's migrate) ran: the "
          "embedded PostgreSQL initialised in the data volume, the migrations applied")

    logs = {"serve": work / "serve.log", "worker": work / "worker.log"}
    processes = {"serve": start(image, image.entrypoint + image.cmd, env, logs["serve"]),
                 "worker": start(image, [*image.entrypoint, "worker"], env, logs["worker"])}
    try:
        waited = wait_healthy(base_url, processes["serve"], health_timeout_s)
        log(f"ok: /health answered 200 (healthy) {waited:.0f} s after the start")
        inside = processes_in(image.root)
        check(bool(inside) and all(uid_of(pid) != 0 for pid in inside),
              f"all {len(inside)} processes in the image (serve, worker, PostgreSQL) are "
              "non-root")

        for name, photo in ENROLLED.items():
            status, body = call(f"{base_url}/register", key, {"name": name},
                                {"file": data / photo})
            check(status == 201, f"POST /register {name} with the bootstrap key: {status}")
        status, body = call(f"{base_url}/recognize", key,
                            files={"file": data / GROUP_PHOTO})
        faces = body.get("faces", []) if status == 200 else []
        matched = sorted(f["person"]["name"] for f in faces if f["decision"] == "match")
        check(matched == sorted(ENROLLED), f"POST /recognize on {GROUP_PHOTO} matched {matched}")

        status, body = call(f"{base_url}/videos", key, files={"file": data / VIDEO})
        check(status == 202, f"POST /videos {VIDEO} queued a scan: {status}")
        video = wait_scanned(base_url, key, body["video"]["id"], 300)
        check(video.get("status") == "done" and video.get("samples_done", 0) > 0,
              f"the worker process scanned it (PyAV): {video.get('status')}, "
              f"{video.get('samples_done')} samples, error {video.get('error')}")

        added = image.run([*image.entrypoint, "keys", "add", "verifier", "--role", "viewer"],
                          env, capture=True, timeout=300)
        viewer_key = re.search(r"lk_\S+", added.stdout)
        check(added.returncode == 0 and viewer_key is not None,
              "`likeness keys add` beside the server (as docker exec) printed a key")
        assert viewer_key is not None
        status, body = call(f"{base_url}/people", viewer_key.group(0))
        check(status == 200 and body.get("total") == len(ENROLLED),
              f"GET /people with that viewer key: {status}, total {body.get('total')}")

        health = image.run(image.healthcheck, env, capture=True, timeout=30)
        check(health.returncode == 0,
              f"HEALTHCHECK {shlex.join(image.healthcheck)}: exit {health.returncode} "
              f"({(health.stdout + health.stderr).strip()})")

        for name in ("worker", "serve"):
            stop(processes[name], logs[name], f"`{name}`")
        deadline = time.monotonic() + 30
        while processes_in(image.root) and time.monotonic() < deadline:
            time.sleep(0.5)
        check(not processes_in(image.root), "the embedded PostgreSQL stopped with them")
    except BaseException:
        for name, path in logs.items():
            log(f"{name}'s log ends with:\n{path.read_text(errors='replace')[-3000:]}")
        raise
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dockerfile", type=Path, default=REPO / "Dockerfile")
    parser.add_argument("--context", type=Path, default=REPO,
                        help="the build context (default: the repository)")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get(
        "LIKENESS_VERIFY_CACHE", "/var/cache/likeness-verify-image")),
                        help="the base root tarballs and pip's cache ($LIKENESS_VERIFY_CACHE)")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get(
        "LIKENESS_TEST_DATA", REPO.parent / "shared" / "data")),
                        help="the test photos ($LIKENESS_TEST_DATA)")
    parser.add_argument("--health-timeout", type=float, default=600,
                        help="seconds for /health to answer 200")
    parser.add_argument("--keep", action="store_true", help="keep the roots afterwards")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("verify-image needs root (debootstrap, chroot, mounts)", file=sys.stderr)
        return 2
    missing = [name for name in (*ENROLLED.values(), GROUP_PHOTO, VIDEO)
               if not (args.data / name).is_file()]
    if missing:
        print(f"test data missing under {args.data}: {', '.join(missing)} (--data or "
              "LIKENESS_TEST_DATA)", file=sys.stderr)
        return 2
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="likeness-verify-image-", dir="/var/tmp"))
    builder = Builder(args.context.resolve(), work, args.cache.resolve())
    try:
        image = builder.build(args.dockerfile)
        log(f"built the image's root in {time.monotonic() - started:.0f} s")
        inspect_image(image)
        exercise(image, args.data, work, args.health_timeout)
    except (VerificationFailed, subprocess.SubprocessError) as error:
        log(f"FAILED: {error}")
        return 1
    finally:
        builder.close()
        if args.keep:
            log(f"kept {work}")
        else:
            builder.remove()
    log(f"PASSED in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
