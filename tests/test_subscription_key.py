"""`Ocp-Apim-Subscription-Key` on `/v3` when `require_subscription_key` is on."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI

from datahub_api.auth.principal import Principal, Scope
from datahub_api.fluvius_v3.auth import v3_caller

from .parties import auth_headers, make_esp


@pytest.fixture
def v3_route(app: FastAPI) -> str:
    router = APIRouter()

    @router.get("/v3/api/test-subscription")
    async def guarded(
        principal: Annotated[Principal, Depends(v3_caller(Scope.mandates_read))],
    ) -> dict[str, str]:
        return {"subject": principal.subject}

    app.include_router(router)
    return "/v3/api/test-subscription"


async def test_subscription_key_is_checked_only_when_required(
    app: FastAPI, client: httpx.AsyncClient, v3_route: str
) -> None:
    esp_a = await make_esp(app, "ESP A")
    esp_b = await make_esp(app, "ESP B")
    headers = await auth_headers(client, esp_a)
    first = await client.get(v3_route, headers=headers)
    assert first.status_code == 200, first.text  # setting off

    app.state.settings = app.state.settings.model_copy(update={"require_subscription_key": True})
    key_a = (
        await client.get(
            f"/api/v1/contracts/{esp_a.contract_number}/subscription-key", headers=headers
        )
    ).json()["subscription_key"]
    key_b = (
        await client.get(
            f"/api/v1/contracts/{esp_b.contract_number}/subscription-key",
            headers=await auth_headers(client, esp_b),
        )
    ).json()["subscription_key"]
    missing = await client.get(v3_route, headers=headers)
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith("application/json")  # the Fluvius body
    wrong = await client.get(v3_route, headers={**headers, "Ocp-Apim-Subscription-Key": "0" * 32})
    assert wrong.status_code == 401
    someone_elses = await client.get(
        v3_route, headers={**headers, "Ocp-Apim-Subscription-Key": key_b}
    )
    assert someone_elses.status_code == 401
    own = await client.get(v3_route, headers={**headers, "ocp-apim-subscription-key": key_a})
    assert own.status_code == 200
