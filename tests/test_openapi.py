"""The committed OpenAPI spec is current, and the live app keeps its promises (schemathesis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from datahub_api.cli.openapi_spec import DEFAULT_OPENAPI_FILE, openapi_document

from .support.environment import PROJECT_ROOT
from .support.live_server import LiveServer

SPEC = PROJECT_ROOT / DEFAULT_OPENAPI_FILE


def test_committed_spec_is_current() -> None:
    assert SPEC.read_text() == openapi_document(), (
        "openapi/openapi.json is stale: run `datahub-api openapi` and commit it"
    )


def test_spec_is_deterministic() -> None:
    assert openapi_document() == openapi_document()


def test_spec_documents_every_operation() -> None:
    import json

    spec = json.loads(Path(SPEC).read_text())
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method.upper()} {path} has no summary"
            assert operation.get("responses"), f"{method.upper()} {path} has no responses"


# Signed-mandate uploads (PUT /api/v1/nps/mandates/{id}/evidence) are raw PDF bytes.
schemathesis.serializer.alias("application/pdf", "application/octet-stream")
schema = schemathesis.openapi.from_path(str(SPEC))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_spec(case: schemathesis.Case[Any], live_server: LiveServer) -> None:
    # Zero 5xx, zero schema violations, only documented status codes. A schema-valid
    # request may still break a business rule (two client-authentication methods at once,
    # an unknown contract): those answer with their documented 4xx, so the heuristic
    # "schema-valid data must be accepted" check is left out.
    case.call_and_validate(base_url=live_server.url, excluded_checks=[positive_data_acceptance])
