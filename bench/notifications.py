"""Notifications: what publishing costs the change that publishes, how soon a webhook
receiver and an MQTT subscriber have the event, and how many deliveries a worker sends.

    python bench/notifications.py      # needs Debian's mosquitto (apt-get install mosquitto)

Everything is real and on loopback: the embedded PostgreSQL, a worker thread (procrastinate)
delivering to an HTTP server of this script, mosquitto on a free port with a paho
subscriber. Prints Markdown.
"""

from __future__ import annotations

import argparse
import getpass
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from common import machine
from sqlalchemy import text

from likeness.config import Settings
from likeness.jobs.queue import JobQueue, WorkerRuntime, WorkerThread
from likeness.services.notifications import MqttPublisher, NotificationService
from likeness.storage import ObjectStorage
from likeness.store import Database

SIGHTING = {"stream": {"id": 1, "name": "Front door"},
            "person": {"id": 7, "name": "Lin-Manuel Miranda"}, "similarity": 0.61}


class Arrivals:
    """When each message arrived (time.monotonic), and a way to wait for the n-th."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._cond = threading.Condition()

    def add(self) -> None:
        with self._cond:
            self.times.append(time.monotonic())
            self._cond.notify_all()

    def nth(self, n: int, timeout: float = 60) -> float:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.times) >= n, timeout):
                raise RuntimeError(f"{len(self.times)} of {n} arrived")
            return self.times[n - 1]


@contextmanager
def receiver() -> Iterator[tuple[str, Arrivals]]:
    arrivals = Arrivals()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            arrivals.add()
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", arrivals
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def mosquitto(directory: Path) -> Iterator[int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = directory / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                      f"user {getpass.getuser()}\n")
    broker = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        broker.terminate()
        broker.wait(10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def row(what: str, values: list[float]) -> str:
    return (f"| {what} | {len(values)} | {statistics.median(values):.1f} | "
            f"{percentile(values, 99):.1f} |")


def publish_cost(service: NotificationService, db: Database, hooks: int, count: int
                 ) -> list[float]:
    """ms for publish() and the commit, with `hooks` subscribed webhooks."""
    with db.session() as session:
        session.execute(text("TRUNCATE webhooks, procrastinate_jobs CASCADE"))
        session.commit()
        for i in range(hooks):
            service.create_webhook(session, f"http://127.0.0.1:9/{i}", ["sighting"],
                                   allow_private=True)
        times = []
        for _ in range(count):
            started = time.perf_counter()
            service.publish(session, "sighting", SIGHTING, topic=("front door", "lin"))
            session.commit()
            times.append((time.perf_counter() - started) * 1000)
        session.execute(text("TRUNCATE webhooks, procrastinate_jobs CASCADE"))
        session.commit()
    return times


def webhook_latency(service: NotificationService, db: Database, count: int, burst: int
                    ) -> tuple[list[float], float]:
    """ms from the commit to the receiver having it, one event at a time; then the
    deliveries/s of a burst of events committed at once."""
    with receiver() as (url, arrivals), db.session() as session:
        service.create_webhook(session, url, ["sighting"], allow_private=True)
        latencies = []
        for n in range(1, count + 1):
            started = time.monotonic()
            service.publish(session, "sighting", SIGHTING)
            session.commit()
            latencies.append((arrivals.nth(n) - started) * 1000)
        started = time.monotonic()
        for _ in range(burst):
            service.publish(session, "sighting", SIGHTING)
        session.commit()
        took = arrivals.nth(count + burst, timeout=600) - started
        session.execute(text("TRUNCATE webhooks, procrastinate_jobs CASCADE"))
        session.commit()
    return latencies, burst / took


def mqtt_latency(settings: Settings, queue: JobQueue, db: Database, port: int, count: int
                 ) -> list[float]:
    """ms from the commit to a subscriber having the message."""
    service = NotificationService.from_settings(
        settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{port}"}), queue)
    assert service.mqtt is not None and service.mqtt.connected.wait(10)
    arrivals = Arrivals()
    subscribed = threading.Event()
    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    subscriber.on_subscribe = lambda *_: subscribed.set()
    subscriber.on_message = lambda *_: arrivals.add()
    subscriber.connect("127.0.0.1", port)
    subscriber.subscribe("likeness/#", qos=1)
    subscriber.loop_start()
    subscribed.wait(10)
    latencies = []
    try:
        with db.session() as session:
            for n in range(1, count + 1):
                started = time.monotonic()
                service.publish(session, "sighting", SIGHTING, topic=("front door", "lin"))
                session.commit()
                latencies.append((arrivals.nth(n) - started) * 1000)
    finally:
        subscriber.disconnect()
        subscriber.loop_stop()
        MqttPublisher.close_all()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300, help="events per measurement")
    parser.add_argument("--burst", type=int, default=1000, help="events in the burst")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="likeness-bench-notify-"))
    settings = Settings(data_dir=directory / "data", model_dir=directory / "models",
                        worker_in_serve=False)
    db = Database.open(settings)
    queue = JobQueue(db, settings)
    service = NotificationService.from_settings(settings, queue)
    lines = ["| measured | events | p50 ms | p99 ms |", "|---|---:|---:|---:|"]
    try:
        for hooks in (0, 1, 5):
            lines.append(row(f"publish() + commit, {hooks} webhooks subscribed",
                             publish_cost(service, db, hooks, args.events)))
        # Deliveries need no model: the worker gets none.
        runtime: Any = WorkerRuntime(None, db, settings,  # type: ignore[arg-type]
                                     ObjectStorage.from_settings(settings))
        worker = WorkerThread(queue, runtime)
        worker.start()
        try:
            latencies, rate = webhook_latency(service, db, args.events, args.burst)
        finally:
            worker.stop()
        lines.append(row("webhook: commit → receiver has it", latencies))
        with mosquitto(directory) as port:
            lines.append(row("MQTT: commit → subscriber has it",
                             mqtt_latency(settings, queue, db, port, args.events)))
    finally:
        db.close()
        shutil.rmtree(directory, ignore_errors=True)
    print(f"Machine: {machine()}\n")
    print("\n".join(lines))
    print(f"\nBurst: {args.burst} events committed at once, sent by one worker "
          f"(2 jobs at a time): {rate:.0f} deliveries/s")


if __name__ == "__main__":
    main()
