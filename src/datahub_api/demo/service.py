"""The demo world: the one place where demo data is made, one function per domain.

Deterministic for a given seed; bulk-loaded; writes ``<data dir>/demo-credentials.json``
with every login and API credential a newcomer needs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datahub_api.db import WriteSession
from datahub_api.demo import repository
from datahub_api.demo.models import DemoWorld
from datahub_api.errors import Conflict
from datahub_api.settings import Settings

CREDENTIALS_FILE = "demo-credentials.json"


@dataclass(frozen=True)
class DemoParameters:
    eans: int = 200
    days: int = 365
    seed: int = 42


@dataclass
class DemoWorldBuilder:
    """What the per-domain seed functions share: the random source and the credentials."""

    parameters: DemoParameters
    settings: Settings
    rng: random.Random
    credentials: dict[str, Any] = field(default_factory=dict)


DomainSeeder = Callable[[WriteSession, DemoWorldBuilder], Awaitable[None]]


async def seed_service_record(session: WriteSession, world: DemoWorldBuilder) -> None:
    repository.add_world(
        session,
        DemoWorld(
            seed=world.parameters.seed,
            access_point_count=world.parameters.eans,
            days=world.parameters.days,
        ),
    )
    await session.flush()


def _domain_seeders() -> list[tuple[str, DomainSeeder]]:
    """Each domain adds its seeder here, in dependency order."""
    from datahub_api.organisations.demo_data import seed_organisations_and_clients

    return [
        ("service record", seed_service_record),
        ("organisations, contracts and clients", seed_organisations_and_clients),
    ]


DOMAIN_SEEDERS = _domain_seeders()


def base_credentials(settings: Settings) -> dict[str, Any]:
    return {"base_url": settings.base_url, "docs_url": f"{settings.base_url}/docs"}


async def seed_demo_world(
    session: WriteSession,
    settings: Settings,
    parameters: DemoParameters,
    *,
    replace: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Load the demo world; return the credentials (also written to the data dir)."""
    existing = await repository.latest_world(session)
    if existing is not None and not replace:
        raise Conflict(
            f"the database already holds a demo world (seed {existing.seed}, loaded "
            f"{existing.created_at:%Y-%m-%d %H:%M}); use --replace to load it again"
        )
    if existing is not None:
        await repository.truncate_all(session)
    world = DemoWorldBuilder(
        parameters=parameters,
        settings=settings,
        rng=random.Random(parameters.seed),  # noqa: S311  demo data, not secrets
        credentials=base_credentials(settings),
    )
    for name, seeder in DOMAIN_SEEDERS:
        await seeder(session, world)
        if on_step:
            on_step(name)
    write_credentials(settings.data_dir, world.credentials)
    return world.credentials


async def has_demo_world(session: WriteSession) -> bool:
    return await repository.latest_world(session) is not None


def credentials_path(data_dir: Path) -> Path:
    return data_dir / CREDENTIALS_FILE


def write_credentials(data_dir: Path, credentials: dict[str, Any]) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = credentials_path(data_dir)
    path.write_text(json.dumps(credentials, indent=2) + "\n")
    path.chmod(0o600)
    return path


def read_credentials(data_dir: Path) -> dict[str, Any] | None:
    path = credentials_path(data_dir)
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded
