"""The parts of a running app besides the HTTP routes, in one place: the model (loaded in
the background), the database, and what starts once the model is loaded (the job worker,
the folder watcher, the gRPC server). A part that fails to start is recorded with its
error and the others still start; /health reports each part."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from likeness.api.engine_holder import EngineHolder
from likeness.store import Database

log = logging.getLogger(__name__)

State = Literal["up", "starting", "down", "disabled"]


class Part(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    @property
    def alive(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class PartState:
    state: State
    required: bool
    detail: str | None = None


class Supervisor:
    def __init__(self, holder: EngineHolder, database: Database) -> None:
        self.holder = holder
        self.database = database
        self._lock = threading.Lock()
        self._parts: dict[str, Part | None] = {}
        self._states: dict[str, PartState] = {}
        self._stopped = False

    def expect(self, name: str, wanted: bool) -> None:
        """Declare a background part: it starts with the model (`wanted`), or never."""
        self._states[name] = PartState("starting" if wanted else "disabled", False)

    def start(self, name: str, make: Callable[[], Part]) -> None:
        """Make and start a part; a failure is recorded, never raised. Nothing starts
        once the supervisor has stopped."""
        if self._stopped:
            return
        try:
            part = make()
            part.start()
        except Exception as exc:
            log.error("%s failed to start: %s", name, exc)
            with self._lock:
                self._states[name] = PartState("down", False, f"failed to start: {exc}")
            return
        with self._lock:
            self._parts[name] = part
            self._states[name] = PartState("up", False)

    def fail_pending(self, reason: str) -> None:
        """The model failed to load: what waited for it will not start."""
        with self._lock:
            for name, state in self._states.items():
                if state.state == "starting":
                    self._states[name] = PartState("down", False, reason)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            parts = [p for p in self._parts.values() if p is not None]
            self._parts.clear()
        for part in parts:
            try:
                part.stop()
            except Exception:
                log.exception("stopping %r failed", part)

    def report(self) -> dict[str, PartState]:
        """Every part's state now; the model and the database are required."""
        states = {"model": self._model_state(), "database": self._database_state()}
        with self._lock:
            for name, state in self._states.items():
                part = self._parts.get(name)
                if part is not None and not part.alive:
                    state = PartState("down", False, "stopped unexpectedly; see the log")
                states[name] = state
        return states

    def _model_state(self) -> PartState:
        if self.holder.error is not None:
            return PartState("down", True, f"failed to load: {self.holder.error}")
        if not self.holder.loaded:
            return PartState("starting", True, "loading")
        return PartState("up", True)

    def _database_state(self) -> PartState:
        try:
            self.database.ping()
        except Exception as exc:
            return PartState("down", True, f"unreachable: {exc}")
        return PartState("up", True)
