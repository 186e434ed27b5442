"""One error base class carrying its HTTP status, and the renderers that answer with it.

On ``/api/v1`` (and everything that is not ``/v3``) errors are RFC 9457
``application/problem+json``. The Fluvius-compatible ``/v3`` face registers its own renderer
for paths under ``/v3`` (see :data:`FACE_RENDERERS`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://datahub.example/problems/"


class DatahubError(Exception):
    """Base of every error the service answers with on purpose."""

    status: int = 500
    code: str = "internal-error"
    title: str = "Internal error"
    # A 401/403 of this class leaves a refusal in the audit trail (see RefusalListener).
    audited: ClassVar[bool] = True

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(DatahubError):
    status, code, title = 400, "bad-request", "Bad request"


class Unauthorized(DatahubError):
    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(DatahubError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(DatahubError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(DatahubError):
    status, code, title = 409, "conflict", "Conflict"


class Gone(DatahubError):
    status, code, title = 410, "gone", "Gone"


class PayloadTooLarge(DatahubError):
    status, code, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(DatahubError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class UnprocessableContent(DatahubError):
    status, code, title = 422, "invalid-request", "Invalid request"


class TooManyRequests(DatahubError):
    status, code, title = 429, "rate-limited", "Too many requests"


class ServiceUnavailable(DatahubError):
    status, code, title = 503, "service-unavailable", "Service temporarily unavailable"


DATABASE_RETRY_AFTER_SECONDS = 5

_STANDARD_DESCRIPTIONS = {
    400: "Bad request",
    401: "No or invalid access token",
    403: "Missing scope, or not allowed for this caller",
    404: "Not found (or not yours: the two answers are the same)",
    409: "Conflict with the current state",
    410: "Gone",
    413: "Request body too large",
    422: "Malformed request",
    429: "Rate limit exceeded (see `Retry-After`)",
    503: "Database unavailable (see `Retry-After`)",
}


def problem_responses(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for problem+json errors; ``descriptions`` override by
    ``s404="..."`` style keys."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description = descriptions.get(f"s{status}", _STANDARD_DESCRIPTIONS.get(status, "Error"))
        responses[status] = {
            "description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return responses


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
    },
}


def utf8_text(text: str) -> str:
    """``text`` as UTF-8 can carry it: lone surrogates (what a path of invalid UTF-8 bytes
    decodes to) become backslash escapes instead of failing the answer."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def problem_response(
    request: Request,
    status: int,
    *,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": utf8_text(request.url.path),
    }
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


Renderer = Callable[[Request, DatahubError], Response]


def render_problem(request: Request, error: DatahubError) -> Response:
    return problem_response(
        request,
        error.status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        headers=error.headers,
        extra=error.extra,
    )


# Path prefix -> renderer. The first matching prefix wins; problem+json is the fallback.
FACE_RENDERERS: list[tuple[str, Renderer]] = []


def register_face_renderer(prefix: str, renderer: Renderer) -> None:
    """Render errors under ``prefix`` (lower-case) with ``renderer``; idempotent."""
    FACE_RENDERERS[:] = [(p, r) for p, r in FACE_RENDERERS if p != prefix]
    FACE_RENDERERS.append((prefix, renderer))
    FACE_RENDERERS.sort(key=lambda item: -len(item[0]))


# Called with every 401/403 answer (the app wires the audit trail in here).
RefusalListener = Callable[[Request, "DatahubError"], Awaitable[None]]


def _renderer_for(path: str) -> Renderer:
    lowered = path.lower()
    for prefix, renderer in FACE_RENDERERS:
        if lowered.startswith(prefix):
            return renderer
    return render_problem


def render(request: Request, error: DatahubError) -> Response:
    return _renderer_for(request.url.path)(request, error)


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": [str(part) for part in err.get("loc", ())], "msg": err.get("msg", "")}
        for err in exc.errors()
    ]


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path. Starlette's 405 names only the
    methods of the first route matching the path, not of all routes sharing it."""
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]


def install_error_handlers(app: FastAPI, *, on_refusal: RefusalListener | None = None) -> None:
    """The problem+json answers; ``on_refusal`` hears every audited 401 and 403."""

    async def on_datahub_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DatahubError)
        if exc.status in (401, 403) and exc.audited and on_refusal is not None:
            await on_refusal(request, exc)
        return render(request, exc)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_detail(exc)
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        detail = f"{'.'.join(first['loc'])}: {first['msg']}"
        return render(request, UnprocessableContent(detail, extra={"errors": errors}))

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        if status == 400:
            # FastAPI's "There was an error parsing the body": a malformed request.
            return render(
                request,
                UnprocessableContent(
                    "The request body could not be parsed (not valid JSON or form data)."
                ),
            )
        headers = dict(exc.headers or {})
        if status == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        error = DatahubError(str(exc.detail), headers=headers)
        error.status = status
        error.code = HTTPStatus(status).phrase.lower().replace(" ", "-")
        error.title = HTTPStatus(status).phrase
        return render(request, error)

    async def on_database_unavailable(request: Request, exc: Exception) -> Response:
        sqlstate = str(getattr(getattr(exc, "orig", None), "sqlstate", "") or "")
        if isinstance(exc, DBAPIError) and sqlstate.startswith("22"):
            # A data exception: a value PostgreSQL cannot store, such as a NUL character.
            return render(
                request,
                UnprocessableContent("A value in the request cannot be stored (NUL characters?)."),
            )
        if (
            isinstance(exc, DBAPIError)
            and not exc.connection_invalidated
            and not isinstance(exc, OperationalError | InterfaceError)
            and not _server_unavailable(sqlstate or _driver_sqlstate(exc))
        ):
            return await on_unexpected(request, exc)
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        return render(
            request,
            ServiceUnavailable(
                "The database is unavailable; please retry shortly.",
                headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
            ),
        )

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return render(request, DatahubError("An unexpected error occurred."))

    app.add_exception_handler(DatahubError, on_datahub_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(DBAPIError, on_database_unavailable)
    app.add_exception_handler(OSError, on_database_unavailable)
    app.add_exception_handler(Exception, on_unexpected)


# SQLSTATEs that mean "the server is not there (yet)", whatever class the driver's error has:
# connection exceptions, insufficient resources, and a server shutting down or starting up
# ("the database system is shutting down" arrives as a plain DBAPIError from asyncpg).
_UNAVAILABLE_CLASSES = ("08", "53")
_UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03"})


def _driver_sqlstate(exc: DBAPIError) -> str:
    """The SQLSTATE of the driver's own exception behind SQLAlchemy's adapter, if any."""
    cause = getattr(exc.orig, "__cause__", None)
    return str(getattr(cause, "sqlstate", "") or "")


def _server_unavailable(sqlstate: str) -> bool:
    return sqlstate.startswith(_UNAVAILABLE_CLASSES) or sqlstate in _UNAVAILABLE_STATES
