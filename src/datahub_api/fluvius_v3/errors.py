"""Errors on the ``/v3`` face, as Fluvius's spec writes them.

Every :class:`~datahub_api.errors.DatahubError` raised under ``/v3`` is answered with the
spec's ``ErrorResponse`` (``{"type", "code", "message"}``) or, for malformed requests,
``ErrorValidationResponse`` (plus ``validationErrorMessages``) at status 400: never 422 or
415. The ``type``/``code`` pairs follow the spec's examples (``AppValidationException`` /
``RequestModelValidation.Failed``, ``MandatesNotFoundException`` / ``Mandates.NotFound``,
``...ResourceUnavailableException`` / ``DependentResource.<Resource>.Unavailable``); statuses
the spec has no example for get ``<Phrase>Exception`` / ``Request.<Phrase>``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from datahub_api.errors import (
    BadRequest,
    DatahubError,
    NotFound,
    Renderer,
    register_face_renderer,
)
from datahub_api.fluvius_v3.casing import CaseInsensitiveV3Middleware
from datahub_api.fluvius_v3.schemas import ErrorResponse, ErrorValidationResponse

V3_PREFIX = "/v3"

VALIDATION_TYPE = "AppValidationException"
# Query parameters are the "request model"; a JSON body is the "model" (spec examples).
REQUEST_MODEL_VALIDATION_CODE = "RequestModelValidation.Failed"
REQUEST_MODEL_VALIDATION_MESSAGE = "Request model validation failed."
MODEL_VALIDATION_CODE = "ModelValidation.Failed"
MODEL_VALIDATION_MESSAGE = "Model validation failed."

# Which dependent resource a path's 503 names, as in the spec's examples.
UNAVAILABLE_RESOURCE_BY_PATH: Mapping[str, str] = {
    "/v3/api/shorturlidentifier": "Market",
    "/v3/api/mandate": "Mandate",
    "/v3/api/mandate/mock": "Mandate",
    "/v3/api/mandate/energy": "Measurement",
    "/v3/api/mandate/installation": "Installation",
}
DEFAULT_UNAVAILABLE_RESOURCE = "Mandate"


class FluviusError(DatahubError):
    """A DatahubError that knows the exact Fluvius ``type`` and ``code`` to answer with."""

    fluvius_type: ClassVar[str]
    fluvius_code: ClassVar[str]


class MandatesNotFound(FluviusError, NotFound):
    """No mandate of the caller covers the request (``GET /api/mandate[/energy]``: 404)."""

    title = "No Mandates were found."
    fluvius_type = "MandatesNotFoundException"
    fluvius_code = "Mandates.NotFound"


class V3ValidationFailed(FluviusError, BadRequest):
    """A request the route parsed but refuses, e.g. "Parameter 'ean' must contain 18 digits."

    ``in_body`` picks the spec's body variant (``ModelValidation.Failed``) over the query one.
    """

    fluvius_type = VALIDATION_TYPE
    fluvius_code = REQUEST_MODEL_VALIDATION_CODE

    def __init__(self, *messages: str, in_body: bool = False) -> None:
        super().__init__(MODEL_VALIDATION_MESSAGE if in_body else REQUEST_MODEL_VALIDATION_MESSAGE)
        self.validation_messages = list(messages)
        self.in_body = in_body


def is_v3_path(path: str) -> bool:
    lowered = path.lower()
    return lowered == V3_PREFIX or lowered.startswith(V3_PREFIX + "/")


def _json(body: ErrorResponse | ErrorValidationResponse, status: int, headers: Any) -> Response:
    return JSONResponse(
        body.model_dump(mode="json", by_alias=True), status_code=status, headers=headers
    )


def validation_response(
    messages: Sequence[str], *, in_body: bool, headers: Mapping[str, str] | None = None
) -> Response:
    """400 with the spec's ``ErrorValidationResponse``."""
    body = ErrorValidationResponse(
        validation_error_messages=list(messages),
        type=VALIDATION_TYPE,
        code=MODEL_VALIDATION_CODE if in_body else REQUEST_MODEL_VALIDATION_CODE,
        message=MODEL_VALIDATION_MESSAGE if in_body else REQUEST_MODEL_VALIDATION_MESSAGE,
    )
    return _json(body, 400, dict(headers or {}))


def _generic_identity(status: int, path: str) -> tuple[str, str, str | None]:
    """(type, code, message or None for the error's own detail) of an unannotated error."""
    if status == 503:
        resource = UNAVAILABLE_RESOURCE_BY_PATH.get(
            path.lower().rstrip("/"), DEFAULT_UNAVAILABLE_RESOURCE
        )
        return (
            f"{resource}ResourceUnavailableException",
            f"DependentResource.{resource}.Unavailable",
            f"Resource '{resource}' is unavailable. The server cannot handle the request. "
            "Please try again later.",
        )
    if status == 500:
        return "UnhandledException", "Request.Failed", None
    try:
        phrase = "".join(HTTPStatus(status).phrase.title().split())
    except ValueError:
        phrase = "Error"
    return f"{phrase}Exception", f"Request.{phrase}", None


def _messages_from_problem_extra(error: DatahubError) -> list[str]:
    """Validation messages of an error raised elsewhere with ``extra={"errors": [...]}``."""
    errors = error.extra.get("errors")
    if isinstance(errors, list) and errors:
        return [
            f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg', '')}"
            for item in errors
            if isinstance(item, dict)
        ]
    return [error.detail]


def render_v3_error(request: Request, error: DatahubError) -> Response:
    """The ``/v3`` renderer registered in :data:`datahub_api.errors.FACE_RENDERERS`."""
    if isinstance(error, V3ValidationFailed):
        return validation_response(
            error.validation_messages or [error.detail],
            in_body=error.in_body,
            headers=error.headers,
        )
    if error.status in (400, 422):  # malformed, whoever noticed it: 400 with the spec's body
        return validation_response(
            _messages_from_problem_extra(error), in_body=False, headers=error.headers
        )
    if isinstance(error, FluviusError):
        kind, code, message = error.fluvius_type, error.fluvius_code, None
    else:
        kind, code, message = _generic_identity(error.status, request.url.path)
    body = ErrorResponse(type=kind, code=code, message=message or error.detail)
    return _json(body, error.status, error.headers)


# --- request validation (FastAPI's 422) -> 400 ---------------------------------------------


def _location(loc: Iterable[Any]) -> tuple[str, str]:
    parts = [str(part) for part in loc]
    where = parts[0] if parts else ""
    return where, ".".join(parts[1:])


def validation_messages(errors: Sequence[Mapping[str, Any]]) -> tuple[list[str], bool]:
    """Fluvius-style messages for FastAPI's validation errors, and whether any is in the body.

    Like the spec's examples: "Parameter 'ean' is mandatory.", "Property 'flow' is mandatory."
    """
    messages: list[str] = []
    in_body = False
    for error in errors:
        where, name = _location(error.get("loc", ()))
        kind = str(error.get("type", ""))
        reason = str(error.get("msg", "is invalid"))
        if where == "body":
            in_body = True
            if kind == "json_invalid":
                messages.append("The request body is not valid JSON.")
            elif not name:
                messages.append(f"The request body is invalid: {reason}.")
            elif kind == "missing":
                messages.append(f"Property '{name}' is mandatory.")
            else:
                messages.append(f"Property '{name}' is invalid: {reason}.")
        elif kind == "missing":
            messages.append(f"Parameter '{name}' is mandatory.")
        else:
            messages.append(f"Parameter '{name}' is invalid: {reason}.")
    return messages, in_body


ExceptionHandler = Callable[[Request, Any], Response | Awaitable[Response]]


def _wrap_validation_handler(previous: ExceptionHandler | None) -> ExceptionHandler:
    async def on_validation_error(request: Request, exc: Exception) -> Response:
        if is_v3_path(request.url.path) and isinstance(exc, RequestValidationError):
            messages, in_body = validation_messages(exc.errors())
            return validation_response(messages, in_body=in_body)
        if previous is None:
            raise exc
        answer = previous(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    return on_validation_error


def install_v3_face(app: FastAPI) -> None:
    """Make ``/v3`` answer like Fluvius: error bodies, 400 for malformed requests, and
    case-insensitive paths and query names. Call once per app, after the app's own error
    handlers are installed; routes may be included before or after."""
    renderer: Renderer = render_v3_error
    prefix = V3_PREFIX + "/"  # not "/v3": that would also claim "/v3x..."
    register_face_renderer(prefix, renderer)
    previous = app.exception_handlers.get(RequestValidationError)
    app.add_exception_handler(RequestValidationError, _wrap_validation_handler(previous))
    app.add_middleware(CaseInsensitiveV3Middleware, routes=lambda: app.routes)
