"""The demo world: the one place where demo data is made, one function per domain.

Deterministic for a given seed; bulk-loaded; writes ``<data dir>/demo-credentials.json``
with every login and API credential a newcomer needs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.ean import make_ean
from datahub_api.access_points.models import EnergyType, Metering, MeterType, SubHeadpointType
from datahub_api.access_points.schemas import AccessPointBody
from datahub_api.access_points.service import AccessPointRow
from datahub_api.accounts import repository as accounts_repository
from datahub_api.accounts.models import AccountRole
from datahub_api.accounts.passwords import hash_password
from datahub_api.brussels_days import today_in_brussels
from datahub_api.db import WriteSession
from datahub_api.demo import repository
from datahub_api.demo.models import DemoWorld
from datahub_api.demo.world import DemoParameters as DemoParameters
from datahub_api.demo.world import DemoWorldBuilder, DomainSeeder
from datahub_api.errors import Conflict
from datahub_api.gas_calorific.demo_data import seed_calorific_values
from datahub_api.mandates.demo_data import seed_mandates
from datahub_api.meter_data.demo_data import seed_featured_reads, seed_meter_data
from datahub_api.nps.demo_data import seed_nps
from datahub_api.organisations.demo_data import seed_organisations_and_clients
from datahub_api.settings import Settings
from datahub_api.sla.demo_data import seed_sla

CREDENTIALS_FILE = "demo-credentials.json"


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


CUSTOMER_PASSWORD = "demo-customer"
LANDLORD_PASSWORD = "demo-landlord"
_FIRST_NAMES = (
    "An", "Bart", "Els", "Jan", "Lotte", "Pieter", "Sofie", "Tom", "Wim", "Hanne",
    "Lien", "Koen", "Nele", "Stijn", "Ruben", "Emma", "Lucas", "Noor", "Arne", "Fien",
)  # fmt: skip
_LAST_NAMES = (
    "Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens",
    "Wouters", "De Smet", "Dubois", "Lambrechts", "Hermans", "Aerts", "Michiels", "Smets",
    "Vermeulen", "Pauwels", "Van den Broeck", "Desmet",
)  # fmt: skip


@dataclass
class _DemoAccount:
    username: str
    name: str
    role: AccountRole
    password: str
    eans: list[str] = field(default_factory=list)
    grid_user_of_own: bool = True


@dataclass
class _DemoAccessPoint:
    ean: str
    energy_type: EnergyType
    customer: _DemoAccount
    grid_user: _DemoAccount
    since: date
    meter_type: MeterType = MeterType.digital
    metering: Metering = Metering.on_meter
    gvm: bool = False
    meters: list[dict[str, Any]] = field(default_factory=list)
    communication: list[tuple[date, date | None]] = field(default_factory=list)
    sub_headpoints: list[dict[str, Any]] = field(default_factory=list)
    # A former occupant who was customer and grid user until ``moved_on``.
    former: _DemoAccount | None = None
    moved_on: date | None = None
    installation: dict[str, Any] | None = None

    def communicating_on(self, day: date) -> bool:
        return self.meter_type is MeterType.digital and any(
            start <= day and (end is None or day < end) for start, end in self.communication
        )

    def meter_ids_on(self, day: date) -> list[str]:
        return [
            meter["meter_id"]
            for meter in self.meters
            if meter["installed_from"] <= day
            and (meter.get("installed_to") is None or day < meter["installed_to"])
        ]

    def body(self, ids: dict[str, int]) -> dict[str, Any]:
        if self.former is not None and self.moved_on is not None:
            former = {
                "account_id": ids[self.former.username],
                "valid_from": self.since,
                "valid_to": self.moved_on,
            }
            grid_users = [
                former,
                {"account_id": ids[self.grid_user.username], "valid_from": self.moved_on},
            ]
            customers = [
                former,
                {"account_id": ids[self.customer.username], "valid_from": self.moved_on},
            ]
        else:
            grid_users = [{"account_id": ids[self.grid_user.username], "valid_from": self.since}]
            customers = [{"account_id": ids[self.customer.username], "valid_from": self.since}]
        return {
            "ean": self.ean,
            "energy_type": self.energy_type,
            "meter_type": self.meter_type,
            "metering": self.metering,
            "gvm": self.gvm,
            "physical_meters": self.meters,
            "sub_headpoints": self.sub_headpoints,
            "communication_periods": [
                {"valid_from": start, "valid_to": end} for start, end in self.communication
            ],
            "grid_users": grid_users,
            "customers": customers,
            "installation": self.installation,
        }


class _AccessPointWorld:
    """Plans the demo access points and their accounts from the world's random source."""

    def __init__(self, world: DemoWorldBuilder, today: date) -> None:
        self.rng = world.rng
        self.today = today
        self.accounts: list[_DemoAccount] = []
        self.landlords: list[_DemoAccount] = []
        self.planned = 0  # access points planned so far
        self.serial = 1_000_000

    def next_ean(self) -> str:
        self.serial += self.rng.randint(1, 97)
        return make_ean(self.serial)

    def person(self, role: AccountRole = AccountRole.customer) -> _DemoAccount:
        first, last = self.rng.choice(_FIRST_NAMES), self.rng.choice(_LAST_NAMES)
        slug = last.lower().replace(" ", "")
        account = _DemoAccount(
            username=f"{first.lower()}.{slug}.{len(self.accounts) + 1}",
            name=f"{first} {last}",
            role=role,
            password=CUSTOMER_PASSWORD,
        )
        self.accounts.append(account)
        return account

    def landlord(self) -> _DemoAccount:
        if not self.landlords or self.rng.random() < 0.35:
            last = self.rng.choice(_LAST_NAMES)
            account = _DemoAccount(
                username=f"landlord.{len(self.landlords) + 1}",
                name=f"Immo {last} BV",
                role=AccountRole.grid_user,
                password=LANDLORD_PASSWORD,
            )
            self.accounts.append(account)
            self.landlords.append(account)
            return account
        return self.rng.choice(self.landlords)

    def days_ago(self, low: int, high: int) -> date:
        return self.today - timedelta(days=self.rng.randint(low, high))

    def plan(self, count: int, batch: int) -> Iterator[list[_DemoAccessPoint]]:
        """The ``count`` access points, ``batch`` (or one more) at a time, in EAN order. The
        draws are those of planning them all at once, provided nothing else draws from the
        world's random source between batches."""
        points: list[_DemoAccessPoint] = []
        while self.planned < count:
            customer = self.person()
            tenant = self.rng.random() < 0.12
            grid_user = self.landlord() if tenant else customer
            customer.grid_user_of_own = not tenant
            kinds = [EnergyType.electricity]
            if self.rng.random() < 0.176 and self.planned + 1 < count:
                kinds.append(EnergyType.gas)
            for energy_type in kinds:
                points.append(self.access_point(energy_type, customer, grid_user))
                self.planned += 1
                customer.eans.append(points[-1].ean)
                if grid_user is not customer:
                    grid_user.eans.append(points[-1].ean)
            if len(points) >= batch:
                yield points
                points = []
        if points:
            yield points

    def access_point(
        self, energy_type: EnergyType, customer: _DemoAccount, grid_user: _DemoAccount
    ) -> _DemoAccessPoint:
        rng = self.rng
        since = self.days_ago(2 * 366, 10 * 365)
        point = _DemoAccessPoint(self.next_ean(), energy_type, customer, grid_user, since)
        if energy_type is EnergyType.electricity and rng.random() < 0.03:
            point.gvm, point.meter_type = True, MeterType.other
            point.metering = rng.choice([Metering.on_headpoint, Metering.on_headpoint_and_meter])
            point.meters = [self.meter("1", f"AMR{rng.randrange(10**8):08d}", since)]
            if rng.random() < 0.5:
                point.sub_headpoints = [
                    {
                        "type": SubHeadpointType.production,
                        "seq_number": "2",
                        "ean": self.next_ean(),
                        "installation_type": "PV",
                        "vreg_id": f"G{rng.randrange(10**8):08d}",
                    }
                ]
        elif rng.random() < (0.8 if energy_type is EnergyType.electricity else 0.7):
            self.digital_meter(point)
        else:
            point.meter_type = MeterType.other
            point.meters = [self.meter("1", f"KM{rng.randrange(10**9):09d}", since)]
        if rng.random() < 0.04:
            point.moved_on = self.days_ago(30, 330)
            point.former = self.person()
        return point

    def meter(
        self, seq: str, meter_id: str, start: date, end: date | None = None
    ) -> dict[str, Any]:
        return {
            "seq_number": seq,
            "meter_id": meter_id,
            "installed_from": start,
            "installed_to": end,
        }

    def digital_meter(self, point: _DemoAccessPoint) -> None:
        rng = self.rng
        prefix = "1SAG" if point.energy_type is EnergyType.electricity else "3KFM"
        digital_id = f"{prefix}{rng.randrange(10**10):010d}"
        installed = point.since
        if rng.random() < 0.3:  # an older meter was exchanged for a digital one
            installed = point.since + (self.today - point.since) * rng.randint(20, 60) // 100
            old_id = f"KM{rng.randrange(10**9):09d}"
            point.meters.append(self.meter("1", old_id, point.since, installed))
        point.meters.append(self.meter("1", digital_id, installed))
        chance = rng.random()
        if chance < 0.85:  # communicates
            point.communication = [(installed, None)]
        elif chance < 0.93:  # stopped for a while in the last year, then resumed
            stopped = self.days_ago(40, 300)
            point.communication = [
                (installed, stopped),
                (stopped + timedelta(days=rng.randint(5, 30)), None),
            ]
        elif chance < 0.97:  # stopped communicating and has not resumed
            point.communication = [(installed, self.days_ago(20, 200))]
        # else: never communicated

    def feature(self, points: list[_DemoAccessPoint]) -> _DemoAccessPoint | None:
        """The customer the welcome names: the first one among ``points`` who is also the
        grid user of their home, whose electricity access point is made a communicating
        digital meter (with data, consents and reads to show) whatever the draw gave it. No
        random draw here: the rest of the world stays as the seed made it."""
        for point in points:
            owner = point.customer
            if point.energy_type is EnergyType.electricity and owner.grid_user_of_own:
                point.meter_type, point.metering, point.gvm = (
                    MeterType.digital,
                    Metering.on_meter,
                    False,
                )
                point.sub_headpoints, point.former, point.moved_on = [], None, None
                point.meters = [self.meter("1", "1SAG1100000001", point.since)]
                point.communication = [(point.since, None)]
                return point
        return None


def _demo_installation(rng: random.Random, point: _DemoAccessPoint, today: date) -> dict[str, Any]:
    """Installation facts (data service ``IG``) of a demo access point: solar panels on about
    a third of the homes, some with a home battery, dynamic contracts (SMR3) on digital
    meters, and estimated annual volumes of the last and the current year per register."""
    productions: list[dict[str, Any]] = []
    electricity = point.energy_type is EnergyType.electricity
    for sub in point.sub_headpoints:  # a GVM's metered production
        productions.append(
            {
                "vreg_id": sub["vreg_id"],
                "type": sub["installation_type"],
                "converter_power": round(rng.uniform(40, 400), 3),
                "converter_power_unit": "kVA",
                "inspection_date": point.since + timedelta(days=rng.randint(10, 200)),
            }
        )
    solar = electricity and not point.gvm and rng.random() < 0.35
    if solar:
        inspected = point.since + (today - point.since) * rng.randint(5, 90) // 100
        productions.append(
            {
                "vreg_id": f"G{rng.randrange(10**8):08d}",
                "type": "PV",
                "converter_power": round(rng.uniform(2.5, 10), 3),
                "converter_power_unit": "kVA",
                "inspection_date": inspected,
            }
        )
        if rng.random() < 0.3:
            productions.append(
                {
                    "vreg_id": f"B{rng.randrange(10**8):08d}",
                    "type": "BAT",
                    "converter_power": float(rng.choice([3, 5, 6, 8, 10])),
                    "converter_power_unit": "kW",
                    "inspection_date": min(today, inspected + timedelta(days=rng.randint(0, 400))),
                }
            )
    elif electricity and not point.gvm and rng.random() < 0.04:
        productions.append({"type": "PPPV", "converter_power": 0.8, "converter_power_unit": "kW"})
    digital = point.meter_type is MeterType.digital
    volumes: list[dict[str, Any]] = []
    for year in (today.year - 1, today.year):
        period = {"period_from": date(year, 1, 1), "period_to": date(year + 1, 1, 1)}
        if not electricity:
            volumes.append(
                {"calculated_register": "offtake_total_hours", "value": rng.randint(6000, 22000)}
                | period
            )
            continue
        if digital:
            volumes.append(
                {"calculated_register": "offtake_high", "value": rng.randint(900, 2600)} | period
            )
            volumes.append(
                {"calculated_register": "offtake_low", "value": rng.randint(800, 2200)} | period
            )
        else:
            volumes.append(
                {"calculated_register": "offtake_total_hours", "value": rng.randint(1800, 4800)}
                | period
            )
        if solar:
            volumes.append(
                {"calculated_register": "injection_total_hours", "value": rng.randint(1500, 6500)}
                | period
            )
    return {
        "smr3": electricity and digital and rng.random() < 0.15,
        "local_production_installations": productions,
        "estimated_annual_volumes": [{**volume, "unit": "kWh"} for volume in volumes],
    }


STORE_BATCH = 5_000  # access points validated and stored at a time


async def seed_access_points(session: WriteSession, world: DemoWorldBuilder) -> None:
    """Demo access points (EANs) with meters, communication and parties, and the customer,
    landlord and former-occupant accounts they need: planned, given their accounts and
    stored :data:`STORE_BATCH` at a time, so the builder's memory does not grow with the
    world beyond the credentials (issue 19); the world is the one planning them all at once
    gave."""
    today = today_in_brussels()
    plan = _AccessPointWorld(world, today)
    # A random source of their own, so the rest of the world stays as it was for a seed.
    facts_rng = random.Random(f"installation-{world.parameters.seed}")  # noqa: S311  demo data
    hashes = {
        CUSTOMER_PASSWORD: hash_password(CUSTOMER_PASSWORD),
        LANDLORD_PASSWORD: hash_password(LANDLORD_PASSWORD),
    }
    id_of: dict[str, int] = {}
    stored_accounts = 0
    featured: _DemoAccessPoint | None = None
    listed: list[dict[str, Any]] = []
    line = 0
    for batch in plan.plan(world.parameters.eans, STORE_BATCH):
        if featured is None:
            featured = plan.feature(batch)
        for point in batch:
            point.installation = _demo_installation(facts_rng, point, today)
        new = plan.accounts[stored_accounts:]
        stored_accounts = len(plan.accounts)
        ids = await accounts_repository.add_accounts(
            session,
            accounts_repository.NewAccounts(
                username=[a.username for a in new],
                password_hash=[hashes[a.password] for a in new],
                display_name=[a.name for a in new],
                email=[f"{a.username}@example.invalid" for a in new],
                role=[a.role.value for a in new],
            ),
        )
        id_of.update(
            (account.username, account_id) for account, account_id in zip(new, ids, strict=True)
        )
        rows = [
            AccessPointRow(number, AccessPointBody.model_validate(point.body(id_of)))
            for number, point in enumerate(batch, start=line + 1)
        ]
        line += len(batch)
        await access_points_service.store_access_points(session, rows)
        listed.extend(_listed(point, today) for point in batch)
    current = [a for a in plan.accounts if a.role is AccountRole.customer and a.eans]
    world.credentials["customers"] = [
        {
            "name": a.name,
            "username": a.username,
            "password": a.password,
            "is_grid_user": a.grid_user_of_own,
            "eans": a.eans,
        }
        for a in current
    ]
    if featured is not None:
        world.credentials["featured_customer"] = {
            "name": featured.customer.name,
            "username": featured.customer.username,
            "password": featured.customer.password,
            "ean": featured.ean,
        }
    world.credentials["landlords"] = [
        {"name": a.name, "username": a.username, "password": a.password, "eans": a.eans}
        for a in plan.landlords
    ]
    world.credentials["access_points"] = listed


def _listed(p: _DemoAccessPoint, today: date) -> dict[str, Any]:
    """An access point's entry in the demo credentials."""
    return {
        "ean": p.ean,
        "energy_type": p.energy_type.value,
        "meter_type": p.meter_type.value,
        "communicating": p.communicating_on(today),
        "gvm": p.gvm,
        "meter_ids": p.meter_ids_on(today),
        "customer": p.customer.username,
        "grid_user": p.grid_user.username,
        "local_production": [
            production["type"]
            for production in (p.installation or {}).get("local_production_installations", [])
        ],
        "smr3": bool((p.installation or {}).get("smr3")),
    }


# Each domain adds its seeder here, in dependency order.
DOMAIN_SEEDERS: list[tuple[str, DomainSeeder]] = [
    ("service record", seed_service_record),
    ("organisations, contracts and clients", seed_organisations_and_clients),
    ("access points", seed_access_points),
    ("consent sessions and mandates", seed_mandates),
    ("gas calorific values", seed_calorific_values),
    ("meter data", seed_meter_data),
    ("the featured customer's reads", seed_featured_reads),
    ("NPS lists and audits", seed_nps),
    ("SLA roll-ups", seed_sla),
]


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
    # Written as it is encoded: json.dumps with indent holds every piece of the text at
    # once, about 2 KB per access point (200 MB for a demo of 100,000).
    with path.open("w") as out:
        json.dump(credentials, out, indent=2)
        out.write("\n")
    path.chmod(0o600)
    return path


def read_credentials(data_dir: Path) -> dict[str, Any] | None:
    path = credentials_path(data_dir)
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded
