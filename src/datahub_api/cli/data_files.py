"""The commands that load files: ``access-points import`` (the registry) and ``ingest``
(meter readings)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from datahub_api.cli.support import (
    MAX_LISTED_PROBLEMS,
    clear_errors,
    console,
    ensure_migrated,
    fail,
    file_read_whole,
    load_settings,
    open_database,
    step_progress,
)
from datahub_api.db import create_database
from datahub_api.settings import Settings

if TYPE_CHECKING:
    from datahub_api.access_points.files import UploadFormat
    from datahub_api.access_points.service import AccessPointRow, RowProblem, StoreOutcome


access_points_cli = typer.Typer(
    help="The access-point registry.", no_args_is_help=True, add_completion=False
)


def _upload_format(path: Path, given: str | None) -> UploadFormat:
    from datahub_api.access_points.files import UploadFormat

    if given:
        return UploadFormat(given)
    suffix = path.suffix.lower()
    if suffix in {".ndjson", ".jsonl"}:
        return UploadFormat.ndjson
    if suffix == ".csv":
        return UploadFormat.csv
    fail(f"{path}: cannot tell the format from {suffix or 'no extension'!r}; use --format", 2)


def _print_problems(path: Path, problems: list[RowProblem], count: int) -> NoReturn:
    for problem in problems[:MAX_LISTED_PROBLEMS]:
        console.print(f"{path}:{problem.line}: {problem.detail}", highlight=False, markup=False)
    more = count - min(len(problems), MAX_LISTED_PROBLEMS)
    if more > 0:
        console.print(f"... and {more} more", highlight=False)
    fail(f"{count} access point(s) in {path} cannot be stored; nothing was stored")


@access_points_cli.command("import")
def import_access_points(
    file: Annotated[Path, typer.Argument(help="NDJSON (.ndjson/.jsonl) or CSV (.csv) file.")],
    file_format: Annotated[
        str | None,
        typer.Option("--format", help="ndjson or csv; default from the file's extension."),
    ] = None,
) -> None:
    """Create or replace the access points of a file, all or nothing.

    Same rules and CSV layout as POST /api/v1/access-points:bulk; one transaction per file.
    """
    from datahub_api.access_points import service
    from datahub_api.access_points.files import read_upload

    if file_format not in {None, "ndjson", "csv"}:
        fail(f"--format must be ndjson or csv, not {file_format!r}", 2)
    if not file.is_file():
        fail(f"{file}: no such file", 2)
    upload_format = _upload_format(file, file_format)
    settings = load_settings()
    with clear_errors():
        url, embedded = open_database(settings)
        try:
            ensure_migrated(url, settings)
            with step_progress("import") as progress:
                checking = progress.add_task(f"reading {file.name}", total=file.stat().st_size)

                def lines() -> Iterator[str]:
                    with file.open(encoding="utf-8-sig", newline="") as handle:
                        for line in handle:
                            progress.advance(checking, len(line.encode()))
                            yield line

                try:
                    with file_read_whole():
                        upload = read_upload(lines(), upload_format)
                except UnicodeDecodeError as exc:
                    fail(f"{file}: not UTF-8 text ({exc.reason})")
                if upload.problem_count:
                    progress.stop()
                    _print_problems(file, upload.problems, upload.problem_count)
                if not upload.rows:
                    fail(f"{file} holds no access points")
                storing = progress.add_task("storing", total=len(upload.rows))
                outcome = asyncio.run(
                    _store_access_points(
                        url, settings, upload.rows, lambda n: progress.advance(storing, n)
                    )
                )
        except service.BulkRejected as rejected:
            _print_problems(file, rejected.problems, len(rejected.problems))
        finally:
            if embedded is not None:
                embedded.release()
    console.print(
        f"imported {len(upload.rows)} access points from {file}: {len(outcome.created)} "
        f"created, {len(outcome.updated)} updated, {len(outcome.unchanged)} unchanged",
        highlight=False,
    )


async def _store_access_points(
    url: str, settings: Settings, rows: list[AccessPointRow], on_progress: Callable[[int], None]
) -> StoreOutcome:
    from datahub_api.access_points import service

    database = create_database(url, settings)
    try:
        async with database.write_sessions() as session:
            outcome = await service.store_access_points(session, rows, on_progress=on_progress)
            await session.commit()
            return outcome
    finally:
        await database.dispose()


def ingest_readings(
    files: Annotated[
        list[Path],
        typer.Argument(help="CSV (.csv) or NDJSON (.ndjson/.jsonl) reading files, or .gz of them."),
    ],
    chunk_rows: Annotated[
        int, typer.Option(min=1, help="Readings per transaction (all or nothing per chunk).")
    ] = 1_000_000,
) -> None:
    """Store meter readings from head-end files, streamed (files of any size).

    Same layout and rules as POST /api/v1/ingest/meter-readings. Each chunk of --chunk-rows
    readings is stored all or nothing in its own transaction; at the first refused chunk the
    command stops (earlier chunks stay stored; re-ingesting the fixed file is harmless, as
    identical readings change nothing)."""
    from datahub_api.meter_data.files import input_format_of

    formats = {}
    for file in files:
        if not file.is_file():
            fail(f"{file}: no such file", 2)
        found = input_format_of(file)
        if found is None:
            fail(f"{file}: name it .csv, .ndjson or .jsonl (optionally .gz)", 2)
        formats[file] = found
    settings = load_settings()
    with clear_errors():
        url, embedded = open_database(settings)
        try:
            ensure_migrated(url, settings)
            asyncio.run(_ingest_files(url, settings, formats, chunk_rows))
        finally:
            if embedded is not None:
                embedded.release()


async def _ingest_files(
    url: str, settings: Settings, files: dict[Path, Any], chunk_rows: int
) -> None:
    import time

    from datahub_api.meter_data.files import ChunkRejected, ingest_file

    database = create_database(url, settings)
    try:
        for file, input_format in files.items():
            started = time.monotonic()
            with step_progress("ingest") as progress:
                task = progress.add_task(f"reading {file.name}", total=file.stat().st_size)
                try:
                    totals = await ingest_file(
                        database,
                        file,
                        input_format,
                        settings=settings,
                        chunk_rows=chunk_rows,
                        on_bytes=functools.partial(progress.advance, task),
                    )
                except ChunkRejected as rejected:
                    progress.stop()
                    for problem in rejected.problems[:MAX_LISTED_PROBLEMS]:
                        console.print(
                            f"{file}:{problem.line}: {problem.detail}",
                            highlight=False,
                            markup=False,
                        )
                    more = rejected.total - min(len(rejected.problems), MAX_LISTED_PROBLEMS)
                    if more > 0:
                        console.print(f"... and {more} more", highlight=False)
                    fail(
                        f"{rejected.total} problem(s) in {file} from line {rejected.first_line}: "
                        f"nothing of that chunk was stored; {rejected.stored.rows} readings "
                        "before it were"
                    )
            if totals.rows == 0:
                fail(f"{file} holds no readings")
            seconds = max(time.monotonic() - started, 1e-6)
            console.print(
                f"ingested {totals.rows} readings from {file} in {totals.chunks} chunk(s), "
                f"{seconds:.1f} s ({totals.rows / seconds:,.0f}/s): day blocks "
                f"{totals.blocks_created} created, {totals.blocks_filled} filled, "
                f"{totals.blocks_corrected} corrected, {totals.blocks_unchanged} unchanged",
                highlight=False,
            )
    finally:
        await database.dispose()
