"""What every CLI command shares: consoles, errors, settings, the engine and database."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.errors import LikenessError
from likeness.media import ImageLimits, decode_image
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
    with failing_on_errors():
        return FaceEngine.from_settings(settings)


@contextmanager
def open_database(settings: Settings) -> Iterator[Database]:
    with failing_on_errors():
        database = Database.open(settings)
    try:
        yield database
    finally:
        database.close()


def limits(settings: Settings) -> ImageLimits:
    return ImageLimits(settings.max_upload_bytes, settings.max_image_pixels)


def read_image(path: Path, image_limits: ImageLimits) -> np.ndarray:
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
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err_console, disable=total < 2)


def report_unreadable(path: Path, error: LikenessError, as_json: bool, table: Table) -> None:
    """A file that could not be read: a JSON line, or a red row of the table."""
    if as_json:
        print(json.dumps({"file": str(path), "error": str(error)}), flush=True)
    else:
        table.add_row(str(path), "-", f"[red]{error}[/]",
                      *[""] * (len(table.columns) - 3))
