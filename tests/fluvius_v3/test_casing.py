"""Paths and query names under /v3 match case-insensitively, as on Fluvius (ASP.NET)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.fluvius_v3.casing import CanonicalRoute, V3RouteTable

from ..support.environment import scrape_metrics
from .v3_test_app import build_app, client_for, router

EAN = "541448800000004312"


@pytest.mark.parametrize(
    "path",
    [
        "/v3/api/mandate",
        "/v3/api/Mandate",
        "/V3/API/MANDATE",
        "/v3/Api/mAnDaTe",
        "/v3/api/mandate/",
    ],
)
async def test_mandate_path_in_any_case(v3_client: httpx.AsyncClient, path: str) -> None:
    response = await v3_client.get(path, params={"ean": EAN}, follow_redirects=False)
    assert response.status_code == 200, response.text
    assert response.json()["ean"] == EAN


@pytest.mark.parametrize(
    "path", ["/v3/api/mandate/energy", "/V3/API/mandate/Energy", "/v3/API/Mandate/ENERGY"]
)
async def test_energy_path_and_parameters_in_any_case(
    v3_client: httpx.AsyncClient, path: str
) -> None:
    response = await v3_client.get(
        path,
        params={
            "EAN": EAN,
            "PeriodType": "readTime",
            "Granularity": "daily",
            "COMPLEXENERGYTYPES": "active",
            "From": "2024-07-01T00:00:00+02:00",
            "TO": "2024-07-02T00:00:00Z",
            "ReferenceNumber": "edv-42",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "ean": EAN,
        "periodType": "readTime",
        "referenceNumber": "edv-42",
        "granularity": "daily",
        "complexEnergyTypes": "active",
        "from": "2024-07-01T00:00:00+02:00",  # the '+' survives: values are left as sent
        "to": "2024-07-02T00:00:00Z",
    }


async def test_every_mandate_filter_in_another_case(v3_client: httpx.AsyncClient) -> None:
    response = await v3_client.get(
        "/v3/api/mandate",
        params={
            "referencenumber": "edv 42/&x",
            "Ean": EAN,
            "DATASERVICETYPES": "VH_dag,VH_kwartier_uur",
            "EnergyType": "E",
            "Status": "Approved",
            "MandateExpirationDate": "2026-08-10T22:00:00Z",
            "RenewalStatus": "ToBeRenewed",
            "lastupdatedfrom": "2024-08-10T22:00:00Z",
            "LASTUPDATEDTO": "2024-08-11T22:00:00Z",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "referenceNumber": "edv 42/&x",
        "ean": EAN,
        "dataServiceTypes": "VH_dag,VH_kwartier_uur",
        "energyType": "E",
        "status": "Approved",
        "mandateExpirationDate": "2026-08-10T22:00:00Z",
        "renewalStatus": "ToBeRenewed",
        "lastUpdatedFrom": "2024-08-10T22:00:00Z",
        "lastUpdatedTo": "2024-08-11T22:00:00Z",
    }


async def test_ean_number_is_the_old_name_of_ean(v3_client: httpx.AsyncClient) -> None:
    response = await v3_client.get(
        "/v3/api/Mandate/Energy", params={"EanNumber": EAN, "periodType": "insertTime"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["ean"] == EAN


async def test_unknown_parameters_are_left_alone(v3_client: httpx.AsyncClient) -> None:
    response = await v3_client.get("/v3/api/mandate", params={"colour": "red", "EAN": EAN})
    assert response.status_code == 200
    assert response.json()["ean"] == EAN


async def test_enum_values_stay_case_sensitive(v3_client: httpx.AsyncClient) -> None:
    response = await v3_client.get("/v3/api/mandate", params={"ENERGYTYPE": "g"})
    assert response.status_code == 400
    assert response.json()["validationErrorMessages"][0].startswith("Parameter 'energyType'")


@pytest.mark.parametrize("path", ["/V3/api/SHORTURLIDENTIFIER", "/v3/api/shortUrlIdentifier/"])
async def test_post_path_in_any_case_without_redirects(
    v3_client: httpx.AsyncClient, path: str
) -> None:
    response = await v3_client.post(
        path, json={"dataAccessContractNumber": "1", "referenceNumber": "r", "flow": "B2C"}
    )
    assert response.status_code == 200, response.text


async def test_path_parameters_keep_their_case(v3_client: httpx.AsyncClient) -> None:
    response = await v3_client.get("/V3/API/ITEMS/AbC-9/details", params={"VERBOSE": "true"})
    assert response.status_code == 200, response.text
    assert response.json() == {"item_id": "AbC-9", "verbose": True}


async def test_other_faces_stay_case_sensitive(v3_client: httpx.AsyncClient) -> None:
    assert (await v3_client.get("/HEALTHZ")).status_code == 404
    assert (await v3_client.get("/healthz")).status_code == 200


async def test_metrics_see_the_matched_route() -> None:
    app = build_app()
    async for client in client_for(app):
        await client.get("/V3/API/Mandate", params={"EAN": EAN})
        metrics = (await scrape_metrics(app, client)).text
    assert 'route="/v3/api/mandate"' in metrics
    assert "unmatched" not in metrics.split("/v3/api/mandate")[0].rsplit("\n", 1)[-1]


async def test_routes_included_after_the_first_request_are_found() -> None:
    app: FastAPI = build_app(routes=False)
    async for client in client_for(app):
        assert (await client.get("/v3/api/Mandate")).status_code == 404
        app.include_router(router)
        assert (await client.get("/v3/api/Mandate")).status_code == 200


def test_route_table_is_read_from_the_routes() -> None:
    table = V3RouteTable.from_routes(build_app().routes)
    matched = table.match("/V3/Api/Mandate/ENERGY")
    assert matched is not None
    path, route = matched
    assert path == "/v3/api/mandate/energy"
    assert set(route.query_names.values()) == {
        "ean",
        "periodType",
        "referenceNumber",
        "granularity",
        "complexEnergyTypes",
        "from",
        "to",
    }
    assert table.match("/v3/api/nothing") is None
    assert table.match("/api/v1/mandate") is None


def test_query_string_rewriting_keeps_values_byte_for_byte() -> None:
    route = CanonicalRoute(
        ("", "v3", "api", "mandate"), {"ean": "ean", "lastupdatedfrom": "lastUpdatedFrom"}
    )
    table = V3RouteTable([route])
    raw = b"EAN=5414%2B&LastUpdatedFrom=2024-01-01T00%3A00%3A00%2B01%3A00&x=1&flag&=v&Ea%4E=2"
    assert table.canonical_query_string(route, raw) == (
        b"ean=5414%2B&lastUpdatedFrom=2024-01-01T00%3A00%3A00%2B01%3A00&x=1&flag&=v&ean=2"
    )
    assert table.canonical_query_name(route, "EanNumber") == "ean"
    assert table.canonical_query_name(CanonicalRoute(("", "v3"), {}), "EanNumber") == "EanNumber"


def test_literal_templates_win_over_parameters() -> None:
    table = V3RouteTable(
        [
            CanonicalRoute(("", "v3", "api", "mandate", None), {}),
            CanonicalRoute(("", "v3", "api", "mandate", "energy"), {}),
        ]
    )
    assert table.match("/V3/Api/Mandate/ENERGY") == ("/v3/api/mandate/energy", table.routes[0])
    matched = table.match("/V3/Api/Mandate/Xyz")
    assert matched is not None
    assert matched[0] == "/v3/api/mandate/Xyz"
