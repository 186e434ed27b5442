"""Bodies of the webhook routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from datahub_api.events.event_types import KNOWN_EVENT_TYPES
from datahub_api.webhooks.models import DeliveryStatus
from datahub_api.webhooks.targets import MAX_URL_LENGTH

Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="An https URL whose host resolves to public addresses only.",
        examples=["https://esp.example/hooks/datahub"],
    ),
]
EventTypes = Annotated[
    list[str],
    Field(
        max_length=50,
        description="Event types to receive; empty means every type. Known types: "
        + ", ".join(f"`{name}`" for name in sorted(KNOWN_EVENT_TYPES))
        + ".",
    ),
]
Description = Annotated[str | None, Field(max_length=500)]


def _known_types(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    unknown = sorted(set(value) - set(KNOWN_EVENT_TYPES))
    if unknown:
        raise ValueError(f"unknown event type(s): {', '.join(unknown)}")
    return sorted(set(value))


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    event_types: EventTypes = []
    description: Description = None
    enabled: bool = True

    _check_types = field_validator("event_types")(_known_types)


class WebhookEndpointUpdate(BaseModel):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description = None
    enabled: bool | None = None

    _check_types = field_validator("event_types")(_known_types)


class WebhookEndpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    event_types: list[str] = Field(description="Empty: every event type.")
    description: str | None
    enabled: bool
    disabled_reason: str | None = Field(
        description="`gone` when the DSO disabled it after a 410 answer; null otherwise."
    )
    created_at: datetime
    updated_at: datetime


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str = Field(
        description="The signing secret (`whsec_...`). Shown only now: store it.",
    )


class WebhookEndpointPage(BaseModel):
    items: list[WebhookEndpointOut]
    next_cursor: str | None


class WebhookSecretOut(BaseModel):
    secret: str = Field(description="The new signing secret. Shown only now: store it.")
    previous_secret_valid_until: datetime | None = Field(
        description="Until then deliveries are signed with the old secret too "
        "(two signatures in `webhook-signature`)."
    )


class DeliveryAttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempt: int
    attempted_at: datetime
    status_code: int | None = Field(description="The endpoint's HTTP status; null if none came.")
    duration_ms: int
    error: str | None
    outcome: str = Field(description="`succeeded`, `retry`, `failed` (given up) or `disabled`.")


class DeliveryOut(BaseModel):
    id: int
    message_id: str = Field(description="The `webhook-id` header of every attempt.")
    event_id: int | None = Field(description="The event delivered; null for a test message.")
    event_type: str
    status: DeliveryStatus
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    attempts: list[DeliveryAttemptOut]


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class TestDeliveryOut(BaseModel):
    delivery_id: int
    message_id: str
    status: DeliveryStatus
