"""The bulk import's CSV reader and content hashes, without a database: a CSV row reads as
the access point its JSON equivalent gives, odd cells and all, and the hashes stay the ones
stored before (a changed hash would rewrite every stored access point on the next import)."""

from __future__ import annotations

from typing import Any

from datahub_api.access_points.files import UploadFormat, read_upload
from datahub_api.access_points.schemas import AccessPointBody

HEADER = (
    "ean,energy_type,meter_type,metering,gvm,meter_ids,meters_installed_from,"
    "communication_periods,grid_user_account_id,customer_account_ids,parties_valid_from,"
    "sub_headpoints,smr3,local_production,estimated_annual_volumes"
)
NORMAL = (
    "541448800000004312,E,DM,,false,1SAG1100042062,2020-01-01,2020-01-01/,17,18,2020-01-01,"
    ",false,PV:5.6,"
)
ODD = (  # blanks around values, empty pieces between bars, Y for true, no parties
    " 541448800000004329 ,E,DM,metering-on-headpoint, Y ,| 1SAG1 || 1SAG2 |, 2021-05-03 ,"
    "2021-05-03/2024-02-01 | 2024-03-15/ ,, | ,,production:2,1,PV:5:kW|BAT,"
    "offtake_high:1013:kWh:2025-07-01/2026-07-01"
)
NORMAL_JSON: dict[str, Any] = {
    "ean": "541448800000004312",
    "energy_type": "E",
    "meter_type": "DM",
    "gvm": False,
    "physical_meters": [
        {"seq_number": "1", "meter_id": "1SAG1100042062", "installed_from": "2020-01-01"}
    ],
    "communication_periods": [{"valid_from": "2020-01-01"}],
    "grid_users": [{"account_id": 17, "valid_from": "2020-01-01"}],
    "customers": [{"account_id": 18, "valid_from": "2020-01-01"}],
    "installation": {"local_production_installations": [{"type": "PV", "converter_power": 5.6}]},
}
ODD_JSON: dict[str, Any] = {  # what is not said is left to the defaults
    "ean": "541448800000004329",
    "energy_type": "E",
    "meter_type": "DM",
    "metering": "metering-on-headpoint",
    "gvm": True,
    "physical_meters": [
        {"seq_number": "1", "meter_id": "1SAG1", "installed_from": "2021-05-03"},
        {"seq_number": "2", "meter_id": "1SAG2", "installed_from": "2021-05-03"},
    ],
    "communication_periods": [
        {"valid_from": "2021-05-03", "valid_to": "2024-02-01"},
        {"valid_from": "2024-03-15"},
    ],
    "sub_headpoints": [{"type": "submetering-production", "seq_number": "2"}],
    "installation": {
        "smr3": True,
        "local_production_installations": [
            {"type": "PV", "converter_power": 5, "converter_power_unit": "kW"},
            {"type": "BAT"},
        ],
        "estimated_annual_volumes": [
            {
                "calculated_register": "offtake_high",
                "value": 1013,
                "period_from": "2025-07-01",
                "period_to": "2026-07-01",
            }
        ],
    },
}


def test_a_normal_and_an_odd_csv_row_read_as_their_json_equivalents() -> None:
    upload = read_upload([HEADER, NORMAL, "", ODD], UploadFormat.csv)
    assert upload.problems == []
    assert [row.line for row in upload.rows] == [2, 4]
    for row, equivalent in zip(upload.rows, (NORMAL_JSON, ODD_JSON), strict=True):
        expected = AccessPointBody.model_validate(equivalent)
        assert row.access_point == expected
        assert row.access_point.model_dump() == expected.model_dump()
        assert row.access_point.content_hash() == expected.content_hash()


def test_odd_csv_rows_keep_their_problems_and_lines() -> None:
    rows = [
        HEADER,
        NORMAL,
        NORMAL.replace(",1SAG1100042062,2020-01-01,", ",|1SAG1||,,"),
        NORMAL.replace(",false,1SAG", ",perhaps,1SAG"),
        NORMAL.replace(",17,18,2020-01-01,", ",,| 18 ,,"),
        NORMAL.replace(",,false,PV:5.6,", ",production,false,PV:5.6,"),
        NORMAL.replace("2020-01-01/", "2020-01-01"),
        NORMAL.replace(",1SAG1100042062,", ",=SUM(A1),"),
        NORMAL.replace(",17,18,", ",0,18,"),
    ]
    upload = read_upload(rows, UploadFormat.csv)
    assert upload.rows == [upload.rows[0]]
    assert upload.rows[0].line == 2
    assert [(problem.line, problem.detail) for problem in upload.problems] == [
        (3, "meters_installed_from: needed when meter_ids are given"),
        (4, "gvm: 'perhaps' is not true or false"),
        (5, "parties_valid_from: needed with a grid user or customers"),
        (
            6,
            "a sub-headpoint is TYPE:SEQ[:EAN[:INSTALLATION_TYPE[:VREG_ID]]], not 'production'",
        ),
        (7, "a period is FROM/TO, not '2020-01-01'"),
        (
            8,
            "physical_meters.0.meter_id: letters, digits and . _ / - only, starting with a "
            "letter or digit",
        ),
        (9, "grid_users.0.account_id: Input should be greater than or equal to 1"),
    ]


MANY_LISTED: dict[str, Any] = {
    "ean": "541448800000004312",
    "energy_type": "E",
    "meter_type": "DM",
    "metering": "metering-on-headpoint",
    "physical_meters": [
        {"seq_number": "2", "meter_id": "1SAG1100042063", "installed_from": "2021-05-03"},
        {
            "seq_number": "1",
            "meter_id": "1SAG1100042062",
            "installed_from": "2021-05-03",
            "installed_to": "2024-01-01",
        },
    ],
    "sub_headpoints": [
        {
            "type": "submetering-production",
            "seq_number": "3",
            "ean": "541448800000004329",
            "installation_type": "PV",
            "vreg_id": "G10345678",
        },
        {"type": "submetering-offtake", "seq_number": "2"},
    ],
    "communication_periods": [
        {"valid_from": "2024-03-15"},
        {"valid_from": "2021-05-03", "valid_to": "2024-02-01"},
    ],
    "customers": [
        {"account_id": 18, "valid_from": "2020-01-01"},
        {"account_id": 17, "valid_from": "2020-01-01"},
    ],
    "installation": {
        "local_production_installations": [
            {"type": "BAT", "converter_power": 5, "converter_power_unit": "kW"},
            {
                "type": "PV",
                "converter_power": 5.604,
                "vreg_id": "G1",
                "inspection_date": "2024-10-17",
            },
        ],
        "estimated_annual_volumes": [
            {
                "calculated_register": "offtake_low",
                "value": 1650,
                "period_from": "2025-07-01",
                "period_to": "2026-07-01",
            },
            {
                "calculated_register": "offtake_high",
                "value": 1013,
                "period_from": "2025-07-01",
                "period_to": "2026-07-01",
            },
        ],
    },
}


def test_content_hashes_are_the_ones_stored_before() -> None:
    """Pinned from the hashing as it was before the encoders were built once and lists of
    one item were no longer sorted."""
    one = AccessPointBody.model_validate(NORMAL_JSON)
    many = AccessPointBody.model_validate(MANY_LISTED)
    assert one.installation is not None
    assert many.installation is not None
    assert (one.content_hash(), one.installation.content_hash()) == (
        "75bbbff9328bdb4a7d05051353dbe18e6aa2e61807427522644d100021ea011b",
        "b984ecd3ed95608966d0fde65fd8d4956e5d41bdc28f37fe776d26275f3706e0",
    )
    assert (many.content_hash(), many.installation.content_hash()) == (
        "74bfb7a90d7ff6f73b82d8c764d6f4463ccc5cf25ef2d44a3faf92cc6247b9e7",
        "17bf40aea8a01698e03fc975f45c68ef6619446dfe705fe396ea0fbc5c3bdc56",
    )
    reordered = AccessPointBody.model_validate(
        MANY_LISTED
        | {
            key: list(reversed(MANY_LISTED[key]))
            for key in ("physical_meters", "sub_headpoints", "communication_periods", "customers")
        }
    )
    assert reordered.content_hash() == many.content_hash()
