"""`Ocp-Apim-Subscription-Key` on `/v3` when `require_subscription_key` is on."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from ..support.parties import auth_headers, make_esp

V3_ROUTE = "/v3/api/mandate"


async def test_subscription_key_is_checked_only_when_required(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    esp_a = await make_esp(app, "ESP A")
    esp_b = await make_esp(app, "ESP B")
    headers = await auth_headers(client, esp_a)
    # Let in (no mandates yet: Fluvius's 404 MandatesNotFound) while the setting is off.
    first = await client.get(V3_ROUTE, headers=headers)
    assert first.status_code == 404, first.text
    assert first.json()["type"] == "MandatesNotFoundException"

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
    missing = await client.get(V3_ROUTE, headers=headers)
    assert missing.status_code == 401
    wrong = await client.get(V3_ROUTE, headers={**headers, "Ocp-Apim-Subscription-Key": "0" * 32})
    assert wrong.status_code == 401
    someone_elses = await client.get(
        V3_ROUTE, headers={**headers, "Ocp-Apim-Subscription-Key": key_b}
    )
    assert someone_elses.status_code == 401
    own = await client.get(V3_ROUTE, headers={**headers, "ocp-apim-subscription-key": key_a})
    assert own.status_code == 404
    assert own.json()["type"] == "MandatesNotFoundException"
