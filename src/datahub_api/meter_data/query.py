"""The bulk query: up to 200 EANs over one period, answered as NDJSON.

Each EAN is authorised on its own, in the request's transaction (which also takes the
access records), before anything is streamed: an EAN without a mandate gives an error
line that reads exactly like one for an unknown EAN; a period outside the mandate's data
period or a granularity it does not cover gives that data period (or the data services) in
its error line. Days of the data period that are not the consenting customer's are gaps.

The data is streamed after the request's transaction committed. Each EAN is read a
Brussels month at a time (:func:`~datahub_api.meter_data.reads.series_by_month`) in a
short read transaction of its own, and each series is kept only as encoded JSON pieces
until its line is written, so memory holds one EAN's encoded answer at most, however many
EANs and months are asked for. Then one line per series (meter, direction, register) over
the whole period, in the columnar form of :func:`~datahub_api.meter_data.series_json.series_json`;
a series absent in some month has ``null`` buckets there.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from datahub_api.access_points import repository as access_points_repository
from datahub_api.access_points.models import EnergyType
from datahub_api.auth.principal import Principal
from datahub_api.db import Database, ReadSession, WriteSession
from datahub_api.errors import DatahubError, Forbidden, NotFound, UnprocessableContent
from datahub_api.meter_data.channels import BULK
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import Direction, Register
from datahub_api.meter_data.reads import Release, authorize_and_record, series_by_month
from datahub_api.meter_data.series import (
    ReadWindow,
    Series,
    SeriesKey,
    month_chunks,
    parse_bound,
    served_window,
)
from datahub_api.meter_data.series_json import in_units, series_head, state_names

logger = logging.getLogger(__name__)

MAX_EANS = 200
MAX_DAYS = 366  # Brussels days in one query (a leap year)


def query_window(start: str, end: str, granularity: Granularity) -> ReadWindow:
    """The asked window, or a 422: bad bounds, empty, off the granularity's grid, or longer
    than :data:`MAX_DAYS` Brussels days."""
    window = ReadWindow.checked(parse_bound(start, "from"), parse_bound(end, "to"), granularity)
    if (window.end_day - window.first_day).days > MAX_DAYS:
        raise UnprocessableContent(f"A query covers at most {MAX_DAYS} days; split it.")
    return window


@dataclass(frozen=True)
class EanAnswer:
    """What one EAN of the query gets: its data (``error`` None) or an error line."""

    ean: str
    error: DatahubError | None = None
    window: ReadWindow | None = None  # the EAN's own window (gas days for gas)
    released: Release | None = None  # the days whose data the grant releases


async def authorize_eans(
    session: WriteSession, principal: Principal, eans: Sequence[str], window: ReadWindow
) -> list[EanAnswer]:
    """Each EAN (once, in the order asked) authorised on its own, with the access record of
    every EAN that will be read added to the session's transaction. A gas EAN is read in
    gas days (the same answer as any EAN when it may not be read)."""
    answers = []
    unique = list(dict.fromkeys(eans))
    kinds = await access_points_repository.energy_types(session, unique)
    for ean in unique:
        own = window.as_gas() if kinds.get(ean) is EnergyType.gas else window
        try:
            grant = await authorize_and_record(session, principal, ean, own, BULK)
        except (NotFound, Forbidden) as refused:
            answers.append(EanAnswer(ean, refused))
        else:
            answers.append(EanAnswer(ean, window=own, released=Release.of(grant)))
    return answers


# --- lines ---------------------------------------------------------------------------------


def error_line(ean: str, error: DatahubError) -> bytes:
    """An EAN's error, shaped like the problem+json the per-EAN route would answer."""
    problem = {
        "type": f"https://datahub.example/problems/{error.code}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        **error.extra,
    }
    return orjson.dumps({"ean": ean, "error": problem}) + b"\n"


def _pieces(items: Sequence[Any]) -> bytes:
    return orjson.dumps(items)[1:-1]


@dataclass
class _Line:
    """A series being assembled month by month, as encoded JSON pieces."""

    head: dict[str, Any]
    granularity: Granularity
    values: list[bytes] = field(default_factory=list)
    states: list[bytes] = field(default_factory=list)
    incomplete: list[bytes] = field(default_factory=list)
    count: int = 0

    def add(self, series: Series) -> None:
        self.values.append(_pieces(in_units(series.values)))
        self.states.append(_pieces(state_names(series.states)))
        missing = series.incomplete_buckets()
        if missing:
            self.incomplete.append(_pieces([self.count + index for index in missing]))
        self.count += len(series.values)
        self.head["end"] = series.window.end

    def add_nothing(self, chunk: ReadWindow) -> None:
        """A month in which the series has no block: every bucket null (and incomplete)."""
        window = served_window(chunk, self.granularity)
        buckets = window.bucket_count()
        if buckets:
            self.values.append(b",".join([b"null"] * buckets))
            self.states.append(b",".join([b"null"] * buckets))
            self.incomplete.append(_pieces(list(range(self.count, self.count + buckets))))
        self.count += buckets
        self.head["end"] = window.end

    def encoded(self) -> bytes:
        def joined(pieces: list[bytes]) -> bytes:
            return b",".join(piece for piece in pieces if piece)

        return (
            orjson.dumps(self.head)[:-1]
            + b',"values":['
            + joined(self.values)
            + b'],"states":['
            + joined(self.states)
            + b'],"incomplete":['
            + joined(self.incomplete)
            + b"]}\n"
        )


async def _ean_lines(
    session: ReadSession,
    ean: str,
    window: ReadWindow,
    released: Release,
    direction: Direction | None,
    register: Register | None,
) -> list[bytes]:
    chunks = list(month_chunks(window))
    # By key and unit: a gas series (m3) and its energy (kWh) are two lines.
    open_lines: dict[tuple[SeriesKey, int], _Line] = {}
    done: list[_Line] = []
    index = 0
    async for _, month in series_by_month(
        session, released, window, direction=direction, register=register
    ):
        chunk = chunks[index]
        present = set()
        for series in month:
            key = (series.key, int(series.unit))
            line = open_lines.get(key)
            if line is not None and line.granularity is not series.granularity:
                done.append(line)  # stored at another step from here on: a line of its own
                line = open_lines[key] = _Line(series_head(ean, series), series.granularity)
            elif line is None:
                line = open_lines[key] = _Line(series_head(ean, series), series.granularity)
                if index:  # the series starts later than the period: null buckets before
                    line.head["start"] = served_window(chunks[0], series.granularity).start
                    for earlier in chunks[:index]:
                        line.add_nothing(earlier)
            line.add(series)
            present.add(key)
        for key, line in open_lines.items():
            if key not in present:
                line.add_nothing(chunk)
        index += 1
    lines = done + list(open_lines.values())
    lines.sort(key=lambda line: (_sort_key(line), line.head["start"], line.head["unit"] == "kWh"))
    return [line.encoded() for line in lines]


def _sort_key(line: _Line) -> tuple[str, int, int]:
    head = line.head
    return head["meter"], Direction[head["direction"]], Register[head["register"]]


async def ndjson_lines(
    database: Database,
    answers: Sequence[EanAnswer],
    window: ReadWindow,
    *,
    direction: Direction | None = None,
    register: Register | None = None,
) -> AsyncIterator[bytes]:
    """The answer's lines, EAN by EAN in the order asked. Runs after the request's
    transaction: each EAN is read in a short read transaction of its own."""
    try:
        for answer in answers:
            if answer.error is not None:
                yield error_line(answer.ean, answer.error)
                continue
            assert answer.released is not None
            async with database.read_sessions() as session:
                lines = await _ean_lines(
                    session,
                    answer.ean,
                    answer.window or window,
                    answer.released,
                    direction,
                    register,
                )
            for line in lines:
                yield line
    except Exception:
        # The status line went out long ago: say so in the body, then stop.
        logger.exception("the meter-data query broke off")
        yield (
            orjson.dumps(
                {
                    "error": {
                        "type": "https://datahub.example/problems/internal-error",
                        "title": "Internal error",
                        "status": 500,
                        "detail": "The answer broke off here; ask again for the EANs not answered.",
                    }
                }
            )
            + b"\n"
        )
