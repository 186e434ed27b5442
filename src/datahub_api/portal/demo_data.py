"""The portal's part of ``make run``'s welcome: a demo login for each role."""

from __future__ import annotations

from typing import Any


def esp_portal_url(credentials: dict[str, Any]) -> str:
    """The ESP pages' address on the demo's base URL (the token URL's origin)."""
    token_url = str(credentials.get("token_url") or "")
    return token_url.removesuffix("/oauth2/v2.0/token") + "/portal/esp/"


def describe_portal_logins(credentials: dict[str, Any]) -> list[str]:
    """One line per role: who to log in as, and what to look at there."""
    lines: list[str] = []
    esps: list[dict[str, Any]] = credentials.get("esps") or []
    customers: list[dict[str, Any]] = credentials.get("customers") or []
    landlords: list[dict[str, Any]] = credentials.get("landlords") or []
    operator: dict[str, Any] | None = credentials.get("operator")
    if esps and "username" in esps[0]:
        esp = esps[0]
        lines.append(
            f"    ESP staff ({esp['name']}): {esp['username']} / {esp['password']}"
            f"  ({esp_portal_url(credentials)}: mandates, access points, charts, CSV,"
            " contracts, API clients)"
        )
    featured: dict[str, Any] | None = credentials.get("featured_customer")
    owner = next((c for c in customers if c["is_grid_user"] and c["eans"]), None)
    tenant = next((c for c in customers if not c["is_grid_user"] and c["eans"]), None)
    if featured:
        lines.append(
            f"    customer:  {featured['username']} / {featured['password']}"
            f"  (digital meter {featured['ean']}: the consent link below, my data,"
            " who I share with, who read my data)"
        )
    elif owner:
        lines.append(
            f"    customer:  {owner['username']} / {owner['password']}"
            f"  (also grid user of {', '.join(owner['eans'])}: consent, my consents, who read)"
        )
    if tenant:
        lines.append(
            f"    tenant:    {tenant['username']} / {tenant['password']}"
            f"  (customer, not grid user, of {', '.join(tenant['eans'])})"
        )
        landlord = next(
            (g for g in landlords if set(g["eans"]) & set(tenant["eans"])),
            None,
        )
        if landlord:
            lines.append(
                f"    grid user: {landlord['username']} / {landlord['password']}"
                f"  ({landlord['name']}, the tenant's landlord: co-consent inbox)"
            )
    if operator and "username" in operator:
        lines.append(
            f"    operator:  {operator['username']} / {operator['password']}"
            "  (contract applications, access points, SLA, NPS audits)"
        )
    return ["  portal logins (one per role):", *lines] if lines else []
