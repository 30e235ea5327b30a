"""One error model for the whole API: every error body is {"detail": str}. Error types map
to HTTP statuses here, and every operation declares the statuses it can answer with."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from likeness import errors
from likeness.api.validation import MAX_BIGINT, METADATA_VALUE_SCHEMA

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[errors.LikenessError], int] = {
    errors.InvalidInput: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.Throttled: 429,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.NoFaceFound: 422,
    errors.Rejected: 422,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.DatabaseUnavailable: 503,
    errors.ModelNotReady: 503,
    errors.ModelPackError: 503,
    errors.ProviderUnavailable: 503,
    errors.StorageUnavailable: 503,
    errors.FetchFailed: 502,
}

DESCRIPTIONS = {
    400: "Malformed input: a body that is not JSON or not UTF-8, a corrupt image, bad "
         "base64, contradictory fields",
    401: "No credentials, or wrong, expired or revoked ones (X-API-Key, Authorization: "
         "Bearer, or the session cookie)",
    403: "The caller's role or key does not allow this, or the CSRF token is missing",
    404: "No such record",
    409: "Contradicts what is stored",
    413: "Request body, file or image too large",
    415: "Not a JPEG, PNG, WebP, BMP or TIFF image",
    422: "A field is missing or invalid, or the image has no usable face",
    429: "Too many attempts: wait Retry-After seconds",
    502: "The URL could not be downloaded",
    503: "The model, the database or the object storage is not available",
}


class ErrorOut(BaseModel):
    detail: str


def declare(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for an operation that can answer with these error statuses."""
    return {status: {"model": ErrorOut, "description": DESCRIPTIONS[status]}
            for status in statuses}


# Every operation can meet these: bad parameters, and the database (or the model) down.
# Those that need credentials also answer 401, 403 and 429 (added in install_openapi).
COMMON = declare(422, 503)
SECURED = declare(401, 403, 429)
IMAGE = declare(400, 413, 415, 422, 503)  # operations that take an image


def status_for(error: errors.LikenessError) -> int:
    return errors.for_error(STATUS_BY_ERROR, error, 500)


def _describe_validation(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "request"
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.LikenessError)
    async def likeness_error(_: Request, exc: errors.LikenessError) -> JSONResponse:
        status = status_for(exc)
        if status == 500:  # a LikenessError without a mapping: a bug to see in the log
            log.error("unmapped error: %r", exc)
        headers = {}
        if isinstance(exc, errors.Unauthenticated):
            headers["WWW-Authenticate"] = 'Bearer realm="likeness"'
        if isinstance(exc, errors.Throttled):
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def database_down(_: Request, exc: DBAPIError) -> JSONResponse:
        log.warning("database error: %s", exc.orig)
        return JSONResponse({"detail": "the database is unavailable; try again later"},
                            status_code=503)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _describe_validation(exc)}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # Starlette names only the first route of the path
            headers["Allow"] = ", ".join(sorted(_methods_of(app, request.scope)))
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code,
                            headers=headers or None)


def _methods_of(app: FastAPI, scope: Any) -> set[str]:
    """Every method that some route of the app answers at the request's path."""
    methods: set[str] = set()
    for route in app.router.routes:
        path_regex = getattr(route, "path_regex", None)
        if path_regex is not None and path_regex.match(scope["path"]):
            methods |= getattr(route, "methods", None) or set()
    return methods


def _mend_schemas(node: Any) -> None:
    """Where FastAPI's generated schemas say less than the server does: uploads are
    binary strings (clients generated from the document then send files), and integer
    bounds stay integers (2^63-1 as a float is 2^63, one past the largest id)."""
    if isinstance(node, dict):
        if node.get("contentMediaType") == "application/octet-stream":
            node.setdefault("format", "binary")
        if node.get("type") == "integer":
            for bound in ("minimum", "maximum"):
                if isinstance(node.get(bound), float):
                    node[bound] = min(int(node[bound]), MAX_BIGINT)
        for child in node.values():
            _mend_schemas(child)
    elif isinstance(node, list):
        for child in node:
            _mend_schemas(child)


def install_openapi(app: FastAPI) -> None:
    """The OpenAPI document, made true: FastAPI declares its own validation-error array
    for 422, while every error body here is ErrorOut; an operation without parameters or
    body cannot answer 422; uploads and integer bounds are mended (_mend_schemas)."""
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            _mend_schemas(schema)
            error_ref = {"$ref": "#/components/schemas/ErrorOut"}
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    if not operation.get("parameters") and "requestBody" not in operation:
                        operation["responses"].pop("422", None)  # nothing to validate
                    body = operation.get("requestBody", {}).get("content", {})
                    if "application/json" in body:  # a body that is not JSON (or UTF-8)
                        operation["responses"].setdefault("400", {
                            "description": DESCRIPTIONS[400],
                            "content": {"application/json": {"schema": error_ref}}})
                    if operation.get("security"):
                        for code, response in SECURED.items():
                            operation["responses"].setdefault(str(code), {
                                "description": response["description"],
                                "content": {"application/json": {"schema": error_ref}}})
                    invalid = operation.get("responses", {}).get("422")
                    if invalid is not None:
                        invalid["content"] = {"application/json": {"schema": error_ref}}
                        invalid["description"] = DESCRIPTIONS[422]
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            components["ErrorOut"] = ErrorOut.model_json_schema()
            components["MetadataValue"] = METADATA_VALUE_SCHEMA
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
