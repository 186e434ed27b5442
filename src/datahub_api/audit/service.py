"""Writing the audit trail.

Actions are recorded in the request's own transaction (they happen or not together with
what they record). Refusals are recorded in a transaction of their own, since the request
that was refused rolls back.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request

from datahub_api.audit import repository
from datahub_api.audit.models import AuditRecord
from datahub_api.auth.principal import Principal
from datahub_api.client_address import client_address, client_address_var
from datahub_api.db import Database, WriteSession
from datahub_api.deps import app_state, started_database
from datahub_api.errors import DatahubError, utf8_text
from datahub_api.observability import request_id_var

logger = logging.getLogger(__name__)

# Column widths of audit_records (a longer text would fail the write and lose the record).
_ACTOR, _ROLE, _ACTION, _TARGET, _REQUEST_ID, _CLIENT_IP = 200, 20, 100, 200, 128, 64


def storable(text: str, limit: int | None = None) -> str:
    """``text`` as PostgreSQL can store it: NUL characters and lone surrogates (what a path
    of invalid UTF-8 bytes decodes to) are written as backslash escapes, then cut to
    ``limit``."""
    safe = utf8_text(text.replace("\x00", "\\x00"))
    return safe if limit is None else safe[:limit]


def _storable_json(value: Any) -> Any:
    """The same for every text inside a JSONB ``detail`` (keys included)."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(key)): _storable_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_storable_json(item) for item in value]
    return value


def _client_ip(request: Request | None) -> str | None:
    return None if request is None else storable(client_address(request), _CLIENT_IP)


def record_action(
    session: WriteSession,
    *,
    actor: Principal | str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """An action done, in the session's transaction: written by the service that acts, so
    every face (API, portal, CLI) leaves the same record. The caller's address comes from
    the request being served (none from the CLI)."""
    address = client_address_var.get()
    subject, role = (
        (actor.subject, actor.role.value) if isinstance(actor, Principal) else (actor, None)
    )
    repository.add(
        session,
        AuditRecord(
            actor=storable(subject, _ACTOR),
            actor_role=role,
            action=storable(action, _ACTION),
            outcome="ok",
            target=storable(target, _TARGET) if target is not None else None,
            detail=_storable_json(detail or {}),
            request_id=request_id_var.get(),
            client_ip=storable(address, _CLIENT_IP) if address is not None else None,
        ),
    )


async def record_refusal(
    database: Database,
    *,
    action: str,
    actor: str = "-",
    actor_role: str | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    request: Request | None = None,
) -> None:
    """Best effort: a refusal must still be answered when the audit write fails. A request
    that names a ``tally`` (``request.state.audit_tally``: failed logins and client
    authentications) counts on one row per tally and window instead of adding a row."""
    tally = getattr(request.state, "audit_tally", None) if request is not None else None
    try:
        async with database.write_sessions() as session:
            record = AuditRecord(
                actor=storable(actor, _ACTOR),
                actor_role=storable(actor_role, _ROLE) if actor_role else None,
                action=storable(action, _ACTION),
                outcome="refused",
                target=storable(target, _TARGET) if target is not None else None,
                detail=_storable_json(detail or {}),
                request_id=storable(request_id_var.get() or "", _REQUEST_ID) or None,
                client_ip=_client_ip(request),
            )
            if isinstance(tally, str) and request is not None:
                window = app_state(request).settings.refusal_tally_seconds
                record.tally_key = f"{storable(tally, 350)}|{int(time.time() // window)}"
                await repository.tally(session, record)
            else:
                repository.add(session, record)
            await session.commit()
    except Exception:  # the database may be the reason for the refusal
        logger.warning("could not write the audit record of a refusal (%s)", action, exc_info=True)


async def audit_refusal(request: Request, error: Exception) -> None:
    """The app's refusal listener: every 401 and 403 leaves a record."""
    principal = getattr(request.state, "principal", None)
    actor = principal.subject if isinstance(principal, Principal) else None
    actor = actor or getattr(request.state, "audit_actor", None) or "-"
    status = error.status if isinstance(error, DatahubError) else 0
    route = getattr(request.scope.get("route"), "path", request.url.path)
    database = started_database(request.app)
    if database is None:  # an app without its lifespan (a test harness): nothing to write to
        return
    await record_refusal(
        database,
        action=f"{request.method} {route}",
        actor=str(actor),
        actor_role=principal.role.value if isinstance(principal, Principal) else None,
        target=request.url.path,
        detail={"status": status, "reason": str(error)[:500]},
        request=request,
    )
