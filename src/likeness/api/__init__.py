"""HTTP API: thin FastAPI routers over the services. `create_app` is imported on first
use, so that the schemas (shared with the CLI's JSON output) load without the app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from likeness.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from likeness.api.app import create_app

        return create_app
    raise AttributeError(name)
