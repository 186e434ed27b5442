"""The change feed of an ESP organisation: ``GET /api/v1/events?after=CURSOR``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from datahub_api.auth.caller import esp_organisation
from datahub_api.auth.dependencies import require_any_scope
from datahub_api.auth.principal import Principal, Scope
from datahub_api.deps import ReadSessionDep
from datahub_api.errors import UnprocessableContent, problem_responses
from datahub_api.events import service
from datahub_api.events.event_types import KNOWN_EVENT_TYPES
from datahub_api.events.schemas import EventFeedPage, EventOut
from datahub_api.http_caching import ETAG_HEADER_DOC, NOT_MODIFIED_RESPONSE, json_response_with_etag
from datahub_api.paging import cursor_int, encode_cursor

router = APIRouter(tags=["events"])

FeedReader = Annotated[Principal, Depends(require_any_scope(Scope.mandates_read, Scope.webhooks))]
MAX_TYPES = 20


@router.get(
    "/api/v1/events",
    response_model=EventFeedPage,
    responses={
        **problem_responses(401, 403, 422, 429),
        200: {"headers": ETAG_HEADER_DOC},
        **NOT_MODIFIED_RESPONSE,
    },
    summary="Your organisation's change feed (scope `mandates:read` or `webhooks`)",
)
async def read_feed(
    request: Request,
    principal: FeedReader,
    session: ReadSessionDep,
    after: Annotated[
        str | None,
        Query(
            max_length=500,
            description="`next_cursor` of your previous call; omit to start at the beginning.",
        ),
    ] = None,
    types: Annotated[
        str | None,
        Query(
            max_length=2000,
            description="Comma-separated event types to return (default: all). Known types: "
            + ", ".join(f"`{name}`" for name in sorted(KNOWN_EVENT_TYPES))
            + ".",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most events to return.")] = 100,
) -> Response:
    """Events in the order they committed, each exactly once per pass, without gaps: an
    event that commits after you read past its neighbours is never skipped (positions are
    handed out in commit order). Keep `next_cursor` and pass it as `after`; it comes back
    unchanged while nothing new happened, and `If-None-Match` with the previous ETag then
    answers 304. Delivery is at-least-once: store the cursor after processing the events."""
    esp_organisation(principal)
    wanted = _event_types(types)
    after_position = cursor_int(after, "p") or 0
    events, head = await service.feed(
        session, principal, after_position=after_position, types=wanted, limit=limit + 1
    )
    more = len(events) > limit
    events = events[:limit]
    # A full page ends at its last event; otherwise nothing more is committed up to the head
    # that the same snapshot saw, so skip ahead to it (past unwanted types too).
    next_position = events[-1].position if more else max(after_position, head)
    page = EventFeedPage(
        items=[
            EventOut(
                id=event.id,
                position=event.position,
                type=event.type,
                occurred_at=event.occurred_at,
                data=event.payload,
            )
            for event in events
        ],
        next_cursor=encode_cursor({"p": next_position}),
        has_more=more,
    )
    return json_response_with_etag(request, page)


def _event_types(types: str | None) -> list[str] | None:
    if types is None or not types.strip():
        return None
    wanted = sorted({name.strip() for name in types.split(",") if name.strip()})
    if len(wanted) > MAX_TYPES:
        raise UnprocessableContent(f"types: at most {MAX_TYPES} event types")
    unknown = [name for name in wanted if name not in KNOWN_EVENT_TYPES]
    if unknown:
        raise UnprocessableContent(f"types: unknown event type(s): {', '.join(unknown)}")
    return wanted
