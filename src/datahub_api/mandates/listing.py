"""Listing mandates: the one service behind ``GET /api/v1/mandates`` (native) and
``GET /v3/api/mandate`` (Fluvius). A face names what it lists (:class:`MandateListing`: its
members, the channels it serves); the caller sees what
:func:`~datahub_api.mandates.repository.visible_to` lets it see, filtered, in id order, as
one JSON array written by PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, replace

from datahub_api.auth.principal import Principal
from datahub_api.db import ReadSession
from datahub_api.mandates import repository
from datahub_api.mandates.models import Mandate
from datahub_api.mandates.repository import JsonFields, JsonPage, MandateFilter
from datahub_api.meter_data.channels import API_CHANNELS

__all__ = [
    "NATIVE",
    "MandateFilter",
    "MandateListing",
    "by_ean",
    "fluvius",
    "mandate_page",
    "newest_with_organisation",
]


@dataclass(frozen=True)
class MandateListing:
    """What a face lists: ``fields`` (member name, SQL expression) per mandate, null members
    left out with ``omit_nulls``; only mandates of ``channels`` when given (otherwise those
    the filter asks for, if any)."""

    fields: JsonFields
    channels: tuple[str, ...] = ()
    omit_nulls: bool = False


NATIVE = MandateListing(repository.MANDATE_OUT_FIELDS)


def fluvius(fields: JsonFields) -> MandateListing:
    """Fluvius's listing: only ``api`` and ``nps`` mandates (portal mandates are for the
    portal), null members left out as Fluvius leaves out what is not set."""
    return MandateListing(fields, channels=API_CHANNELS, omit_nulls=True)


async def mandate_page(
    session: ReadSession,
    principal: Principal,
    listing: MandateListing,
    mandate_filter: MandateFilter,
    *,
    after_id: int | None,
    limit: int,
) -> JsonPage:
    """A page of the mandates ``principal`` sees that match ``mandate_filter``, after
    ``after_id``, as ``listing`` writes them."""
    if listing.channels:
        mandate_filter = replace(mandate_filter, channels=listing.channels)
    return await repository.page_as_json(
        session,
        principal,
        mandate_filter,
        listing.fields,
        after_id=after_id,
        limit=limit,
        omit_nulls=listing.omit_nulls,
    )


async def newest_with_organisation(
    session: ReadSession, principal: Principal, *, limit: int
) -> list[tuple[Mandate, str]]:
    """The newest mandates ``principal`` sees, each with its ESP's name (the portal's list)."""
    return await repository.newest_visible_with_organisation(session, principal, limit=limit)


async def by_ean(session: ReadSession, principal: Principal, *, limit: int) -> list[Mandate]:
    """Up to ``limit`` mandates ``principal`` sees, by EAN and newest first (the ESP
    portal's list)."""
    return await repository.listed(session, principal, limit=limit)
