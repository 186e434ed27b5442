"""Who my data is shared with (issue 20, item 2): one page per customer listing every ESP
holding a mandate on their access points (API consents and signed paper mandates alike),
with data kind, period, status, last read and reads of the last 30 days; revoke and
contest from there. Nobody sees another person's rows."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from ..support.nps_world import NpsWorld, make_nps_world, signed, signed_pdf, submit
from ..support.portal import portal_browser, post_form
from ..support.reading_world import mandate

SHARING = "/portal/sharing"


def row_of(html: str, mandate_id: int) -> str:
    found = re.search(rf'<tr data-mandate="{mandate_id}">(.*?)</tr>', html, re.S)
    assert found, f"mandate {mandate_id} is not on the page"
    return found.group(1)


def cells(row: str) -> list[str]:
    """The row's cells as text, tags and runs of spaces taken out."""
    return [
        " ".join(re.sub(r"<[^>]+>", " ", cell).split())
        for cell in re.findall(r"<td>(.*?)</td>", row, re.S)
    ]


async def test_the_sharing_page_lists_every_esp_with_reads_revoke_and_contest(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    world: NpsWorld = await make_nps_world(app, client)
    # ESP A: a signed paper (NPS) mandate on the owner's GVM access point.
    listed = await submit(
        client, world.a, {"ean": world.owner_ean, "evidence": signed(document=signed_pdf("x"))}
    )
    assert listed.status_code == 201, listed.text
    paper_id = int(listed.json()["items"][0]["mandate_id"])
    # ESP B: a consent given on the API, on the owner's digital-meter access point, read twice.
    consent_id = await mandate(app, client, world.esp_b, world.owner, world.small_ean)
    for _ in range(2):
        read = await client.get(
            f"/api/v1/access-points/{world.small_ean}/meter-data",
            params={"from": "2026-06-01", "to": "2026-06-02"},
            headers=world.b,
        )
        assert read.status_code == 200, read.text

    owner = await portal_browser(app, world.owner.username)
    tenant = await portal_browser(app, world.tenant.username)
    try:
        page = await owner.get(SHARING)
        assert page.status_code == 200, page.text
        assert page.text.index("ESP A") < page.text.index("ESP B")  # by name, live first
        paper = cells(row_of(page.text, paper_id))
        assert paper[0] == world.owner_ean
        assert "papieren mandaat" in paper[3]
        assert paper[5:7] == ["nog nooit", "0"]
        assert f"/portal/paper-mandates/{paper_id}/contest" in page.text
        consent = cells(row_of(page.text, consent_id))
        assert consent[0] == world.small_ean
        assert consent[6] == "2"  # reads of the last 30 days
        assert consent[5] != "nog nooit"
        assert f"/portal/mandates/{consent_id}/revoke" in page.text
        # Nobody else's rows.
        other = await tenant.get(SHARING)
        assert other.status_code == 200
        assert world.owner_ean not in other.text
        assert world.small_ean not in other.text

        # Revoke from here: back here, ended, no form any more.
        revoked = await post_form(
            owner, SHARING, f"/portal/mandates/{consent_id}/revoke", back=SHARING
        )
        assert revoked.status_code == 303, revoked.text
        assert revoked.headers["location"] == f"{SHARING}?done=revoked"
        after = await owner.get(revoked.headers["location"])
        assert "beëindigd" in row_of(after.text, consent_id)
        assert f"/portal/mandates/{consent_id}/revoke" not in after.text
        assert "alle mandaten beëindigd" in after.text  # ESP B's only mandate ended
        # Contest the paper mandate from here.
        contested = await post_form(
            owner,
            SHARING,
            f"/portal/paper-mandates/{paper_id}/contest",
            reason="I never signed this.",
            back=SHARING,
        )
        assert contested.status_code == 303, contested.text
        assert contested.headers["location"].startswith(f"{SHARING}?paper=contested")
        final = await owner.get(SHARING + "?lang=en")
        assert "contested: no data until the document is checked" in final.text
        assert f"/portal/paper-mandates/{paper_id}/contest" not in final.text
    finally:
        await owner.aclose()
        await tenant.aclose()
