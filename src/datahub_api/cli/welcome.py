"""What ``serve`` prints when it starts: the addresses, and with ``--demo`` the demo credentials."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from datahub_api.cli.support import (
    console,
)
from datahub_api.settings import Settings


def print_welcome(settings: Settings, credentials: dict[str, Any] | None) -> None:
    base = settings.base_url
    lines = [
        "",
        f"[bold green]datahub-api is serving on {base}[/]",
        f"  API docs:   {base}/docs   (Authorize with a client id and secret below)",
        f"  portal:     {base}/portal/login",
        f"  health:     {base}/healthz   readiness: {base}/readyz   metrics: {base}/metrics",
        "  mails:      "
        + (
            "through the SMTP server of DATAHUB_SMTP_URL"
            if settings.smtp_url is not None
            else f"written as .eml files in {settings.mail_path}"
        )
        + f", listed at {base}/portal/operator/mail",
    ]
    if credentials is not None:
        from datahub_api.demo.service import credentials_path

        lines.append(f"  demo credentials: {credentials_path(settings.data_dir)}")
        lines.extend(describe_credentials(credentials))
    lines.append("  stop with Ctrl-C")
    console.print("\n".join(lines), highlight=False)


CredentialsDescriber = Callable[[dict[str, Any]], list[str]]


def describe_access_points(credentials: dict[str, Any]) -> list[str]:
    points: list[dict[str, Any]] = credentials.get("access_points") or []
    if not points:
        return []
    communicating = sum(1 for point in points if point["communicating"])
    gvm = sum(1 for point in points if point["gvm"])
    solar = sum(1 for point in points if "PV" in point.get("local_production", ()))
    batteries = sum(1 for point in points if "BAT" in point.get("local_production", ()))
    dynamic = sum(1 for point in points if point.get("smr3"))
    return [
        f"  access points: {len(points)} ({communicating} with a communicating digital meter, "
        f"{gvm} GVM; {solar} with solar panels, {batteries} batteries, {dynamic} dynamic "
        "contracts); operator API: /api/v1/access-points"
    ]


def credential_describers() -> list[CredentialsDescriber]:
    """Each domain that adds demo credentials adds a line-maker here."""
    from datahub_api.mandates.demo_data import describe_mandates
    from datahub_api.organisations.demo_data import describe_parties
    from datahub_api.portal.demo_data import describe_portal_logins

    return [describe_parties, describe_access_points, describe_portal_logins, describe_mandates]


def describe_credentials(credentials: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for describer in credential_describers():
        lines.extend(describer(credentials))
    return lines
