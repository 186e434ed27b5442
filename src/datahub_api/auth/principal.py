"""Who is calling: an API client (machine) or a logged-in person, with their scopes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from starlette.requests import Request


class Role(StrEnum):
    """What kind of party the caller acts for."""

    esp = "esp"  # an energy service provider (its backend or its staff)
    operator = "operator"  # the DSO's operators
    head_end = "head_end"  # the DSO's metering head-end system (ingest)
    customer = "customer"  # a customer who may consent for access points
    grid_user = "grid_user"  # the grid user (netgebruiker) of access points


class Scope(StrEnum):
    """Capabilities, granted per client and checked per route."""

    contracts = "contracts"
    consents = "consents"
    mandates_read = "mandates:read"
    meter_data_read = "meter-data:read"
    webhooks = "webhooks"
    exports = "exports"
    nps = "nps"
    operator_contracts = "operator:contracts"
    operator_access_points = "operator:access-points"
    operator_audits = "operator:audits"
    sla_all = "sla:all"
    meter_data_ingest = "meter-data:ingest"
    own_data = "own-data"  # a customer or grid user: their consents, mandates and access log


ESP_SCOPES = frozenset(
    {
        Scope.contracts,
        Scope.consents,
        Scope.mandates_read,
        Scope.meter_data_read,
        Scope.webhooks,
        Scope.exports,
        Scope.nps,
    }
)
OPERATOR_SCOPES = frozenset(
    {Scope.operator_contracts, Scope.operator_access_points, Scope.operator_audits, Scope.sla_all}
)
HEAD_END_SCOPES = frozenset({Scope.meter_data_ingest})
PERSON_SCOPES = frozenset({Scope.own_data})


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    subject: str  # client id, or "user:<id>" for a person
    role: Role
    scopes: frozenset[str]
    organisation_id: int | None = None  # the ESP organisation acted for, if any
    user_id: int | None = None  # set for people logged in with a session cookie
    token_id: str | None = None  # the access token's jti, for audit
    csrf_token: str | None = None  # set for people: unsafe requests must echo it
    issued_at: float | None = None  # the access token's iat (seconds since the epoch)

    def has(self, scope: str) -> bool:
        return scope in self.scopes


# Extra checks on a verified token or session (revoked clients, terminated contracts, ...).
# Each may raise Unauthorized or return a principal with fewer scopes.
PrincipalCheck = Callable[[Request, Principal], Awaitable[Principal]]
