"""What every CLI command shares: consoles, errors, settings, the engine and database."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
