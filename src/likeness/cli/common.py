"""What every CLI command shares: consoles, errors, settings, the engine and database.

Imports here and in the command modules stay light: `likeness --help` loads only Typer
and these modules, and a command imports what it needs (numpy, ONNX Runtime, SQLAlchemy,
...) when it runs (tests/cli/test_imports.py keeps it so)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console

from likeness.errors import LikenessError

if TYPE_CHECKING:
    import numpy as np
    from rich.progress import Progress
    from rich.table import Table

    from likeness.config import Settings
    from likeness.engine import FaceEngine
    from likeness.media import ImageLimits
    from likeness.services.clusters import InlineClustering
    from likeness.services.notifications import NotificationService
    from likeness.store import Database

T = TypeVar("T")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """Print `message` as an error; raise what this returns to exit with status 1."""
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(1)


@contextmanager
def failing_on_errors() -> Iterator[None]:
    """Turn a LikenessError into a clean error message and exit status 1."""
    try:
        yield
    except LikenessError as exc:
        raise fail(str(exc)) from exc


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def load_engine(settings: Settings) -> FaceEngine:
    from likeness.engine import FaceEngine

    with failing_on_errors():
        return FaceEngine.from_settings(settings)


@contextmanager
def open_database(settings: Settings) -> Iterator[Database]:
    from likeness.store import Database

    with failing_on_errors():
        database = Database.open(settings)
    try:
        yield database
    finally:
        database.close()


MQTT_FLUSH_S = 5.0  # how long a command waits for its MQTT messages to reach the broker


@contextmanager
def notifying(database: Database, settings: Settings) -> Iterator[NotificationService]:
    """Webhooks and MQTT for what a command does (a retro-match's tags, a named
    cluster): webhook deliveries are queued with the change, for the workers to send;
    MQTT messages are sent before the command ends."""
    from likeness.jobs.queue import JobQueue
    from likeness.services.notifications import MqttPublisher, NotificationService

    try:
        yield NotificationService.from_settings(settings, JobQueue(database, settings))
    finally:
        MqttPublisher.close_all(MQTT_FLUSH_S)


def inline_clustering(database: Database, settings: Settings, model: str
                      ) -> InlineClustering:
    """Clustering done at once, as the CLI runs no worker to queue it for."""
    from likeness.services.clusters import ClusterService, InlineClustering

    return InlineClustering(database.sessions, ClusterService.from_settings(settings), model)


def limits(settings: Settings) -> ImageLimits:
    from likeness.media import ImageLimits

    return ImageLimits(settings.max_upload_bytes, settings.max_image_pixels)


def read_image(path: Path, image_limits: ImageLimits) -> np.ndarray:
    from likeness.media import decode_image

    return decode_image(read_bytes(path), image_limits)


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LikenessError(f"cannot read {path}: {exc.strerror}") from exc


BATCH = 8  # items per engine call: enough to keep every inference worker busy


def loaded_batches(items: Sequence[T], load: Callable[[T], R], threads: int = 2
                   ) -> Iterator[list[tuple[T, R | LikenessError]]]:
    """`load` of each item, in batches of BATCH (an item that fails comes as its error).
    The next batch loads, `threads` items at a time, while the caller works on the
    current one; no more than those two batches are held in memory."""
    def attempt(item: T) -> tuple[T, R | LikenessError]:
        try:
            return item, load(item)
        except LikenessError as exc:
            return item, exc

    batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
    with ThreadPoolExecutor(threads) as pool:
        ahead = [pool.submit(attempt, item) for item in batches[0]] if batches else []
        for following in [*batches[1:], []]:
            current, ahead = ahead, [pool.submit(attempt, item) for item in following]
            yield [future.result() for future in current]


def progress_bar(total: int) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err_console, disable=total < 2)


def report_unreadable(path: Path, error: LikenessError, as_json: bool, table: Table) -> None:
    """A file that could not be read: a JSON line, or a red row of the table."""
    if as_json:
        print(json.dumps({"file": str(path), "error": str(error)}), flush=True)
    else:
        table.add_row(str(path), "-", f"[red]{error}[/]",
                      *[""] * (len(table.columns) - 3))


def load_settings() -> Settings:
    """The settings (likeness.config.get_settings), imported when a command runs."""
    from likeness.config import get_settings

    return get_settings()
