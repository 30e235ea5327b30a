"""Video commands: scan, worker, watch."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from likeness.cli.common import (
    configure_logging,
    console,
    failing_on_errors,
    inline_clustering,
    load_engine,
    load_settings,
    notifying,
    open_database,
    progress_bar,
)
from likeness.errors import LikenessError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


def register(app: typer.Typer) -> None:
    for command in (scan, worker, watch):
        app.command()(command)


def _ms(value: int) -> str:
    return f"{value / 1000:.1f}s"


def _on_progress(progress: Progress, task: TaskID) -> Callable[[int, int | None], None]:
    """A scan's progress callback, moving `task` of the bar."""
    return lambda done, total: progress.update(task, completed=done, total=total)


def scan(
    videos: Annotated[list[Path], typer.Argument(help="Video files", exists=True,
                                                 dir_okay=False)],
    fps: Annotated[float | None, typer.Option(min=0.01, max=60,
                                              help="Samples per second")] = None,
    keyframes: Annotated[bool, typer.Option(help="Only keyframes: a fast pass")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per video")]
    = False,
) -> None:
    """Scan videos here and now (no queue): who appears when."""
    from rich.table import Table

    from likeness.api.schemas import VideoPersonOut
    from likeness.services.videos import ScanOptions, VideoRecords, VideoService

    settings = load_settings()
    engine = load_engine(settings)
    options = ScanOptions(fps or settings.video_fps, keyframes)
    failures = 0
    with open_database(settings) as database, notifying(database, settings) as notifier:
        service = VideoService.from_settings(
            engine, settings, inline_clustering(database, settings, engine.model_name),
            notifier)
        for path in videos:
            try:
                with database.session() as session:
                    video, created = VideoRecords.register(session, path, str(path), options)
                    if not created:  # scanned before: now with these options
                        VideoRecords.set_options(session, video.id, options)
                with progress_bar(2) as progress:
                    task = progress.add_task(path.name, total=video.samples_total)
                    # The file given, even when its content was uploaded before (stored).
                    video = service.scan(database.sessions, video.id,
                                         _on_progress(progress, task), local=path)
            except LikenessError as exc:
                failures += 1
                console.print(f"[red]{path}: {exc}[/]") if not as_json else print(
                    json.dumps({"file": str(path), "error": str(exc)}))
                continue
            with database.session() as session:
                detail = VideoRecords().detail(session, video.id)
            tags, tracks = detail.people, detail.tracks
            if as_json:  # each person as HTTP's GET /videos/{id}/people gives them
                print(json.dumps({"file": str(path), "video_id": video.id,
                                  "duration_ms": video.duration_ms, "tracks": tracks,
                                  "people": [VideoPersonOut.of(t, name).model_dump(mode="json")
                                             for t, name in tags]}))
                continue
            table = Table("person", "confidence", "appears", title=(
                f"{path.name} (video {video.id}): {len(tags)} tagged, "
                f"{tracks.get('review', 0)} track(s) in review, "
                f"{tracks.get('unknown', 0)} unknown track(s)"))
            for tag, name in tags:
                table.add_row(name, f"{tag.confidence:.2f}", ", ".join(
                    f"{_ms(a)}-{_ms(b)}" for a, b in tag.segments))
            console.print(table)
    if failures:
        raise typer.Exit(1)


def worker() -> None:
    """Run scan jobs from the queue until interrupted; run as many as you like, on any
    machine that reaches the database."""
    import asyncio

    from likeness.jobs.queue import JobQueue, WorkerRuntime
    from likeness.storage import ObjectStorage

    settings = load_settings()
    configure_logging(settings)
    engine = load_engine(settings)
    with open_database(settings) as database:
        jobs = JobQueue(database, settings)

        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None  # asyncio.run runs this coroutine as a task
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, task.cancel)
            await jobs.run_worker(WorkerRuntime(engine, database, settings,
                                                ObjectStorage.from_settings(settings)))

        console.print(f"worker on {database.describe()}; Ctrl-C to stop")
        with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
            asyncio.run(run())
    engine.close()


def watch(
    directory: Annotated[Path, typer.Argument(help="Folder to watch", exists=True,
                                              file_okay=False)],
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between looks")] = 2.0,
) -> None:
    """Queue a scan for each new video file of a folder, once it has stopped growing;
    files already scanned (same content) are skipped. Workers do the scans."""
    from likeness.jobs.queue import JobQueue
    from likeness.jobs.watch import FolderWatcher
    from likeness.storage import ObjectStorage

    settings = load_settings()
    configure_logging(settings)
    with open_database(settings) as database, failing_on_errors():
        watcher = FolderWatcher(directory, database, JobQueue(database, settings), settings,
                                ObjectStorage.from_settings(settings), interval)
        console.print(f"watching {directory}; Ctrl-C to stop")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                for video_id in watcher.poll():
                    console.print(f"queued video {video_id}")
                time.sleep(interval)
