"""Small facts about the caller that routes ask for."""

from __future__ import annotations

from datahub_api.auth.principal import Principal, Role
from datahub_api.errors import Forbidden


def esp_organisation(principal: Principal) -> int:
    """The ESP organisation the caller acts for; 403 for anyone else."""
    if principal.role is not Role.esp or principal.organisation_id is None:
        raise Forbidden("Only an energy service provider may do this.")
    return principal.organisation_id


def require_operator(principal: Principal) -> None:
    if principal.role is not Role.operator:
        raise Forbidden("Only an operator may do this.")
