"""What an approved contract grants: the token scopes of each channel.

A rule of its own, below both the contract service (which applies and decides contracts) and
the access-grant cache (``auth.grants``, which narrows every token to it).
"""

from __future__ import annotations

from collections.abc import Iterable

from datahub_api.auth.principal import Scope
from datahub_api.contracts.models import Channel

# What an approved contract on a channel lets the organisation's API clients do.
CHANNEL_SCOPES: dict[str, frozenset[str]] = {
    Channel.api: frozenset(
        {Scope.consents, Scope.mandates_read, Scope.meter_data_read, Scope.webhooks}
    ),
    Channel.portal: frozenset({Scope.consents}),
    Channel.nps: frozenset({Scope.nps, Scope.mandates_read, Scope.meter_data_read, Scope.webhooks}),
    Channel.annual_history: frozenset({Scope.exports}),
}
# Every active ESP may manage its contracts and clients, contract or not.
BASE_ESP_SCOPES = frozenset({Scope.contracts})


def scopes_for_channels(channels: Iterable[str]) -> frozenset[str]:
    scopes: set[str] = set(BASE_ESP_SCOPES)
    for channel in channels:
        scopes |= CHANNEL_SCOPES.get(channel, frozenset())
    return frozenset(scopes)
