"""One place that maps error types to HTTP statuses; every error body is {"detail": str}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from likeness import errors

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[errors.LikenessError], int] = {
    errors.InvalidInput: 400,
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


# OpenAPI descriptions of the errors of routes that take an image.
IMAGE_RESPONSES: dict[int | str, dict] = {
    400: {"description": "Corrupt or truncated image, or bad base64"},
    413: {"description": "File or image too large"},
    415: {"description": "Not a JPEG, PNG, WebP, BMP or TIFF image"},
    422: {"description": "Missing or invalid field, or no usable face"},
    503: {"description": "Model or database not available"},
}


def status_for(error: errors.LikenessError) -> int:
    return errors.for_error(STATUS_BY_ERROR, error, 500)


def _describe_validation(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.LikenessError)
    async def likeness_error(_: Request, exc: errors.LikenessError) -> JSONResponse:
        status = status_for(exc)
        if status == 500:  # a LikenessError without a mapping: a bug to see in the log
            log.error("unmapped error: %r", exc)
        return JSONResponse({"detail": str(exc)}, status_code=status)

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
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))
