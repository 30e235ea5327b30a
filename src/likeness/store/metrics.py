"""What GET /metrics reads from the database at scrape time: the job queue (procrastinate's
tables: jobs waiting and running by queue, how long the oldest waiting job has waited, the
worker loops alive, and the job runs that ended since the last scrape) and the camera
streams by status. One session, a few small queries, each bounded by a statement timeout
so that a slow database cannot hold a scrape.

The job tables keep every job (nothing deletes them), so nothing here reads them whole:
counts use procrastinate's partial indexes on waiting and running jobs, and runs are read
incrementally, from the events table's primary key, after the last event already read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from likeness.enums import StreamStatus

ACTIVE_STATUSES = ("todo", "doing")  # waiting (the queue's depth) and running
STATEMENT_TIMEOUT_MS = 5000
MAX_RUNS = 10_000  # runs read per scrape at most; the rest come with the next ones
# Events are read once they are this old: a worker's event is written by one short
# statement, so by then every event numbered before it is committed and visible (the
# number is taken when the row is inserted, the row seen when its transaction commits).
SETTLE_SECONDS = 2.0

# The last event that can be read now: the one before the first too recent to read past
# ('scheduled' events carry the time a job is scheduled for, not when they were written).
_READ_UP_TO = text("""
    SELECT coalesce(min(id) - 1, (SELECT coalesce(max(id), 0) FROM procrastinate_events))
    FROM procrastinate_events
    WHERE id > :after AND type IS DISTINCT FROM 'scheduled'
      AND (at IS NULL OR at >= now() - make_interval(secs => :settle))
""")

# The runs (attempts) that ended between two events, each with the 'started' event before
# it. A run that ended in 'deferred_for_retry' failed and was queued again (or lost its
# worker and was requeued).
_RUNS = text("""
    WITH ends AS (
        SELECT id, job_id, type, at FROM procrastinate_events
        WHERE id > :after AND id <= :up_to
          AND type IN ('succeeded', 'failed', 'aborted', 'deferred_for_retry')
        ORDER BY id LIMIT :limit
    )
    SELECT ends.id, j.queue_name, j.task_name, ends.type::text,
           greatest(extract(epoch FROM ends.at - started.at), 0)::float8
    FROM ends
    JOIN procrastinate_jobs AS j ON j.id = ends.job_id
    LEFT JOIN LATERAL (
        SELECT s.at FROM procrastinate_events AS s
        WHERE s.job_id = ends.job_id AND s.type = 'started' AND s.id < ends.id
        ORDER BY s.id DESC LIMIT 1
    ) AS started ON true
    ORDER BY ends.id
""")

_WAITING = text("""
    SELECT j.queue_name, extract(epoch FROM now() - min(w.since))::float8
    FROM procrastinate_jobs AS j
    CROSS JOIN LATERAL (
        SELECT greatest(max(e.at), j.scheduled_at) AS since FROM procrastinate_events AS e
        WHERE e.job_id = j.id AND e.type IN ('deferred', 'deferred_for_retry', 'retried')
    ) AS w
    WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
    GROUP BY j.queue_name
""")


@dataclass(frozen=True, slots=True)
class JobRun:
    queue: str
    task: str
    outcome: str  # succeeded | failed | aborted | deferred_for_retry
    seconds: float


@dataclass(slots=True)
class StoreSnapshot:
    jobs: dict[tuple[str, str], int]  # (queue, todo | doing) -> jobs, zeros included
    oldest_waiting_s: dict[str, float]  # queue -> how long its oldest due job has waited
    workers: int  # job worker loops whose heartbeat is recent
    runs: list[JobRun]  # runs that ended after the event `after_event` given to read()
    last_event: int  # the last event read: the next read starts after it
    streams: dict[str, int] = field(default_factory=dict)  # status -> streams, zeros too


def read(session: Session, *, queues: Iterable[str], stall_seconds: float,
         after_event: int | None) -> StoreSnapshot:
    """The snapshot; `queues` are listed (with zeros) even when they hold no job. Runs
    are those that ended after `after_event` (None: none, the first read only says where
    the next one starts; a number past the newest event, as after the tables were
    emptied: none either, and the next read starts at the newest)."""
    session.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
    jobs = {(queue, status): 0 for queue in queues for status in ACTIVE_STATUSES}
    for queue, status, count in session.execute(text(
            "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs "
            "WHERE status IN ('todo', 'doing') GROUP BY queue_name, status")):
        for each in ACTIVE_STATUSES:  # a queue that no task names now, seen in the table
            jobs.setdefault((queue, each), 0)
        jobs[(queue, status)] = count
    waiting = {queue: max(float(age), 0.0) for queue, age in session.execute(_WAITING)}
    workers = session.execute(text(
        "SELECT count(*) FROM procrastinate_workers "
        "WHERE last_heartbeat > now() - make_interval(secs => :stall)"),
        {"stall": stall_seconds}).scalar_one()
    runs, last = _runs(session, after_event)
    streams = dict.fromkeys((s.value for s in StreamStatus), 0)
    for status, count in session.execute(text(
            "SELECT status, count(*) FROM streams GROUP BY status")):
        streams[status] = count
    return StoreSnapshot(jobs, waiting, int(workers), runs, last, streams)


def _runs(session: Session, after: int | None) -> tuple[list[JobRun], int]:
    newest = session.execute(text(
        "SELECT coalesce(max(id), 0) FROM procrastinate_events")).scalar_one()
    if after is None or after > newest:
        return [], int(newest)
    up_to = int(session.execute(_READ_UP_TO, {"after": after, "settle": SETTLE_SECONDS}
                                ).scalar_one())
    rows = session.execute(_RUNS, {"after": after, "up_to": up_to, "limit": MAX_RUNS}).all()
    runs = [JobRun(queue, task, outcome, seconds)
            for _, queue, task, outcome, seconds in rows if seconds is not None]
    if len(rows) == MAX_RUNS:  # more to read: go on after the last one next time
        return runs, int(rows[-1][0])
    return runs, max(after, up_to)
