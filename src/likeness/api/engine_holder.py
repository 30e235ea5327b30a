"""The process's one FaceEngine, loaded in the background so /health can answer 503 while
the model loads (large packs on GPU take minutes) instead of refusing connections."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from likeness.engine import FaceEngine
from likeness.errors import ModelNotReady

log = logging.getLogger(__name__)


class EngineHolder:
    def __init__(self, engine: FaceEngine | None = None) -> None:
        self._engine = engine
        self.error: str | None = None
        self._loaded = threading.Event()
        if engine is not None:
            self._loaded.set()

    def load_in_background(self, factory: Callable[[], FaceEngine],
                           then: Callable[[FaceEngine | None], None]) -> None:
        """Load the engine in a thread, then hand it to `then` (None if it failed)."""
        threading.Thread(target=self._load, args=(factory, then),
                         name="likeness-model-loader", daemon=True).start()

    def _load(self, factory: Callable[[], FaceEngine],
              then: Callable[[FaceEngine | None], None]) -> None:
        try:
            self._engine = factory()
        except Exception as exc:
            self.error = str(exc)
            log.error("the model failed to load: %s", exc)
        try:
            then(self._engine)
        finally:  # a shutdown waiting for the load also waits for what starts with it
            self._loaded.set()

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    @property
    def engine(self) -> FaceEngine | None:
        return self._engine

    def wait(self, timeout: float | None = None) -> bool:
        return self._loaded.wait(timeout)

    def get(self) -> FaceEngine:
        if self._engine is not None:
            return self._engine
        if self.error is not None:
            raise ModelNotReady(f"the model failed to load: {self.error}")
        raise ModelNotReady("the model is still loading")

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
