"""Demo mandates, made through the real consent flow: consent sessions that customers
answer, co-consent that landlords give, refuse or leave pending, revocations, renewals and
expiry, for both demo ESPs; plus one open consent session per ESP for a newcomer to try."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from datahub_api.accounts import repository as accounts_repository
from datahub_api.accounts.models import Account
from datahub_api.auth.principal import ESP_SCOPES, Principal, Role
from datahub_api.db import WriteSession
from datahub_api.demo.world import DemoWorldBuilder
from datahub_api.mandates import service
from datahub_api.mandates.models import DataServiceType, Flow, Mandate
from datahub_api.organisations import repository as organisations_repository

RULES = service.ConsentRules(session_lifetime=timedelta(days=7), co_consent_days=14)


def _esp(organisation_id: int, name: str) -> Principal:
    return Principal(
        subject=f"demo:{name}", role=Role.esp, scopes=ESP_SCOPES, organisation_id=organisation_id
    )


async def _account(session: WriteSession, username: str) -> Account:
    account = await accounts_repository.get_by_username(session, username)
    assert account is not None, username
    return account


async def _consent(
    session: WriteSession,
    esp: Principal,
    contract_number: str,
    reference: str,
    customer: Account,
    eans: list[str],
    *,
    period: tuple[datetime, datetime],
    service_type: DataServiceType = DataServiceType.quarter_hourly,
    approve: bool = True,
) -> list[Mandate]:
    consent = await service.open_consent_session(
        session,
        esp,
        service.ConsentSessionRequest(
            contract_number=contract_number,
            reference_number=reference,
            flow=Flow.b2c,
            data_services=[service.DataServiceRequest(service_type, period[0], period[1])],
            number_of_eans=len(eans),
            return_url_success=None,
            return_url_failed=None,
            enterprise_number=None,
        ),
        RULES,
    )
    decision = await service.decide_consent_session(
        session, customer, consent.short_url_identifier, approve=approve, eans=eans, rules=RULES
    )
    return decision.mandates


def _tally(summary: dict[str, int], kind: str, made: list[Mandate]) -> None:
    summary[kind] = summary.get(kind, 0) + len(made)


async def seed_mandates(session: WriteSession, world: DemoWorldBuilder) -> None:
    credentials = world.credentials
    rng = world.rng
    now = datetime.now(UTC)
    points = {p["ean"]: p for p in credentials.get("access_points", [])}
    customers = [
        c
        for c in credentials.get("customers", [])
        if any(points[e]["meter_type"] == "DM" for e in c["eans"])
    ]
    owners = [c for c in customers if c["is_grid_user"]]
    tenants = [c for c in customers if not c["is_grid_user"]]
    long_period = (now - timedelta(days=400), now + timedelta(days=730))
    for index, esp_credentials in enumerate(credentials.get("esps", [])):
        organisation = await organisations_repository.get_by_enterprise_number(
            session, esp_credentials["enterprise_number"]
        )
        assert organisation is not None
        esp = _esp(organisation.id, esp_credentials["name"])
        contract = esp_credentials["contract_number"]
        mine = owners[index::2]
        summary: dict[str, int] = {}
        for number, owner in enumerate(mine[:40]):
            customer = await _account(session, owner["username"])
            eans = [e for e in owner["eans"] if points[e]["meter_type"] == "DM"][:2]
            made = await _consent(
                session,
                esp,
                contract,
                f"{esp_credentials['name'][-1]}-{number:04d}",
                customer,
                eans,
                period=long_period,
                service_type=DataServiceType.quarter_hourly
                if number % 4
                else DataServiceType.daily,
            )
            _tally(summary, "approved", made)
        # Installation data (IG) of homes with solar panels, a battery or a dynamic contract.
        for number, owner in enumerate(mine[:40]):
            eans = [
                e
                for e in owner["eans"]
                if points[e]["meter_type"] == "DM"
                and (points[e].get("local_production") or points[e].get("smr3"))
            ][:1]
            if not eans or summary.get("installation data (IG)", 0) >= 12:
                continue
            made = await _consent(
                session,
                esp,
                contract,
                f"{esp_credentials['name'][-1]}-ig-{number:04d}",
                await _account(session, owner["username"]),
                eans,
                period=long_period,
                service_type=DataServiceType.installation,
            )
            _tally(summary, "installation data (IG)", made)
            esp_credentials.setdefault("installation_ean", eans[0])
        # Renewal: consent ending within three months; expiry: consent that ran out.
        for number, owner in enumerate(mine[40:44]):
            customer = await _account(session, owner["username"])
            eans = [e for e in owner["eans"] if points[e]["meter_type"] == "DM"][:1]
            ends = now + timedelta(days=30) if number % 2 == 0 else now - timedelta(days=3)
            _tally(
                summary,
                "renewal or expiry",
                await _consent(
                    session,
                    esp,
                    contract,
                    f"renew-{number}",
                    customer,
                    eans,
                    period=(now - timedelta(days=360), ends),
                ),
            )
        # Tenants: co-consent approved, refused, or still pending with the landlord.
        for number, tenant in enumerate(tenants[index::2][:9]):
            customer = await _account(session, tenant["username"])
            eans = [e for e in tenant["eans"] if points[e]["meter_type"] == "DM"][:1]
            if not eans:
                continue
            made = await _consent(
                session, esp, contract, f"tenant-{number}", customer, eans, period=long_period
            )
            landlord = await _account(session, points[eans[0]]["grid_user"])
            outcome = number % 3
            if outcome < 2:
                for task, _ in await service.co_consent_inbox(session, landlord.id):
                    if task.mandate_id == made[0].id:
                        await service.decide_co_consent(
                            session, landlord, task.id, approve=outcome == 0
                        )
            _tally(
                summary,
                ("co-consent approved", "co-consent rejected", "co-consent pending")[outcome],
                made,
            )
        # Rejected by the customer, and revoked later.
        for number, owner in enumerate(mine[44:47]):
            customer = await _account(session, owner["username"])
            eans = [e for e in owner["eans"] if points[e]["meter_type"] == "DM"][:1]
            await _consent(
                session,
                esp,
                contract,
                f"declined-{number}",
                customer,
                eans,
                period=long_period,
                approve=False,
            )
        for number, owner in enumerate(mine[47:50]):
            customer = await _account(session, owner["username"])
            eans = [e for e in owner["eans"] if points[e]["meter_type"] == "DM"][:1]
            made = await _consent(
                session, esp, contract, f"revoked-{number}", customer, eans, period=long_period
            )
            person = Principal(
                subject=f"user:{customer.id}",
                role=Role.customer,
                scopes=frozenset(),
                user_id=customer.id,
            )
            for mandate in made:
                await service.revoke(session, person, mandate.id)
            _tally(summary, "revoked", made)
        # One open consent session for a newcomer to open in a browser.
        open_session = await service.open_consent_session(
            session,
            esp,
            service.ConsentSessionRequest(
                contract_number=contract,
                reference_number=f"try-me-{rng.randrange(10**6):06d}",
                flow=Flow.b2c,
                data_services=[
                    service.DataServiceRequest(DataServiceType.quarter_hourly, None, None)
                ],
                number_of_eans=2,
                return_url_success=None,
                return_url_failed=None,
                enterprise_number=None,
            ),
            service.ConsentRules(session_lifetime=timedelta(days=365), co_consent_days=14),
            identifier=f"demo{rng.getrandbits(64):016x}",
        )
        esp_credentials["consent_url"] = (
            f"{world.settings.base_url}/consent/{open_session.short_url_identifier}"
        )
        esp_credentials["mandates"] = summary
        featured = credentials.get("featured_customer")
        if featured is not None:
            await _featured_consents(
                session, esp, contract, index, featured, (long_period[0], long_period[1])
            )
    await service.expire_and_renew(session, now)
    await session.flush()


def describe_mandates(credentials: dict[str, Any]) -> list[str]:
    esps = [e for e in credentials.get("esps", []) if "consent_url" in e]
    if not esps:
        return []
    lines = [
        f"  consent link of {esps[0]['name']} (log in as a customer): {esps[0]['consent_url']}"
    ]
    if "installation_ean" in esps[0]:
        base = credentials.get("base_url", "")
        lines.append(
            f"  installation data under an IG mandate of {esps[0]['name']}: "
            f"{base}/v3/api/mandate/installation?ean={esps[0]['installation_ean']}"
        )
    return lines


async def _featured_consents(
    session: WriteSession,
    esp: Principal,
    contract: str,
    index: int,
    featured: dict[str, Any],
    period: tuple[datetime, datetime],
) -> None:
    """The welcome's customer holds consents in several states: approved with the first
    ESP (the daily one the owners' round gave them) and a quarter-hour one with the second,
    one they revoked and one they declined, so "who I share with" has something to show."""
    customer = await _account(session, featured["username"])
    eans = [featured["ean"]]
    if index == 0:
        made = await _consent(
            session, esp, contract, "featured-revoked", customer, eans, period=period
        )
        person = Principal(
            subject=f"user:{customer.id}",
            role=Role.customer,
            scopes=frozenset(),
            user_id=customer.id,
        )
        for mandate in made:
            await service.revoke(session, person, mandate.id)
    elif index == 1:
        await _consent(
            session, esp, contract, "featured-quarter-hours", customer, eans, period=period
        )
        await _consent(
            session,
            esp,
            contract,
            "featured-declined",
            customer,
            eans,
            period=period,
            approve=False,
        )
