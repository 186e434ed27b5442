"""The v3 Pydantic models produce exactly the spec's bodies: every enum and ``$type`` string
is the spec's, every response model dumped validates, and the spec's own examples parse and
dump back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from datahub_api.fluvius_v3 import schemas as v3
from datahub_api.fluvius_v3.schemas import (
    ApiDataResponse,
    AuxiliarySubHeadpoint,
    ComplexEnergyType,
    CreateClientSessionRequest,
    CreateClientSessionResponse,
    CreateClientSessionResponseApiDataResponse,
    CreateClientSessionStatus,
    CreateMandateRequest,
    CreateMandateResponse,
    CreateMandateResponseApiDataResponse,
    DataServiceType,
    EnergyType,
    ErrorResponse,
    ErrorValidationResponse,
    GetEnergyResponse,
    GetEnergyResponseApiDataResponse,
    GetMandatesResponse,
    GetMandatesResponseApiDataResponse,
    Mandate,
    MandateRenewalStatus,
    MandateStatus,
    MeasurementDirection,
    MeasurementTimeSlice,
    MeasurementValidationState,
    MeasurementValue,
    MeasurementValueSet,
    MeteringOnHeadpoint,
    MeteringOnHeadpointAndMeter,
    MeteringOnMeter,
    OfftakeSubHeadpoint,
    PhysicalMeter,
    ProductionSubHeadpoint,
    RequestedGranularity,
    Unit,
    parse_multi_value,
    split_multi_value,
)

from ..support.fluvius_spec import (
    FluviusSpec,
    discriminator_values,
    validate_v3_request_body,
    validate_v3_response,
)

EAN = "541448800000004312"
FETCHED = datetime(2026, 1, 27, 15, 15, 57, 123456, tzinfo=UTC)
MIDNIGHT_BRUSSELS = datetime(2024, 7, 26, 22, tzinfo=UTC)

# Each StrEnum of the module and the spec component whose enum it must equal.
ENUM_COMPONENTS = {
    "EnergyType": v3.EnergyType,
    "MandateStatus": v3.MandateStatus,
    "MandateRenewalStatus": v3.MandateRenewalStatus,
    "DataServiceType": v3.DataServiceType,
    "Flow": v3.Flow,
    "CreateClientSessionStatus": v3.CreateClientSessionStatus,
    "PeriodType": v3.PeriodType,
    "MeasurementValidationState": v3.MeasurementValidationState,
    "Unit": v3.Unit,
    "GasConversionFactor": v3.GasConversionFactor,
    "Register": v3.Register,
    "MeterType": v3.MeterType,
    "LocalProductionInstallationType": v3.LocalProductionInstallationType,
    "EstimatedVolumeType": v3.EstimatedVolumeType,
}


@pytest.mark.parametrize("component", sorted(ENUM_COMPONENTS))
def test_enums_are_the_spec_enums(fluvius_spec: FluviusSpec, component: str) -> None:
    spec_values = fluvius_spec.raw["components"]["schemas"][component]["enum"]
    assert [member.value for member in ENUM_COMPONENTS[component]] == spec_values


def test_every_spec_enum_has_a_model(fluvius_spec: FluviusSpec) -> None:
    spec_enums = {
        name
        for name, schema in fluvius_spec.raw["components"]["schemas"].items()
        if "enum" in schema
    }
    assert spec_enums == set(ENUM_COMPONENTS)


def test_query_only_enums_follow_the_parameter_descriptions(fluvius_spec: FluviusSpec) -> None:
    parameters = {
        p["name"]: p for p in fluvius_spec.raw["paths"]["/api/mandate/energy"]["get"]["parameters"]
    }
    for name, enum in (
        ("granularity", RequestedGranularity),
        ("complexEnergyTypes", ComplexEnergyType),
    ):
        description = parameters[name]["description"]
        assert all(f"<i>{member.value}</i>" in description for member in enum)


def test_type_discriminators_are_the_spec_strings(fluvius_spec: FluviusSpec) -> None:
    models: dict[str, type[BaseModel]] = {
        "MeteringOnMeter": MeteringOnMeter,
        "MeteringOnHeadpoint": MeteringOnHeadpoint,
        "MeteringOnHeadpointAndMeter": MeteringOnHeadpointAndMeter,
        "AuxiliarySubHeadpoint": AuxiliarySubHeadpoint,
        "OfftakeSubHeadpoint": OfftakeSubHeadpoint,
        "ProductionSubHeadpoint": ProductionSubHeadpoint,
    }
    ours = {name: model.model_fields["kind"].default for name, model in models.items()}
    assert ours == discriminator_values(fluvius_spec.raw)


def _slices(step: timedelta, count: int, value: float) -> list[MeasurementTimeSlice]:
    return [
        MeasurementTimeSlice(
            start=MIDNIGHT_BRUSSELS + i * step,
            end=MIDNIGHT_BRUSSELS + (i + 1) * step,
            measurements=[
                MeasurementDirection(
                    offtake=MeasurementValueSet(
                        day=MeasurementValue(
                            value=value,
                            unit=Unit.KWH,
                            validation_state=MeasurementValidationState.READ,
                        ),
                        night=MeasurementValue(
                            value=None,
                            unit=Unit.KWH,
                            validation_state=MeasurementValidationState.ESTIMATED,
                        ),
                    ),
                    injection=MeasurementValueSet(
                        total=MeasurementValue(value=0.25, unit=Unit.KWH),
                        reactive=MeasurementValue(value=0.01, unit=Unit.KVARH),
                    ),
                )
            ],
        )
        for i in range(count)
    ]


def _sub_headpoints() -> list[Any]:
    quarter_hours = _slices(timedelta(minutes=15), 2, 0.1)
    return [
        OfftakeSubHeadpoint(
            ean="541448860022368335", seq_number="1", quarter_hourly_energy=quarter_hours
        ),
        ProductionSubHeadpoint(
            ean="541448860022368342",
            seq_number="2",
            vreg_id="G10345678",
            production_type=v3.LocalProductionInstallationType.PHOTOVOLTAIC,
            daily_energy=_slices(timedelta(days=1), 1, 12.5),
        ),
        AuxiliarySubHeadpoint(seq_number="3", hourly_energy=[]),
    ]


def _energy(headpoint: Any) -> GetEnergyResponseApiDataResponse:
    return GetEnergyResponseApiDataResponse.of(
        GetEnergyResponse(headpoint=headpoint), fetch_time=FETCHED
    )


RESPONSES: list[tuple[str, str, BaseModel]] = [
    (
        "GET",
        "/api/mandate",
        GetMandatesResponseApiDataResponse.of(
            GetMandatesResponse(
                mandates=[
                    Mandate(
                        reference_number="edv-42",
                        status=MandateStatus.APPROVED,
                        ean=EAN,
                        energy_type=EnergyType.ELECTRICITY,
                        data_period_from=MIDNIGHT_BRUSSELS,
                        data_period_to=MIDNIGHT_BRUSSELS + timedelta(days=365),
                        data_service_type=DataServiceType.HISTORY_QUARTER_HOURLY_OR_HOURLY,
                        mandate_expiration_date=MIDNIGHT_BRUSSELS + timedelta(days=365),
                        renewal_status=MandateRenewalStatus.TO_BE_RENEWED,
                    ),
                    Mandate(
                        reference_number="edv-42",
                        status=MandateStatus.REQUESTED,
                        ean=EAN,
                        energy_type=EnergyType.GAS,
                        data_service_type=DataServiceType.INSTALLATION_DATA,
                    ),
                ]
            ),
            fetch_time=FETCHED,
        ),
    ),
    (
        "GET",
        "/api/mandate",
        GetMandatesResponseApiDataResponse.of(GetMandatesResponse(mandates=[])),
    ),
    (
        "GET",
        "/api/mandate/energy",
        _energy(
            MeteringOnMeter(
                ean=EAN,
                energy_type=EnergyType.ELECTRICITY,
                physical_meters=[
                    PhysicalMeter(
                        seq_number="1",
                        meter_id="1SAG2120063032",
                        daily_energy=_slices(timedelta(days=1), 2, 4.2),
                        quarter_hourly_energy=_slices(timedelta(minutes=15), 4, 0.1),
                    )
                ],
            )
        ),
    ),
    (
        "GET",
        "/api/mandate/energy",
        _energy(
            MeteringOnHeadpoint(
                ean=EAN,
                energy_type=EnergyType.ELECTRICITY,
                quarter_hourly_energy=_slices(timedelta(minutes=15), 4, 0.1),
                sub_headpoints=_sub_headpoints(),
            )
        ),
    ),
    (
        "GET",
        "/api/mandate/energy",
        _energy(
            MeteringOnHeadpointAndMeter(
                ean=EAN,
                energy_type=EnergyType.GAS,
                physical_meters=[
                    PhysicalMeter(seq_number="1", hourly_energy=_slices(timedelta(hours=1), 3, 1.0))
                ],
                hourly_energy=_slices(timedelta(hours=1), 3, 1.0),
                sub_headpoints=_sub_headpoints(),
            )
        ),
    ),
    ("GET", "/api/mandate/energy", _energy(None)),
    (
        "POST",
        "/api/shortUrlIdentifier",
        CreateClientSessionResponseApiDataResponse.of(
            CreateClientSessionResponse(
                status=CreateClientSessionStatus.SUCCESS,
                short_url_identifier="ed9bfb8018408059853b1b29949d3cbc",
                valid_to=FETCHED + timedelta(days=1),
            )
        ),
    ),
    (
        "POST",
        "/api/shortUrlIdentifier",
        CreateClientSessionResponseApiDataResponse.of(
            CreateClientSessionResponse(status=CreateClientSessionStatus.FAILED)
        ),
    ),
    (
        "POST",
        "/api/mandate/mock",
        CreateMandateResponseApiDataResponse.of(CreateMandateResponse(status="success")),
    ),
]


@pytest.mark.parametrize(("method", "path", "model"), RESPONSES)
def test_response_models_dump_to_spec_bodies(
    fluvius_spec: FluviusSpec, method: str, path: str, model: BaseModel
) -> None:
    body = model.model_dump(mode="json")
    validate_v3_response(method, path, 200, body)
    assert None not in _all_values(body)  # Fluvius omits absent values


def _all_values(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [v for value in node.values() for v in [value, *_all_values(value)]]
    if isinstance(node, list):
        return [v for value in node for v in [value, *_all_values(value)]]
    return []


def test_error_models_dump_to_spec_bodies(fluvius_spec: FluviusSpec) -> None:
    validation = ErrorValidationResponse(
        validation_error_messages=["Parameter 'ean' must contain 18 digits."],
        type="AppValidationException",
        code="RequestModelValidation.Failed",
        message="Request model validation failed.",
    )
    not_found = ErrorResponse(
        type="MandatesNotFoundException",
        code="Mandates.NotFound",
        message="No Mandates were found.",
    )
    validate_v3_response("GET", "/api/mandate/energy", 400, validation.model_dump(mode="json"))
    validate_v3_response("GET", "/api/mandate/energy", 404, not_found.model_dump(mode="json"))
    assert list(validation.model_dump(mode="json")) == [
        "validationErrorMessages",
        "type",
        "code",
        "message",
    ]


def test_wire_format_details() -> None:
    body = _energy(MeteringOnHeadpoint(ean=EAN, energy_type=EnergyType.GAS)).model_dump(mode="json")
    # Fluvius writes whole-second UTC instants with a Z; unset optional fields are omitted.
    assert body["_meta"] == {"fetchTime": "2026-01-27T15:15:57Z"}
    assert list(body["data"]["headpoint"]) == ["$type", "ean", "energyType"]
    # $type first, as .NET polymorphic deserialisation needs, also with everything set.
    for _, _, model in RESPONSES[2:5]:
        dumped = model.model_dump(mode="json")
        assert next(iter(dumped["data"]["headpoint"])) == "$type"
        for sub in dumped["data"]["headpoint"].get("subHeadpoints", []):
            assert next(iter(sub)) == "$type"
    meter = PhysicalMeter(meter_id="1SAG").model_dump(mode="json")
    assert meter == {"meterID": "1SAG"}
    assert list(body) == ["data", "_meta"]


def test_instants_are_converted_to_utc_and_naive_times_refused() -> None:
    brussels_summer = timezone(timedelta(hours=2))
    mandate = Mandate(
        reference_number="r",
        status=MandateStatus.APPROVED,
        ean=EAN,
        energy_type=EnergyType.ELECTRICITY,
        data_service_type=DataServiceType.HISTORY_DAILY,
        data_period_from=datetime(2024, 7, 27, 0, 0, tzinfo=brussels_summer),
    )
    assert mandate.model_dump(mode="json")["dataPeriodFrom"] == "2024-07-26T22:00:00Z"
    assert mandate.data_period_from == MIDNIGHT_BRUSSELS
    with pytest.raises(ValidationError):
        Mandate.model_validate(
            {**mandate.model_dump(mode="json"), "dataPeriodFrom": "2024-07-27T00:00:00"}
        )


@pytest.mark.parametrize(
    "model",
    [
        GetMandatesResponseApiDataResponse,
        GetEnergyResponseApiDataResponse,
        CreateClientSessionResponseApiDataResponse,
    ],
)
def test_spec_examples_round_trip(
    fluvius_spec: FluviusSpec, model: type[ApiDataResponse[Any]]
) -> None:
    """Every 200 example of the spec parses into our model and dumps back as it was."""
    schema_name = model.__name__
    seen = 0
    for operations in fluvius_spec.raw["paths"].values():
        for operation in operations.values():
            content = operation["responses"]["200"]["content"]["application/json"]
            if content["schema"].get("$ref", "").rsplit("/", 1)[-1] != schema_name:
                continue
            for example in content["examples"].values():
                parsed = model.model_validate(example["value"])
                assert parsed.model_dump(mode="json") == example["value"]
                seen += 1
    assert seen > 0


def test_request_models_accept_what_fluvius_accepts(fluvius_spec: FluviusSpec) -> None:
    request = CreateClientSessionRequest.model_validate(
        {
            "DataAccessContractNumber": "3599900040",  # ASP.NET binds names case-insensitively
            "referencenumber": "edv-42",
            "flow": "B2C",
            "dataServices": [
                {"DataServiceType": "VH_dag", "dataPeriodFrom": "2024-01-01T23:00:00Z"}
            ],
            "numberOfEans": 2,
            "someFutureField": True,  # and ignores unknown members
        }
    )
    assert request.reference_number == "edv-42"
    assert request.data_services is not None
    assert request.data_services[0].data_period_from == datetime(2024, 1, 1, 23, tzinfo=UTC)
    validate_v3_request_body("POST", "/api/shortUrlIdentifier", request.model_dump(mode="json"))
    mock = CreateMandateRequest(
        reference_number="r", ean=EAN, data_service_type=DataServiceType.HISTORY_DAILY
    )
    validate_v3_request_body("POST", "/api/mandate/mock", mock.model_dump(mode="json"))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"referenceNumber": "r", "flow": "B2B"}, "dataAccessContractNumber"),
        (
            {"dataAccessContractNumber": "", "referenceNumber": "r", "flow": "B2B"},
            "dataAccessContractNumber",
        ),
        ({"dataAccessContractNumber": "1", "referenceNumber": "r", "flow": "b2x"}, "flow"),
        (
            {
                "dataAccessContractNumber": "1",
                "referenceNumber": "r",
                "flow": "B2B",
                "numberOfEans": 2**31,
            },
            "numberOfEans",
        ),
    ],
)
def test_request_models_refuse_what_the_spec_refuses(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        CreateClientSessionRequest.model_validate(body)
    assert field in str(raised.value)


def test_multi_valued_parameters() -> None:
    assert split_multi_value("VH_dag, VH_kwartier_uur;IG|") == ["VH_dag", "VH_kwartier_uur", "IG"]
    assert parse_multi_value("daily|hourly_quarterhourly,daily", RequestedGranularity) == [
        RequestedGranularity.DAILY,
        RequestedGranularity.HOURLY_QUARTER_HOURLY,
    ]
    with pytest.raises(ValueError, match="'Daily' is not one of 'hourly_quarterhourly', 'daily'"):
        parse_multi_value("Daily", RequestedGranularity)  # case-sensitive, like Fluvius
    assert parse_multi_value("", DataServiceType) == []


def test_models_refuse_unknown_fields_and_values() -> None:
    with pytest.raises(ValidationError):
        Mandate.model_validate(
            {
                "referenceNumber": "r",
                "status": "Active",
                "ean": EAN,
                "energyType": "E",
                "dataServiceType": "VH_dag",
            }
        )
    with pytest.raises(ValidationError):
        GetEnergyResponse.model_validate(
            {"headpoint": {"$type": "metering-on-meters", "ean": EAN, "energyType": "E"}}
        )
    assert isinstance(
        GetEnergyResponse.model_validate(
            {"headpoint": {"$type": "metering-on-meter", "ean": EAN, "energyType": "E"}}
        ).headpoint,
        MeteringOnMeter,
    )
