"""``GET /api/v1/access-points/{ean}/meter-data``: an access point's metering data for an
ESP with a mandate, as columnar JSON, Fluvius-layout CSV or XLSX."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.models import AccessPoint, EnergyType
from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.principal import Principal, Scope
from datahub_api.db import ReadSession
from datahub_api.deps import ReadSessionDep, WriteSessionDep, app_state
from datahub_api.errors import DatahubError, UnprocessableContent, problem_responses
from datahub_api.meter_data import own_reads, reads
from datahub_api.meter_data.channels import NATIVE
from datahub_api.meter_data.fluvius_csv import (
    XLSX_LAST_ROW,
    ExportedAccessPoint,
    SheetFull,
    TariffCalendar,
    XlsxExport,
    content_disposition,
    csv_text,
    export_file_name,
    exported_access_point,
)
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import Direction, Register
from datahub_api.meter_data.reads import ReadGate, Release, export_row_chunks, series_of
from datahub_api.meter_data.series import (
    ReadWindow,
    parse_bound,
)
from datahub_api.meter_data.series_json import series_json
from datahub_api.settings import Settings

JSON = "application/json"
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = {"json": JSON, "csv": CSV, "xlsx": XLSX}

router = APIRouter(tags=["meter data"])

# The answers of both reads (an ESP's under a mandate, a customer's own).
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Columnar JSON, Fluvius-layout CSV, or XLSX (by `Accept` or `format`).",
        "content": {CSV: {"schema": {"type": "string"}}, XLSX: {"schema": {"type": "string"}}},
    },
    406: {"description": "None of the accepted media types can be served."},
    **problem_responses(401, 403, 404, 422, 429),
}


class NotAcceptable(DatahubError):
    status = 406
    title = "Not Acceptable"


class SeriesOut(BaseModel):
    """One register of one meter: a value per step from ``start``; ``null`` for a gap."""

    ean: str
    meter: str
    direction: str = Field(description="offtake, injection, production or auxiliary")
    register_: str = Field(
        alias="register", description="total, day, night, reactive, inductive or capacitive"
    )
    step: str = Field(description="PT15M, PT1H, P1D or P1M (Brussels days and months)")
    start: datetime = Field(description="Start of the first value (UTC).")
    end: datetime = Field(description="End of the last value (UTC, exclusive).")
    unit: str = Field(description="kWh, kVArh or m3")
    values: list[float | None]
    states: list[str | None] = Field(description="READ, EST, VAL or NVAL per value")
    incomplete: list[int] = Field(
        description="Indexes of buckets that lack some of their parts (a gap, or a partly "
        "delivered hour, day or month)."
    )


class MeterDataOut(BaseModel):
    ean: str
    from_: datetime = Field(alias="from")
    to: datetime
    granularity: str
    series: list[SeriesOut]


def _media_type(format_: str | None, accept: str | None) -> str:
    if format_ is not None:
        if format_ not in FORMATS:
            raise UnprocessableContent("`format` is json, csv or xlsx.")
        return FORMATS[format_]
    if not accept:
        return JSON
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in (JSON, CSV, XLSX):
            return media
        if media in ("*/*", "application/*"):
            return JSON
    raise NotAcceptable(f"Ask for {JSON}, {CSV} or {XLSX} (or use `format`).")


def _enum_member(enum: type[Direction] | type[Register], text: str | None, name: str) -> Any:
    if text is None:
        return None
    try:
        return enum[text]
    except KeyError:
        choices = ", ".join(member.name for member in enum)
        raise UnprocessableContent(f"`{name}` is one of {choices}.") from None


async def native_gate(
    ean: Annotated[str, Path(max_length=40)],
    principal: Annotated[Principal, Depends(require_scopes(Scope.meter_data_read))],
    session: WriteSessionDep,
) -> ReadGate:
    """The read service's gate on this face, run before the route's own parameters are
    validated: an EAN without a readable mandate answers like an unknown one (404)."""
    return await reads.gate(session, principal, ean, NATIVE)


@router.get(
    "/api/v1/access-points/{ean}/meter-data",
    response_model=MeterDataOut,
    responses=READ_RESPONSES,
    summary="Metering data of one access point (mandate needed)",
)
async def meter_data(
    request: Request,
    gate: Annotated[ReadGate, Depends(native_gate)],
    session: WriteSessionDep,
    from_: Annotated[
        str | None,
        Query(
            alias="from",
            max_length=40,
            description="Start (required): a date (Brussels midnight) or an instant with "
            "offset. Checked after the mandate, like every parameter.",
        ),
    ] = None,
    to: Annotated[
        str | None, Query(max_length=40, description="End (required, exclusive), like `from`.")
    ] = None,
    granularity: Annotated[
        str,
        Query(
            max_length=10,
            description="PT15M (default), PT1H, P1D or P1M; coarser steps sum the values.",
        ),
    ] = "PT15M",
    direction: Annotated[str | None, Query(max_length=20)] = None,
    register: Annotated[str | None, Query(max_length=20)] = None,
    format_: Annotated[
        str | None, Query(alias="format", max_length=10, description="json, csv or xlsx")
    ] = None,
    accept: Annotated[str | None, Header(max_length=500)] = None,
) -> Response:
    """Every step of `[from, to)` appears, with `null` (JSON) or an empty Volume (CSV) for a
    gap. Quarter-hours need a `VH_kwartier_uur` mandate; days and months also serve
    `VH_dag`. A period (partly) outside the mandate's data period is refused (403) naming
    that period. Days of it that are not the consenting customer's (before they moved in, or
    the co-signing grid user's tenure began) read as gaps, like days without data. An EAN
    without a readable mandate (none, not yours, past its expiration or the end of the
    customer's tenure) answers exactly like an unknown one (404), before any parameter is
    looked at.

    CSV follows Mijn Fluvius's export (`;`, decimal comma, UTF-8 with BOM, Brussels local
    times, `Dag`/`Nacht` by tariff period) and, like XLSX, is streamed a month at a time;
    JSON windows are limited to `DATAHUB_METER_DATA_JSON_MAX_DAYS`."""
    asked = await _asked(request, session, gate.ean, from_, to, granularity, direction, register)
    media_type = _checked_media_type(request, asked.window, format_, accept)
    release = await reads.grant_for(session, gate, asked.window)
    return await _answer(request, session, asked, release, media_type)


@dataclass(frozen=True)
class _Asked:
    """A read's parameters, checked: the window (in gas days for gas) and the filters."""

    ean: str
    access_point: AccessPoint
    window: ReadWindow
    filters: dict[str, Any]


async def _asked(
    request: Request,
    session: ReadSession,
    ean: str,
    from_: str | None,
    to: str | None,
    granularity: str,
    direction: str | None,
    register: str | None,
) -> _Asked:
    if from_ is None or to is None:
        raise UnprocessableContent("`from` and `to` are required.")
    try:
        read_granularity = Granularity(granularity)
    except ValueError:
        raise UnprocessableContent("`granularity` is PT15M, PT1H, P1D or P1M.") from None
    window = ReadWindow.checked(parse_bound(from_, "from"), parse_bound(to, "to"), read_granularity)
    access_point = await access_points_service.get_access_point(session, ean)
    if access_point.energy_type is EnergyType.gas:
        window = window.as_gas()  # gas days run 06:00 to 06:00
    filters = {
        "direction": _enum_member(Direction, direction, "direction"),
        "register": _enum_member(Register, register, "register"),
    }
    return _Asked(ean, access_point, window, filters)


XLSX_TOO_LONG = (
    "An XLSX sheet holds at most 1,048,576 rows (one per value and series): ask for CSV "
    "(streamed), a coarser granularity or a shorter window."
)


def _checked_media_type(
    request: Request, window: ReadWindow, format_: str | None, accept: str | None
) -> str:
    media_type = _media_type(format_, accept)
    if media_type == XLSX and window.bucket_count() > XLSX_LAST_ROW:
        raise UnprocessableContent(XLSX_TOO_LONG)  # before any row is read
    settings: Settings = app_state(request).settings
    if media_type == JSON and (window.end_day - window.first_day).days > (
        settings.meter_data_json_max_days
    ):
        raise UnprocessableContent(
            f"A JSON answer covers at most {settings.meter_data_json_max_days} days; ask for "
            "CSV or XLSX (streamed), or use POST /api/v1/meter-data/query."
        )
    return media_type


async def _answer(
    request: Request, session: ReadSession, asked: _Asked, release: Release, media_type: str
) -> Response:
    """The columnar JSON, or the streamed CSV or XLSX, of the released days."""
    window = asked.window
    if media_type == JSON:
        series = await series_of(session, release, window, **asked.filters)
        body = {
            "ean": asked.ean,
            "from": window.start,
            "to": window.end,
            "granularity": window.granularity.value,
            "series": [series_json(asked.ean, s) for s in series],
        }
        return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type=JSON)
    point = exported_access_point(asked.access_point)
    calendar = TariffCalendar.from_settings(app_state(request).settings)
    export = FileExport(request, point, window, release, asked.filters, calendar)
    if media_type == CSV:
        return export.csv_response()
    return StreamingResponse(
        await export.xlsx(),
        media_type=XLSX,
        headers={
            "Content-Disposition": content_disposition(export_file_name(point, window, ".xlsx"))
        },
    )


# --- the customer's own data -------------------------------------------------------------


class TenureOut(BaseModel):
    from_: date = Field(alias="from", description="First Brussels day as customer.")
    to: date | None = Field(description="Day after the last one (exclusive); null: still open.")


class OwnAccessPointOut(BaseModel):
    ean: str
    energy_type: str = Field(description="E (electricity) or G (gas)")
    meter_type: str = Field(description="DM (digital meter) or KM (other)")
    tenures: list[TenureOut] = Field(description="Your spans as customer: the days you read.")


class OwnAccessPointsOut(BaseModel):
    items: list[OwnAccessPointOut]


@router.get(
    "/api/v1/me/access-points",
    response_model=OwnAccessPointsOut,
    response_model_by_alias=True,
    responses=problem_responses(401, 403, 429),
    summary="The access points you are or were the customer of (customer login)",
)
async def my_access_points(
    principal: Annotated[Principal, Depends(require_scopes(Scope.own_data))],
    session: ReadSessionDep,
) -> OwnAccessPointsOut:
    """Also those you left: your own days there stay yours to read."""
    points = await own_reads.own_access_points(session, principal)
    return OwnAccessPointsOut(
        items=[
            OwnAccessPointOut(
                ean=point.ean,
                energy_type=point.energy_type.value,
                meter_type=point.meter_type.value,
                tenures=[
                    TenureOut.model_validate({"from": t.start, "to": t.end}) for t in point.tenures
                ],
            )
            for point in points
        ]
    )


@router.get(
    "/api/v1/me/access-points/{ean}/meter-data",
    response_model=MeterDataOut,
    responses=READ_RESPONSES,
    summary="Your own metering data of one access point (customer login)",
)
async def my_meter_data(
    request: Request,
    ean: Annotated[str, Path(max_length=40)],
    principal: Annotated[Principal, Depends(require_scopes(Scope.own_data))],
    session: ReadSessionDep,
    from_: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    to: Annotated[str | None, Query(max_length=40)] = None,
    granularity: Annotated[str, Query(max_length=10)] = "PT15M",
    direction: Annotated[str | None, Query(max_length=20)] = None,
    register: Annotated[str | None, Query(max_length=20)] = None,
    format_: Annotated[str | None, Query(alias="format", max_length=10)] = None,
    accept: Annotated[str | None, Header(max_length=500)] = None,
) -> Response:
    """The shape and parameters of `GET /api/v1/access-points/{ean}/meter-data`, for the
    days you were the customer of the access point: days before you moved in or after you
    left read as gaps. Another customer's EAN answers like an unknown one (404). Your own
    reads do not appear in the access log (that log tells you who *else* read your data)."""
    point = await own_reads.own_access_point(session, principal, ean)
    asked = await _asked(request, session, ean, from_, to, granularity, direction, register)
    media_type = _checked_media_type(request, asked.window, format_, accept)
    return await _answer(
        request, session, asked, own_reads.released(point, asked.window), media_type
    )


class FileExport:
    """The rows of a CSV or XLSX answer, read a Brussels month at a time in a read session
    of their own (the request's session is committed before the body is streamed)."""

    def __init__(
        self,
        request: Request,
        point: ExportedAccessPoint,
        window: ReadWindow,
        release: Release,
        filters: dict[str, Any],
        calendar: TariffCalendar,
    ) -> None:
        self.request, self.point, self.window = request, point, window
        self.release, self.filters, self.calendar = release, filters, calendar

    def _row_chunks(self, session: ReadSession) -> AsyncIterator[list[tuple[str, ...]]]:
        return export_row_chunks(
            session, self.point, self.window, self.release, self.calendar, **self.filters
        )

    def csv_response(self) -> StreamingResponse:
        """The CSV answer, named as Fluvius names its exports (the same bytes on every face
        that serves this selection)."""
        return StreamingResponse(
            self.csv(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": content_disposition(
                    export_file_name(self.point, self.window)
                )
            },
        )

    async def csv(self) -> AsyncIterator[bytes]:
        yield csv_text([], header=True, columns=self.point.columns).encode()
        async with app_state(self.request).database.read_sessions() as session:
            async for rows in self._row_chunks(session):
                yield csv_text(rows, header=False).encode()

    async def xlsx(self) -> AsyncIterator[bytes]:
        spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115  closed below
        try:
            export = XlsxExport(spool, self.point.columns)
            async with app_state(self.request).database.read_sessions() as session:
                async for rows in self._row_chunks(session):
                    export.add_rows(rows)
            await asyncio.to_thread(export.close)
            spool.seek(0)
        except SheetFull:  # several series over a long window: found before answering
            spool.close()
            raise UnprocessableContent(XLSX_TOO_LONG) from None
        except BaseException:
            spool.close()
            raise
        return _file_chunks(spool)


async def _file_chunks(spool: Any) -> AsyncIterator[bytes]:
    try:
        while chunk := spool.read(1 << 16):
            yield chunk
    finally:
        spool.close()
