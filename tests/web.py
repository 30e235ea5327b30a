"""A real HTTP server for download tests: serves files of a directory and a few paths
that misbehave on purpose."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


def _handler(root: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            # the client may give up, as some tests want it to
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._answer()

        def _answer(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/redirect":  # /redirect?to=URL
                self._send(302, b"", {"Location": query["to"]})
            elif parts.path == "/loop":
                self._send(302, b"", {"Location": "/loop"})
            elif parts.path.startswith("/status/"):
                self._send(int(parts.path.rsplit("/", 1)[1]), b"no")
            elif parts.path == "/slow":  # headers, then a byte a second
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                for _ in range(30):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(1)
            elif parts.path == "/endless":  # no Content-Length, never ends
                self.send_response(200)
                self.end_headers()
                for _ in range(10_000):
                    self.wfile.write(b"\xff" * 65536)
            else:
                path = (root / parts.path.lstrip("/")).resolve()
                if root in path.parents and path.is_file():
                    self._send(200, path.read_bytes(), {"Content-Type": "image/jpeg"})
                else:
                    self._send(404, b"not found")

        def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def serving(root: Path) -> Iterator[str]:
    """The base URL (http://127.0.0.1:PORT) of a server for `root`, while in the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(root.resolve()))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
