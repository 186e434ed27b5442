"""Reading access points from uploads and files: NDJSON (one JSON object a line) and CSV.

Both readers take lines (so a file can be streamed) and give the parsed rows and the
problems, each with its 1-based line number. The CSV layout (:data:`CSV_LAYOUT`) is flat:
one row per access point, several values in one cell separated by ``|``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from datahub_api.access_points.schemas import AccessPointBody
from datahub_api.access_points.service import AccessPointRow, RowProblem, TooManyAccessPoints

MAX_PROBLEMS_KEPT = 1_000

CSV_COLUMNS = (
    "ean",
    "energy_type",
    "meter_type",
    "metering",
    "gvm",
    "meter_ids",
    "meters_installed_from",
    "communication_periods",
    "grid_user_account_id",
    "customer_account_ids",
    "parties_valid_from",
    "sub_headpoints",
    "smr3",
    "local_production",
    "estimated_annual_volumes",
)
REQUIRED_CSV_COLUMNS = ("ean", "energy_type", "meter_type")
INSTALLATION_CSV_COLUMNS = ("smr3", "local_production", "estimated_annual_volumes")

CSV_LAYOUT = """\
CSV: UTF-8, comma-separated, a header line naming the columns (any order; `ean`,
`energy_type` and `meter_type` are required, the others optional), then one line per access
point. Several values in one cell are separated by `|`. Dates are Europe/Brussels dates
`YYYY-MM-DD`. A CSV row describes the current situation: every meter and party it names is
open-ended; use NDJSON for history (closed periods, meter exchanges, moves).

Columns:
- `ean`: the access point, e.g. `541448800000004312`.
- `energy_type`: `E` electricity or `G` gas.
- `meter_type`: `DM` digital meter or `KM` other.
- `metering`: `metering-on-meter` (empty = this), `metering-on-headpoint` or
  `metering-on-headpoint-and-meter`.
- `gvm`: large-consumption installation, `true`/`false` (or `1`/`0`; empty = false).
- `meter_ids`: installed meters, e.g. `1SAG1100042062|1SAG1100042063`; seq numbers 1, 2, ...
  in this order.
- `meters_installed_from`: installation date of those meters (needed with `meter_ids`).
- `communication_periods`: periods of a communicating digital meter, `FROM/TO` with `TO`
  exclusive and empty for open, e.g. `2021-05-03/2024-02-01|2024-03-15/`.
- `grid_user_account_id`: the grid user's account id, e.g. `17`.
- `customer_account_ids`: the customers' account ids, e.g. `17|18`.
- `parties_valid_from`: from when the grid user and customers hold (needed with either).
- `sub_headpoints`: `TYPE:SEQ[:EAN[:INSTALLATION_TYPE[:VREG_ID]]]` with TYPE `production`,
  `offtake` or `auxiliary`, e.g. `production:2:541448800000004329:PV:G10345678`.

Installation facts (data service `IG`): when the header names any of the three columns
below, each row replaces its access point's installation facts with what its cells say
(an empty cell: none, or false); without them the stored facts stay as they are.
- `smr3`: a dynamic contract is active, `true`/`false` (empty = false).
- `local_production`: `TYPE[:POWER[:UNIT[:VREG_ID[:INSPECTION_DATE]]]]` with TYPE a Fluvius
  code (`PV`, `BAT`, `WKKA`, `PPPV`, ...), the converter power with a `.` decimal point (at
  most three decimals) in UNIT `kVA` (empty = this) or `kW`, e.g.
  `PV:5.604:kVA:G10345678:2024-10-17|BAT:5:kW`.
- `estimated_annual_volumes`: `REGISTER:VALUE:UNIT:FROM/TO` (`TO` exclusive), REGISTER one of
  `offtake_total_hours`, `offtake_high`, `offtake_low`, `offtake_exclusive_night`,
  `compensated_offtake_total_hours`, `compensated_offtake_high`, `compensated_offtake_low`,
  `injection_total_hours`, `injection_high`, `injection_low` (gas: `offtake_total_hours`),
  VALUE a whole number, UNIT `kWh` (gas also `m3`), e.g.
  `offtake_high:1013:kWh:2025-07-01/2026-07-01|offtake_low:1650:kWh:2025-07-01/2026-07-01`.
"""


class UploadFormat(StrEnum):
    ndjson = "ndjson"
    csv = "csv"


@dataclass
class ParsedUpload:
    rows: list[AccessPointRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    problem_count: int = 0

    def add_problem(self, line: int, detail: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(RowProblem(line, detail))


def describe(error: ValidationError, *, limit: int = 3) -> str:
    """A validation error as one line: ``field.path: message; ...``."""
    parts = []
    for detail in error.errors()[:limit]:
        location = ".".join(str(part) for part in detail["loc"])
        message = detail["msg"].removeprefix("Value error, ")
        parts.append(f"{location}: {message}" if location else message)
    extra = error.error_count() - limit
    if extra > 0:
        parts.append(f"and {extra} more")
    return "; ".join(parts)


def _count(upload: ParsedUpload, max_rows: int | None) -> None:
    if max_rows is not None and len(upload.rows) + upload.problem_count > max_rows:
        raise TooManyAccessPoints(f"an upload holds at most {max_rows} access points")


def read_ndjson(lines: Iterable[str], *, max_rows: int | None = None) -> ParsedUpload:
    """One access point JSON object per line; blank lines are skipped."""
    upload = ParsedUpload()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            body = AccessPointBody.model_validate_json(line)
        except ValidationError as exc:
            upload.add_problem(number, describe(exc))
        else:
            upload.rows.append(AccessPointRow(number, body))
        _count(upload, max_rows)
    return upload


def _split(cell: str) -> list[str]:
    if "|" not in cell:  # most cells: one value or none
        value = cell.strip()
        return [value] if value else []
    return [part.strip() for part in cell.split("|") if part.strip()]


def _period(text: str) -> dict[str, str | None]:
    start, separator, end = text.partition("/")
    if not separator:
        raise ValueError(f"a period is FROM/TO, not {text!r}")
    return {"valid_from": start.strip(), "valid_to": end.strip() or None}


_SUB_HEADPOINT_TYPES = {
    "production": "submetering-production",
    "offtake": "submetering-offtake",
    "auxiliary": "submetering-auxiliary",
}


def _sub_headpoint(text: str) -> dict[str, Any]:
    parts = [part.strip() for part in text.split(":")]
    if len(parts) < 2 or len(parts) > 5:
        raise ValueError(
            f"a sub-headpoint is TYPE:SEQ[:EAN[:INSTALLATION_TYPE[:VREG_ID]]], not {text!r}"
        )
    kind, seq_number, *rest = parts + [""] * (5 - len(parts))
    ean, installation_type, vreg_id = rest
    return {
        "type": _SUB_HEADPOINT_TYPES.get(kind, kind),
        "seq_number": seq_number,
        "ean": ean or None,
        "installation_type": installation_type or None,
        "vreg_id": vreg_id or None,
    }


_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}
_FLAGS = _TRUE | _FALSE


def _flag(cells: dict[str, str], name: str) -> bool:
    text = cells.get(name, "").strip().lower()
    if text not in _FLAGS:
        raise ValueError(f"{name}: {cells[name]!r} is not true or false")
    return text in _TRUE


def _local_production(text: str) -> dict[str, Any]:
    parts = [part.strip() for part in text.split(":")]
    if len(parts) > 5:
        raise ValueError(
            "local_production: an installation is "
            f"TYPE[:POWER[:UNIT[:VREG_ID[:INSPECTION_DATE]]]], not {text!r}"
        )
    kind, power, unit, vreg_id, inspected = parts + [""] * (5 - len(parts))
    production: dict[str, Any] = {
        "type": kind,
        "converter_power": power or None,
        "vreg_id": vreg_id or None,
        "inspection_date": inspected or None,
    }
    if unit:
        production["converter_power_unit"] = unit
    return production


def _estimated_volume(text: str) -> dict[str, Any]:
    parts = [part.strip() for part in text.split(":")]
    if len(parts) != 4:
        raise ValueError(
            f"estimated_annual_volumes: a volume is REGISTER:VALUE:UNIT:FROM/TO, not {text!r}"
        )
    register, value, unit, period = parts
    start, separator, end = period.partition("/")
    if not separator:
        raise ValueError(f"estimated_annual_volumes: a period is FROM/TO, not {period!r}")
    return {
        "calculated_register": register,
        "value": value,
        "unit": unit,
        "period_from": start.strip(),
        "period_to": end.strip(),
    }


def _installation(cells: dict[str, str]) -> dict[str, Any]:
    return {
        "smr3": _flag(cells, "smr3"),
        "local_production_installations": [
            _local_production(text) for text in _split(cells.get("local_production", ""))
        ],
        "estimated_annual_volumes": [
            _estimated_volume(text) for text in _split(cells.get("estimated_annual_volumes", ""))
        ],
    }


def csv_row_to_json(cells: dict[str, str]) -> dict[str, Any]:
    """One CSV row as the JSON body of an access point (raises ValueError with a reason)."""
    value: dict[str, Any] = {
        "ean": cells["ean"],
        "energy_type": cells["energy_type"],
        "meter_type": cells["meter_type"],
    }
    if cells.get("metering"):
        value["metering"] = cells["metering"]
    value["gvm"] = _flag(cells, "gvm")
    meter_ids = _split(cells.get("meter_ids", ""))
    if meter_ids:
        installed_from = cells.get("meters_installed_from", "").strip()
        if not installed_from:
            raise ValueError("meters_installed_from: needed when meter_ids are given")
        value["physical_meters"] = [
            {"seq_number": str(seq), "meter_id": meter_id, "installed_from": installed_from}
            for seq, meter_id in enumerate(meter_ids, start=1)
        ]
    else:
        value["physical_meters"] = []  # given, not defaulted: spares copying the default
    value["communication_periods"] = [
        _period(text) for text in _split(cells.get("communication_periods", ""))
    ]
    grid_user = cells.get("grid_user_account_id", "").strip()
    customers = _split(cells.get("customer_account_ids", ""))
    if grid_user or customers:
        since = cells.get("parties_valid_from", "").strip()
        if not since:
            raise ValueError("parties_valid_from: needed with a grid user or customers")
        value["grid_users"] = [{"account_id": grid_user, "valid_from": since}] if grid_user else []
        value["customers"] = [{"account_id": c, "valid_from": since} for c in customers]
    else:
        value["grid_users"], value["customers"] = [], []
    value["sub_headpoints"] = [
        _sub_headpoint(text) for text in _split(cells.get("sub_headpoints", ""))
    ]
    if any(name in cells for name in INSTALLATION_CSV_COLUMNS):
        value["installation"] = _installation(cells)
    return value


def read_csv(lines: Iterable[str], *, max_rows: int | None = None) -> ParsedUpload:
    """The CSV layout of :data:`CSV_LAYOUT`; line numbers count the header as line 1."""
    upload = ParsedUpload()
    reader = csv.reader(_with_line_ends(lines))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return upload
    unknown = [name for name in header if name not in CSV_COLUMNS]
    missing = [name for name in REQUIRED_CSV_COLUMNS if name not in header]
    if unknown or missing or len(set(header)) != len(header):
        reasons = []
        if unknown:
            reasons.append(f"unknown column(s) {', '.join(unknown)}")
        if missing:
            reasons.append(f"missing column(s) {', '.join(missing)}")
        if len(set(header)) != len(header):
            reasons.append("a column is named twice")
        upload.add_problem(
            1, "header: " + "; ".join(reasons) + f" (columns: {', '.join(CSV_COLUMNS)})"
        )
        return upload
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            upload.add_problem(reader.line_num, f"not CSV: {exc}")
            break
        number = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            upload.add_problem(number, f"{len(cells)} cells where the header has {len(header)}")
        else:
            try:
                body = AccessPointBody.model_validate(
                    csv_row_to_json(dict(zip(header, cells, strict=True)))
                )
            except ValidationError as exc:
                upload.add_problem(number, describe(exc))
            except ValueError as exc:
                upload.add_problem(number, str(exc))
            else:
                upload.rows.append(AccessPointRow(number, body))
        _count(upload, max_rows)
    return upload


def _with_line_ends(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        yield line if line.endswith("\n") else line + "\n"


def read_upload(
    lines: Iterable[str], upload_format: UploadFormat, *, max_rows: int | None = None
) -> ParsedUpload:
    if upload_format is UploadFormat.csv:
        return read_csv(lines, max_rows=max_rows)
    return read_ndjson(lines, max_rows=max_rows)
