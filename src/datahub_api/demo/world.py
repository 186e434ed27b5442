"""What the per-domain demo seeders share: the parameters of a demo world and the builder
they fill in turn (``demo.service`` runs them in order)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from datahub_api.db import WriteSession
from datahub_api.settings import Settings


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
