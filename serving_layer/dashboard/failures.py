"""What the dashboard answers when a request fails: a status code that says whose fault it
is, and one line of JSON, ``{"error": "<one line>", "kind": "<kind>"}``.

- 404 ``not_found``: no such path, or no such view;
- 400 ``bad_request``: a parameter out of range or of the wrong type;
- 503 ``unavailable``, ``busy`` or ``not_set_up``: the warehouse cannot be reached, does
  not answer in time, or has no tables (or grants) yet;
- 500 ``error``: a read the warehouse refused for another reason (its one-line message);
- 500 ``internal``: any other exception, a bug; the traceback goes to the log only.

Nothing else of an exception reaches the client: its text may hold anything.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from lambda_common.errors import LambdaError, ServiceUnavailable
from serving_layer.dashboard.pool import WarehouseBusy
from serving_layer.dashboard.reads import NotSetUp

logger = logging.getLogger(__name__)

INTERNAL_ERROR = "internal error of the dashboard (its log has the details)"


class UnknownView(Exception):
    """A view name that no view definition has (404)."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown view {name[:80]!r} (views: {', '.join(known)})")


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    """The one-line JSON body every failed request gets."""
    return JSONResponse({"error": " ".join(message.split()), "kind": kind}, status_code=status)


def _parameter_problem(error: RequestValidationError) -> str:
    """The first bad parameter, as ``invalid parameter hours: <why>`` (never its value:
    it is the client's own, and may be anything)."""
    problems: list[Any] = list(error.errors())
    if not problems:
        return "invalid request"
    first = problems[0]
    location = [str(part) for part in first.get("loc", ()) if part not in ("query", "path")]
    name = ".".join(location) or "request"
    return f"invalid parameter {name[:80]}: {first.get('msg', 'invalid')}"


def install(app: FastAPI) -> None:
    """Answer every failure of ``app``'s endpoints as the module's table says."""

    @app.exception_handler(UnknownView)
    async def unknown_view(request: Request, error: UnknownView) -> JSONResponse:
        return error_response(404, "not_found", str(error))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        # Starlette's own: no such route (404), a method it does not take (405).
        kind = "not_found" if error.status_code == 404 else "bad_request"
        return error_response(error.status_code, kind, str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, error: RequestValidationError) -> JSONResponse:
        # 400, not FastAPI's 422: the request is wrong, and the page and scripts tell the
        # two cases (their mistake, the warehouse's state) apart by status alone.
        return error_response(400, "bad_request", _parameter_problem(error))

    @app.exception_handler(LambdaError)
    async def lambda_error(request: Request, error: LambdaError) -> JSONResponse:
        if isinstance(error, NotSetUp | ServiceUnavailable):
            if isinstance(error, NotSetUp):
                kind = "not_set_up"
            elif isinstance(error, WarehouseBusy):
                kind = "busy"
            else:
                kind = "unavailable"
            # The page polls every few seconds and its status panel shows the warehouse's
            # state: one debug line per request is enough here.
            logger.debug("%s: %s", request.url.path, error)
            return error_response(503, kind, str(error))
        # A read the warehouse refused for a reason of its own (a column missing, a SQL
        # error): our messages are one line and never hold a DSN, so the client gets it.
        logger.error("%s failed: %s", request.url.path, error, exc_info=error)
        return error_response(500, "error", str(error))

    @app.middleware("http")
    async def internal_error(request: Request, call_next: Any) -> Response:
        # Anything else is a bug (a stray KeyError too, which once came out as a 404
        # "unknown view"): the traceback to the log, one line to the client.
        try:
            response: Response = await call_next(request)
        except Exception:  # the application's boundary: log it, answer 500, go on serving
            logger.exception("%s %s failed", request.method, request.url.path)
            return error_response(500, "internal", INTERNAL_ERROR)
        return response
