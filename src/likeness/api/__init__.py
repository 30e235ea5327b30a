"""HTTP API: thin FastAPI routers over the services."""

from likeness.api.app import create_app

__all__ = ["create_app"]
