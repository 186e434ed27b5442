"""``datahub-api openapi``: the committed OpenAPI spec, written or checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from datahub_api.cli.support import (
    console,
    fail,
)
from datahub_api.settings import Settings

DEFAULT_OPENAPI_FILE = Path("openapi/openapi.json")


def openapi_document() -> str:
    """The OpenAPI spec as committed: the same whatever the settings (sandbox routes included)."""
    from datahub_api.app import create_app

    app = create_app(Settings.model_construct(sandbox=True))
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"


def openapi(
    out: Annotated[Path, typer.Option(help="Where to write the spec.")] = DEFAULT_OPENAPI_FILE,
    check: Annotated[bool, typer.Option(help="Only check that the file is current.")] = False,
) -> None:
    """Write the OpenAPI spec (or, with --check, fail when the committed one is stale)."""
    document = openapi_document()
    if check:
        if not out.exists() or out.read_text() != document:
            fail(f"{out} is stale; run `datahub-api openapi` and commit the result")
        console.print(f"{out} is current")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(document)
    console.print(f"wrote {out}")
