"""Conformance, authenticated (schemathesis against the live app on a loopback port):

* our own ``openapi/openapi.json``, every operation called with the token of the party it
  is meant for (an ESP with every channel, the operator, the head-end);
* Fluvius's published v3 spec (``swagger_sandbox.json``, fetched as
  ``tests/support/fluvius_spec.py`` does) against our ``/v3`` face, with an ESP's token.

Zero 5xx, zero schema violations, only documented status codes and content types. The
literal Fluvius schemas cannot validate any body (see ``tests/support/fluvius_spec.py``), so /v3
bodies are validated against its normalised copy, as every /v3 answer of the suite is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from datahub_api.app import create_app
from datahub_api.auth import service as auth_service
from datahub_api.auth.principal import Role
from datahub_api.db import create_database

from .support.environment import PROJECT_ROOT, make_settings
from .support.fluvius_spec import fetch_spec, validate_v3_response
from .support.live_server import LiveServer
from .support.parties import make_esp

OUR_SPEC = PROJECT_ROOT / "openapi" / "openapi.json"
EXAMPLES = 12


@dataclass
class Tokens:
    esp: str
    operator: str
    head_end: str

    def for_path(self, path: str) -> dict[str, str]:
        if path.startswith(("/api/v1/operator/", "/api/v1/access-points")):
            token = self.operator
        elif path.startswith("/api/v1/ingest/"):
            token = self.head_end
        else:
            token = self.esp
        return {"Authorization": f"Bearer {token}"}


def _token(base_url: str, client_id: str, secret: str) -> str:
    answer = httpx.post(
        f"{base_url}/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


@pytest.fixture(scope="module")
def unlimited_server(database_url: str) -> Iterator[LiveServer]:
    """The live app without a reachable rate limit: a 429 is right for a client that calls
    this fast, but neither spec lists it for every operation."""
    application = create_app(
        make_settings(sandbox=True, rate_limit_requests=10**9), database_url=database_url
    )
    with LiveServer(application) as server:
        yield server


@pytest.fixture(scope="module")
def tokens(unlimited_server: LiveServer, database_url: str) -> Tokens:
    """Parties made with the services on an engine of this test's own (the live server's
    engine belongs to its thread's event loop); the server hears of them by NOTIFY."""
    import asyncio

    async def make() -> tuple[Any, Any, Any]:
        database = create_database(database_url, make_settings())
        shim = SimpleNamespace(
            state=SimpleNamespace(
                database=database, access_grants=SimpleNamespace(reload=_no_reload)
            )
        )
        try:
            esp = await make_esp(shim, "Conformance ESP")  # type: ignore[arg-type]
            async with database.write_sessions() as session:
                operator = await auth_service.create_client(
                    session, name="conformance operator", role=Role.operator, organisation_id=None
                )
                head_end = await auth_service.create_client(
                    session, name="conformance head-end", role=Role.head_end, organisation_id=None
                )
                await session.commit()
            return esp, operator, head_end
        finally:
            await database.dispose()

    esp, operator, head_end = asyncio.run(make())
    made = Tokens(
        esp=_token(unlimited_server.url, esp.client_id, esp.client_secret),
        operator=_token(unlimited_server.url, operator.client.client_id, operator.secret),
        head_end=_token(unlimited_server.url, head_end.client.client_id, head_end.secret),
    )
    # The live server's grants cache hears of the new contract by NOTIFY; wait for it.
    deadline = time.monotonic() + 20
    while True:
        info = httpx.get(
            f"{unlimited_server.url}/api/v1/auth/token-info",
            headers={"Authorization": f"Bearer {made.esp}"},
        )
        if "mandates:read" in info.text or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return made


async def _no_reload() -> None:
    return None


# Signed-mandate uploads (PUT /api/v1/nps/mandates/{id}/evidence) are raw PDF bytes.
schemathesis.serializer.alias("application/pdf", "application/octet-stream")
ours = schemathesis.openapi.from_path(str(OUR_SPEC))


@ours.parametrize()
@settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
def test_our_api_conforms_when_authenticated(
    case: schemathesis.Case[Any], unlimited_server: LiveServer, tokens: Tokens
) -> None:
    # A schema-valid request may still break a business rule (an unknown contract, a
    # period outside a mandate): those answer with their documented 4xx, so the heuristic
    # "schema-valid data must be accepted" check is left out.
    case.call_and_validate(
        base_url=unlimited_server.url,
        headers=tokens.for_path(case.path),
        excluded_checks=[positive_data_acceptance],
    )


def _fluvius_schema() -> OpenApiSchema:
    raw = json.loads((fetch_spec() / "swagger_sandbox.json").read_text(encoding="utf-8"))
    return schemathesis.openapi.from_dict(raw)


# Fetched (once, cached under .datahub-test/) when the module is collected.
fluvius = _fluvius_schema()


@fluvius.parametrize()
@settings(
    max_examples=EXAMPLES * 3,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_v3_face_conforms_to_the_fluvius_spec(
    case: schemathesis.Case[Any], unlimited_server: LiveServer, tokens: Tokens
) -> None:
    response = case.call(base_url=f"{unlimited_server.url}/v3", headers=tokens.for_path("/v3"))
    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance],
        excluded_checks=[response_schema_conformance, positive_data_acceptance],
    )
    if case.method.upper() != case.operation.method.upper():
        return  # schemathesis also tries methods the path does not serve (405)
    if response.content and response.status_code != 304:
        validate_v3_response(case.method, case.path, response.status_code, response.json())
