"""Every face an ESP reads metering data through, asked about one EAN and one Brussels day at
a time: how many values of that day each answers, or that it refused (``None``).

Per-day faces (native JSON and CSV, ``/v3`` readTime, the bulk query, the portal's chart and
CSV) answer for the day asked; feeds (the change feed, ``/v3`` insertTime, NPS daily files,
history exports) hand out whatever is new, so they are read whole and counted per day (a
feed never refuses: what it may not hand out is simply not there, ``0``)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import orjson

from datahub_api.brussels_days import brussels_date, day_start

Seen = int | None  # values of the day, or None: refused


def z(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _next(day: date) -> date:
    return day + timedelta(days=1)


@dataclass
class Faces:
    client: httpx.AsyncClient
    headers: dict[str, str]  # the ESP's bearer token
    portal: httpx.AsyncClient  # a browser logged in as the ESP's staff

    # --- per day ---------------------------------------------------------------------

    async def native(self, ean: str, day: date) -> Seen:
        answer = await self.client.get(
            f"/api/v1/access-points/{ean}/meter-data",
            params={"from": day.isoformat(), "to": _next(day).isoformat(), "format": "json"},
            headers=self.headers,
        )
        if answer.status_code != 200:
            return None
        return sum(
            1
            for series in answer.json()["series"]
            for value in series["values"]
            if value is not None
        )

    async def native_csv(self, ean: str, day: date) -> Seen:
        answer = await self.client.get(
            f"/api/v1/access-points/{ean}/meter-data",
            params={"from": day.isoformat(), "to": _next(day).isoformat(), "format": "csv"},
            headers=self.headers,
        )
        return _csv_values(answer)

    async def v3_read(self, ean: str, day: date) -> Seen:
        answer = await self.client.get(
            "/v3/api/mandate/energy",
            params={
                "ean": ean,
                "periodType": "readTime",
                "granularity": "hourly_quarterhourly",
                "from": z(day_start(day)),
                "to": z(day_start(_next(day))),
            },
            headers=self.headers,
        )
        if answer.status_code != 200:
            return None
        return sum(v3_values_by_day(answer.json()).values())

    async def bulk(self, ean: str, day: date) -> Seen:
        answer = await self.client.post(
            "/api/v1/meter-data/query",
            json={
                "eans": [ean],
                "from": day.isoformat(),
                "to": _next(day).isoformat(),
                "granularity": "PT15M",
            },
            headers=self.headers,
        )
        assert answer.status_code == 200, answer.text
        lines = [orjson.loads(line) for line in answer.content.splitlines()]
        if any("error" in line for line in lines):
            return None
        return sum(1 for line in lines for value in line["values"] if value is not None)

    async def portal_chart(self, ean: str, day: date) -> Seen:
        answer = await self.portal.get(
            f"/portal/esp/access-points/{ean}", params={"span": "day", "date": day.isoformat()}
        )
        if answer.status_code != 200:
            return None
        # One table row per bucket; a gap's row is marked.
        return answer.text.count('<tr class="">')

    async def portal_csv(self, ean: str, day: date) -> Seen:
        answer = await self.portal.get(
            f"/portal/esp/access-points/{ean}/csv", params={"span": "day", "date": day.isoformat()}
        )
        return _csv_values(answer)

    async def every_day_face(self, ean: str, day: date) -> dict[str, Seen]:
        return {
            "native": await self.native(ean, day),
            "native_csv": await self.native_csv(ean, day),
            "v3_read": await self.v3_read(ean, day),
            "bulk": await self.bulk(ean, day),
            "portal_chart": await self.portal_chart(ean, day),
            "portal_csv": await self.portal_csv(ean, day),
        }

    # --- feeds -----------------------------------------------------------------------

    async def changes(self, ean: str) -> dict[date, int]:
        """The whole change feed from its beginning, values per day of ``ean``."""
        found: dict[date, int] = {}
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if cursor:
                params["after"] = cursor
            answer = await self.client.get(
                "/api/v1/meter-data/changes", params=params, headers=self.headers
            )
            assert answer.status_code == 200, answer.text
            page = answer.json()
            for item in page["items"]:
                if item["ean"] == ean and item["granularity"] == "PT15M":
                    day = date.fromisoformat(item["day"])
                    found[day] = found.get(day, 0) + sum(v is not None for v in item["values"])
            cursor = page["next_cursor"]
            if not page["has_more"]:
                return found

    async def v3_inserted(self, ean: str, since: datetime) -> dict[date, int] | None:
        """``/v3`` insertTime since ``since``: values per day, or None when refused."""
        answer = await self.client.get(
            "/v3/api/mandate/energy",
            params={
                "ean": ean,
                "periodType": "insertTime",
                "granularity": "hourly_quarterhourly",
                "from": z(since),
                "to": z(datetime.now(UTC) + timedelta(minutes=1)),
            },
            headers=self.headers,
        )
        if answer.status_code != 200:
            return None
        return v3_values_by_day(answer.json())


def _csv_values(answer: httpx.Response) -> Seen:
    if answer.status_code != 200 or not answer.headers["content-type"].startswith("text/csv"):
        return None
    rows = list(csv.reader(io.StringIO(answer.text.lstrip("\ufeff")), delimiter=";"))
    return sum(1 for row in rows[1:] if row[8])


def v3_values_by_day(body: dict[str, Any]) -> dict[date, int]:
    """Non-null values of a ``/v3`` energy body per Brussels day of their slot."""
    headpoint = body["data"]["headpoint"]
    entities = [*headpoint.get("physicalMeters", []), headpoint]
    found: dict[date, int] = {}
    for entity in entities:
        for field in ("quarterHourlyEnergy", "hourlyEnergy", "dailyEnergy"):
            for time_slice in entity.get(field, []):
                values = [
                    cell.get("value")
                    for measurement in time_slice["measurements"]
                    for registers in measurement.values()
                    for cell in registers.values()
                ]
                if any(value is not None for value in values):
                    day = brussels_date(datetime.fromisoformat(time_slice["start"]))
                    found[day] = found.get(day, 0) + 1
    return found


def csv_values_by_day(text: str, ean: str) -> dict[date, int]:
    """Rows with a volume per day (``Van (datum)``, dd-mm-yyyy) of a Fluvius-layout CSV."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    found: dict[date, int] = {}
    for row in rows[1:]:
        if row[4].strip('="') == ean and row[8]:
            day = datetime.strptime(row[0], "%d-%m-%Y").date()
            found[day] = found.get(day, 0) + 1
    return found


def files_of(content: bytes, name: str) -> dict[str, str]:
    """The text of each file of a downloaded export (one CSV, or a ZIP of them)."""
    if name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return {member: archive.read(member).decode("utf-8") for member in archive.namelist()}
    return {name: content.decode("utf-8")}


def only(days: Iterable[date], counts: dict[date, int]) -> dict[date, int]:
    """``counts`` of ``days`` (0 where absent)."""
    return {day: counts.get(day, 0) for day in days}
