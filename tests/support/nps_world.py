"""An NPS world: large-consumption (GVM) access points whose grid users are a person, a
landlord (with a tenant as customer) and a company; one small installation; ESP A and ESP B
with contracts on every channel; a head-end; and signed PDFs to register and upload."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from pypdf import PdfWriter

from datahub_api.accounts.models import Account, AccountRole
from datahub_api.accounts.passwords import hash_password
from datahub_api.auth.principal import Role
from datahub_api.organisations import enterprise_number

from .access_point_data import fresh_ean
from .consent_world import PASSWORD, Person, make_person, put_access_point
from .meter_data import METER, csv_body
from .parties import Esp, auth_headers, make_esp, make_machine_client

REQUESTS = "/api/v1/nps/requests"
INGEST = "/api/v1/ingest/meter-readings"
COMPANY_NUMBER = enterprise_number.from_body(7_777_777)


def signed_pdf(text: str = "mandate") -> bytes:
    """A small real PDF (one page), different per ``text``."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": text})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass
class NpsWorld:
    esp_a: Esp
    esp_b: Esp
    owner: Person  # grid user and customer of owner_ean
    landlord: Person  # grid user of tenant_ean
    tenant: Person  # customer of tenant_ean
    company: Person  # grid user of company_ean, with an enterprise number
    owner_ean: str
    tenant_ean: str
    company_ean: str
    small_ean: str  # not GVM
    operator: dict[str, str]
    head_end: dict[str, str]
    a: dict[str, str]  # ESP A's headers
    b: dict[str, str]
    app: FastAPI

    async def run_jobs(self) -> None:
        """The jobs queued so far (the registry check of paper mandates, ...)."""
        await self.app.state.jobs.run_until_idle()


def gvm_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "meter_type": "KM",
        "metering": "metering-on-headpoint",
        "gvm": True,
        "communication_periods": [],
        "physical_meters": [{"seq_number": "1", "meter_id": METER, "installed_from": "2024-01-01"}],
    }
    body.update(over)
    return body


async def make_company(app: FastAPI, username: str) -> Person:
    async with app.state.database.write_sessions() as session:
        account = Account(
            username=username,
            password_hash=hash_password(PASSWORD),
            display_name="Staalwerken Gent NV",
            role=AccountRole.grid_user,
            enterprise_number=COMPANY_NUMBER,
        )
        session.add(account)
        await session.commit()
        return Person(id=account.id, username=username)


async def make_nps_world(app: FastAPI, client: httpx.AsyncClient) -> NpsWorld:
    esp_a = await make_esp(app, "ESP A")
    esp_b = await make_esp(app, "ESP B")
    owner = await make_person(app, "olga.owner", AccountRole.customer)
    landlord = await make_person(app, "larry.landlord", AccountRole.grid_user)
    tenant = await make_person(app, "tina.tenant", AccountRole.customer)
    company = await make_company(app, "staalwerken")
    operator = await auth_headers(client, await make_machine_client(app, Role.operator))
    eans = [fresh_ean() for _ in range(4)]
    await put_access_point(
        client, operator, eans[0], grid_user=owner.id, customer_ids=(owner.id,), **gvm_body()
    )
    await put_access_point(
        client, operator, eans[1], grid_user=landlord.id, customer_ids=(tenant.id,), **gvm_body()
    )
    await put_access_point(client, operator, eans[2], grid_user=company.id, **gvm_body())
    await put_access_point(client, operator, eans[3], grid_user=owner.id, customer_ids=(owner.id,))
    return NpsWorld(
        esp_a=esp_a,
        esp_b=esp_b,
        owner=owner,
        landlord=landlord,
        tenant=tenant,
        company=company,
        owner_ean=eans[0],
        tenant_ean=eans[1],
        company_ean=eans[2],
        small_ean=eans[3],
        operator=operator,
        head_end=await auth_headers(client, await make_machine_client(app, Role.head_end)),
        a=await auth_headers(client, esp_a),
        b=await auth_headers(client, esp_b),
        app=app,
    )


def signed(
    name: str = "Olga Owner",
    capacity: str = "grid_user",
    document: bytes | None = None,
    **over: Any,
) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "source": "signed",
        "signatory_name": name,
        "signatory_capacity": capacity,
        "signed_on": "2026-01-15",
        "data_period_from": "2026-01-01",
        "data_period_to": "2030-12-31",
        "document_sha256": sha(document if document is not None else signed_pdf(name)),
    }
    evidence.update(over)
    return evidence


async def submit(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *entries: dict[str, Any],
    reference: str = "nps-1",
) -> httpx.Response:
    return await client.post(
        REQUESTS, json={"reference_number": reference, "eans": list(entries)}, headers=headers
    )


async def signed_mandate(
    client: httpx.AsyncClient, world: NpsWorld, document: bytes, *, reference: str = "nps-1"
) -> int:
    """ESP A's approved signed NPS mandate on the owner's EAN, registered with ``document``
    and checked against the registry (the job that runs after registration)."""
    response = await submit(
        client,
        world.a,
        {"ean": world.owner_ean, "evidence": signed(document=document)},
        reference=reference,
    )
    assert response.status_code == 201, response.text
    item = response.json()["items"][0]
    assert item["outcome"] == "accepted", item
    await world.run_jobs()
    return int(item["mandate_id"])


async def ingest(client: httpx.AsyncClient, world: NpsWorld, rows: list[list[str]]) -> None:
    response = await client.post(
        INGEST, content=csv_body(rows), headers={**world.head_end, "Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text


async def open_audit(client: httpx.AsyncClient, world: NpsWorld, mandate_id: int) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/operator/nps/mandates/{mandate_id}/audits", headers=world.operator
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    mandate_id: int,
    content: bytes,
    content_type: str = "application/pdf",
) -> Any:
    return client.put(
        f"/api/v1/nps/mandates/{mandate_id}/evidence",
        content=content,
        headers={**headers, "Content-Type": content_type},
    )
