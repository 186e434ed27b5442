"""Errors under /v3 are the spec's bodies with the spec's statuses; malformed requests are
400 with ErrorValidationResponse (never 422 or 415); /api/v1 keeps problem+json."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ..support.fluvius_spec import FluviusSpec, validate_v3_component, validate_v3_response
from .v3_test_app import EAN_OF_UNREACHABLE_HEAD_END, EAN_WITHOUT_MANDATES

EAN = "541448800000004312"


def assert_validation_error(response: httpx.Response, *, in_body: bool = False) -> list[str]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    path = "/api/shortUrlIdentifier" if in_body else "/api/mandate/energy"
    validate_v3_response("POST" if in_body else "GET", path, 400, body)
    assert body["type"] == "AppValidationException"
    if in_body:
        assert (body["code"], body["message"]) == (
            "ModelValidation.Failed",
            "Model validation failed.",
        )
    else:
        assert (body["code"], body["message"]) == (
            "RequestModelValidation.Failed",
            "Request model validation failed.",
        )
    messages: list[str] = body["validationErrorMessages"]
    assert messages
    return messages


async def test_missing_required_parameter(
    v3_client: httpx.AsyncClient, fluvius_spec: FluviusSpec
) -> None:
    response = await v3_client.get("/v3/api/mandate/energy", params={"ean": EAN})
    assert assert_validation_error(response) == ["Parameter 'periodType' is mandatory."]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"energyType": "W"}, "energyType"),
        ({"energyType": "e"}, "energyType"),  # enum values are case-sensitive, like Fluvius
        ({"status": "Active"}, "status"),
        ({"mandateExpirationDate": "tomorrow"}, "mandateExpirationDate"),
        ({"lastUpdatedFrom": "2024-13-01T00:00:00Z"}, "lastUpdatedFrom"),
    ],
)
async def test_bad_parameter_values(
    v3_client: httpx.AsyncClient, fluvius_spec: FluviusSpec, params: dict[str, str], named: str
) -> None:
    response = await v3_client.get("/v3/api/mandate", params=params)
    messages = assert_validation_error(response)
    assert messages[0].startswith(f"Parameter '{named}' is invalid")


async def test_route_level_validation(
    v3_client: httpx.AsyncClient, fluvius_spec: FluviusSpec
) -> None:
    response = await v3_client.get(
        "/v3/api/mandate/energy", params={"ean": "5414", "periodType": "readTime"}
    )
    assert assert_validation_error(response) == ["Parameter 'ean' must contain 18 digits."]


async def test_body_errors(v3_client: httpx.AsyncClient, fluvius_spec: FluviusSpec) -> None:
    response = await v3_client.post(
        "/v3/api/shortUrlIdentifier", json={"referenceNumber": "r", "flow": "B2B"}
    )
    assert assert_validation_error(response, in_body=True) == [
        "Property 'dataAccessContractNumber' is mandatory."
    ]
    response = await v3_client.post(
        "/v3/api/shortUrlIdentifier",
        json={"dataAccessContractNumber": "1", "referenceNumber": "r", "flow": "B2X"},
    )
    assert assert_validation_error(response, in_body=True)[0].startswith(
        "Property 'flow' is invalid"
    )


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"dataAccessContractNumber": "1",', "application/json"),  # broken JSON
        (b"", "application/json"),  # no body at all
        (
            b"dataAccessContractNumber=1&referenceNumber=r&flow=B2B",
            "application/x-www-form-urlencoded",
        ),
        (b'{"dataAccessContractNumber": "1", "referenceNumber": "r", "flow": "B2B"}', "text/plain"),
        (b"<session/>", "application/xml"),
        (b"[1, 2]", "application/json"),
    ],
)
async def test_malformed_bodies_are_400_never_415_or_422(
    v3_client: httpx.AsyncClient, fluvius_spec: FluviusSpec, content: bytes, content_type: str
) -> None:
    response = await v3_client.post(
        "/v3/api/shortUrlIdentifier", content=content, headers={"Content-Type": content_type}
    )
    assert_validation_error(response, in_body=True)


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "text/json", "application/vnd.esp+json", "text/json; charset=utf-8"],
)
async def test_the_spec_json_media_types_are_accepted(
    v3_client: httpx.AsyncClient, content_type: str
) -> None:
    response = await v3_client.post(
        "/v3/api/shortUrlIdentifier",
        content=b'{"dataAccessContractNumber": "1", "referenceNumber": "r", "flow": "B2B"}',
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 200, response.text
    assert response.json()["flow"] == "B2B"


ERRORS: list[tuple[str, int, dict[str, Any], dict[str, str]]] = [
    (
        "mandates-not-found",
        404,
        {
            "type": "MandatesNotFoundException",
            "code": "Mandates.NotFound",
            "message": "No Mandates were found.",
        },
        {},
    ),
    (
        "not-found",
        404,
        {
            "type": "NotFoundException",
            "code": "Request.NotFound",
            "message": "No such access point.",
        },
        {},
    ),
    (
        "unavailable",
        503,
        {
            "type": "MandateResourceUnavailableException",
            "code": "DependentResource.Mandate.Unavailable",
            "message": "Resource 'Mandate' is unavailable. The server cannot handle the request. "
            "Please try again later.",
        },
        {"retry-after": "5"},
    ),
    (
        "crash",
        500,
        {
            "type": "UnhandledException",
            "code": "Request.Failed",
            "message": "An unexpected error occurred.",
        },
        {},
    ),
]


@pytest.mark.parametrize(("what", "status", "expected", "headers"), ERRORS)
async def test_domain_errors_render_as_spec_bodies(
    v3_client: httpx.AsyncClient,
    fluvius_spec: FluviusSpec,
    what: str,
    status: int,
    expected: dict[str, Any],
    headers: dict[str, str],
) -> None:
    response = await v3_client.get(f"/v3/api/mandate/raise/{what}")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json() == expected
    for name, value in headers.items():
        assert response.headers[name] == value
    validate_v3_response("GET", "/api/mandate", status, response.json())


@pytest.mark.parametrize(("what", "status"), [("bad-request", 400), ("unprocessable", 400)])
async def test_domain_validation_errors_are_400(
    v3_client: httpx.AsyncClient, fluvius_spec: FluviusSpec, what: str, status: int
) -> None:
    response = await v3_client.get(f"/v3/api/mandate/raise/{what}")
    messages = assert_validation_error(response)
    assert messages == [response.json()["validationErrorMessages"][0]]
    assert "period" in messages[0]


@pytest.mark.parametrize(
    ("what", "status", "kind"),
    [
        ("unauthorized", 401, "UnauthorizedException"),
        ("forbidden", 403, "ForbiddenException"),
        ("conflict", 409, "ConflictException"),
        ("too-large", 413, "RequestEntityTooLargeException"),
        ("rate-limited", 429, "TooManyRequestsException"),
    ],
)
async def test_statuses_without_a_spec_body_use_error_response(
    v3_client: httpx.AsyncClient, fluvius_spec: FluviusSpec, what: str, status: int, kind: str
) -> None:
    response = await v3_client.get(f"/v3/api/mandate/raise/{what}")
    assert response.status_code == status
    body = response.json()
    validate_v3_component("ErrorResponse", body)
    assert body["type"] == kind
    assert body["code"] == "Request." + kind.removesuffix("Exception")
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    if status == 429:
        assert response.headers["retry-after"] == "7"


async def test_mandates_not_found_from_a_real_route(
    v3_client: httpx.AsyncClient, fluvius_spec: FluviusSpec
) -> None:
    response = await v3_client.get(
        "/v3/api/mandate/energy", params={"ean": EAN_WITHOUT_MANDATES, "periodType": "readTime"}
    )
    assert response.status_code == 404
    validate_v3_response("GET", "/api/mandate/energy", 404, response.json())


async def test_unknown_v3_paths_and_methods(
    v3_client: httpx.AsyncClient, fluvius_spec: FluviusSpec
) -> None:
    response = await v3_client.get("/v3/api/installation")
    assert response.status_code == 404
    validate_v3_component("ErrorResponse", response.json())
    response = await v3_client.delete("/v3/api/mandate")
    assert response.status_code == 405
    assert response.json()["type"] == "MethodNotAllowedException"


async def test_503_names_the_resource_of_the_path(
    v3_client: httpx.AsyncClient, fluvius_spec: FluviusSpec
) -> None:
    response = await v3_client.get(
        "/V3/api/Mandate/Energy",
        params={"ean": EAN_OF_UNREACHABLE_HEAD_END, "periodType": "readTime"},
    )
    assert response.status_code == 503
    assert response.json()["type"] == "MeasurementResourceUnavailableException"
    assert response.json()["code"] == "DependentResource.Measurement.Unavailable"
    validate_v3_response("GET", "/api/mandate/energy", 503, response.json())


async def test_native_api_keeps_problem_json(v3_client: httpx.AsyncClient) -> None:
    response = await v3_client.get("/api/v1/raise/not-found")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/not-found")
    response = await v3_client.get("/api/v1/nothing-here")
    assert response.headers["content-type"] == "application/problem+json"
    response = await v3_client.get("/api/v1/count", params={"n": "many"})
    assert response.status_code == 422  # the native API keeps its own rules
    assert response.headers["content-type"] == "application/problem+json"
    # "/v3x" is not the v3 face
    response = await v3_client.get("/v3x/api/mandate")
    assert response.headers["content-type"] == "application/problem+json"
