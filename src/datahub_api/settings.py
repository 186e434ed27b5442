"""Service settings, read from the environment (prefix ``DATAHUB_``) and plain ``DATABASE_URL``."""

from __future__ import annotations

import ipaddress
from datetime import date
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    IPvAnyNetwork,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict


class LogFormat(StrEnum):
    """How log lines are written: JSON for machines, text for people."""

    json = "json"
    text = "text"


# Waits before retries 1..10 of a failed webhook delivery: 5 s, 1 min, 5 min, 30 min, 2 h,
# 5 h, 10 h, 14 h, 20 h, 20 h; about 71.6 hours (3 days) from the first attempt to the last.
DEFAULT_WEBHOOK_RETRY_SCHEDULE_SECONDS: tuple[float, ...] = (
    5,
    60,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    14 * 3600,
    20 * 3600,
    20 * 3600,
)


class SlaTarget(BaseModel):
    """One channel's service level: ``days`` after the foreseen date, for a ``share`` of the
    EAN-days (None: reported without a target share, as the portal's D+1..D+3)."""

    days: int = Field(ge=0, le=366)
    share: float | None = Field(default=None, gt=0, le=1)


DEFAULT_SLA_TARGETS: dict[str, SlaTarget] = {
    "api": SlaTarget(days=3, share=0.95),
    "portal": SlaTarget(days=3, share=None),
    "nps": SlaTarget(days=5, share=0.95),
    "nps_historical": SlaTarget(days=15, share=0.95),
    "annual_history": SlaTarget(days=10, share=1.0),
}


class Settings(BaseSettings):
    """Every knob of the service. Each field is documented in the table of docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="DATAHUB_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "DATAHUB_DATABASE_URL"),
        description="PostgreSQL server to use; unset means the embedded server in the data dir.",
    )
    read_database_url: str | None = Field(
        default=None,
        description="Streaming replicas of the primary (comma-separated URLs, each naming one "
        "server) that serve read-only sessions once they have replayed every change committed "
        "before the read began (see docs/deployment.md); unset: reads go to the primary.",
    )
    read_replica_max_wait_seconds: float = Field(
        default=0.5,
        ge=0,
        le=30,
        description="How long a read waits for a replica to replay what the primary already "
        "committed before it is served by the primary instead.",
    )
    read_replica_retry_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="How long a replica that failed to answer is left out before it is tried "
        "again (meanwhile its reads go to the primary).",
    )
    direct_database_url: str | None = Field(
        default=None,
        description="The primary without a connection pooler, for what a pooler in transaction "
        "mode cannot carry: LISTEN/NOTIFY listeners and the job queue (its worker listens); "
        "unset: `DATABASE_URL`. Required with `database_pooled`.",
    )
    database_pooled: bool = Field(
        default=False,
        description="`DATABASE_URL` and the read URLs go through a pooler in transaction mode "
        "(PgBouncer): no prepared statements are kept on a server connection.",
    )
    data_dir: Path = Field(
        default=Path(".datahub"),
        description="Where the embedded database, the local key-encryption key and demo "
        "credentials live.",
    )
    key_encryption_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s), comma-separated, that encrypt the token-signing keys in "
        "the database: the first encrypts, each decrypts. The same on every node. Unset: a "
        "key made in `<data dir>/key-encryption.key` (one machine only).",
    )
    signing_key_dir: Path | None = Field(
        default=None,
        description="A folder of token-signing key files (`<created ns>-key.pem`, e.g. a "
        "mounted secret) that the nodes only read, instead of the keys in the database.",
    )
    host: str = Field(default="127.0.0.1", description="Address `serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `serve` listens on.")
    public_base_url: str | None = Field(
        default=None,
        description="URL under which users reach the service (links, consent URLs); "
        "default http://<host>:<port>.",
    )
    sandbox: bool = Field(
        default=False,
        description="Sandbox mode: enables sandbox-only routes such as mandate mocks.",
    )
    log_format: LogFormat = Field(default=LogFormat.text, description="`json` or `text` logs.")
    log_level: str = Field(default="INFO", description="Python log level name.")
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token a Prometheus scraper sends to read `/metrics`.",
    )
    metrics_allowed_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Peer addresses or networks (CIDR) that may read `/metrics` without the "
        "token. With neither set, `/metrics` answers 403 to everyone.",
    )
    db_pool_size: int = Field(default=10, ge=1, le=200, description="Connections per process.")
    db_connect_timeout_seconds: float = Field(
        default=5.0, gt=0, description="How long to wait for the database before giving up."
    )
    max_in_flight: int = Field(
        default=4,
        ge=1,
        le=1000,
        description="Requests one process runs at a time (health checks and metrics aside); "
        "the others wait for a slot (see `admission_queue`). Keep it at or below "
        "`db_pool_size`.",
    )
    admission_queue: int = Field(
        default=64,
        ge=0,
        le=100_000,
        description="Requests one process lets wait for a slot; beyond them it answers 503 "
        "with `Retry-After` at once.",
    )
    admission_wait_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Longest a request waits for a slot before it is answered 503 with "
        "`Retry-After`. A burst waits first come first served; once the queue stands, the "
        "newest waiter is served first and the oldest reach this limit.",
    )
    admission_retry_after_seconds: int = Field(
        default=3,
        ge=1,
        le=3600,
        description="The `Retry-After` of a request shed by admission control. Every shed "
        "request costs the process a little CPU: clients told to come back at once would "
        "spend a saturated process's CPU on being refused.",
    )
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted on ordinary routes (413 above it).",
    )
    ingest_max_body_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="Largest meter-readings batch (POST /api/v1/ingest/meter-readings), "
        "both as sent and uncompressed (413 above it).",
    )
    ingest_max_value_per_hour: float = Field(
        default=100_000,
        gt=0,
        le=150_000,
        description="Plausibility bound of a reading, in kWh / kVArh / m3 per hour of its "
        "slot (25 000 per quarter-hour, 2.5 million per day by default); larger is refused.",
    )
    ingest_max_blocks: int = Field(
        default=200_000,
        ge=1,
        description="Most day blocks one ingest batch may touch (413 above it).",
    )
    tariff_day_hours: tuple[int, int] = Field(
        default=(7, 22),
        description="Brussels hours [start, end) of the day (high) tariff on tariff days; "
        "the rest is night (low) tariff. Names quarter-hours `Dag`/`Nacht` in CSV/XLSX.",
    )
    tariff_day_weekdays: list[int] = Field(
        default=[1, 2, 3, 4, 5],
        description="ISO weekdays (1 = Monday) with a day tariff; other days are all night.",
    )
    tariff_night_dates: list[date] = Field(
        default_factory=list,
        description="Extra all-night dates (public holidays where the tariff calendar says so).",
    )
    meter_data_json_max_days: int = Field(
        default=1100,
        ge=1,
        description="Longest window of a JSON meter-data answer (built whole); CSV, XLSX and "
        "the NDJSON query stream any length.",
    )
    meter_data_changes_margin_seconds: float = Field(
        default=300,
        ge=0,
        le=24 * 3600,
        description="GET /api/v1/meter-data/changes hands out blocks stored at least this "
        "long ago, so that an ingest transaction still committing (its blocks carry the time "
        "it wrote them) is never passed by a cursor; longer than the longest ingest "
        "transaction.",
    )
    sla_targets: dict[str, SlaTarget] = Field(
        default_factory=lambda: dict(DEFAULT_SLA_TARGETS),
        description="Service levels per channel (JSON): days after the foreseen date and the "
        "share that must make it; channels left out keep their default.",
    )
    sla_max_report_days: int = Field(
        default=400, ge=1, description="Longest period of an SLA report or late-items list."
    )
    sla_tracking: bool = Field(
        default=True,
        description="Record when each EAN-day is first delivered, inside the ingest "
        "transaction (switch off only to measure its cost).",
    )
    token_issuer_url: str | None = Field(
        default=None, description="`iss` of access tokens; default the public base URL."
    )
    token_url: str | None = Field(
        default=None,
        description="The token endpoint's URL as clients know it (for example behind a "
        "gateway); default <public base URL>/oauth2/v2.0/token. A `private_key_jwt` "
        "assertion's `aud` must be this URL, the alias <public base URL>/oauth2/token or the "
        "token issuer; the request's `Host` and `X-Forwarded-*` headers never count.",
    )
    access_token_lifetime_seconds: int = Field(
        default=3600, ge=60, le=86400, description="How long an access token is valid."
    )
    rate_limit_requests: int = Field(
        default=200, ge=1, description="Requests per client per rate-limit window."
    )
    rate_limit_window_seconds: int = Field(
        default=10, ge=1, le=3600, description="Length of the rate-limit window."
    )
    require_subscription_key: bool = Field(
        default=False,
        description="Demand a valid `Ocp-Apim-Subscription-Key` on `/v3` (off in the demo).",
    )
    client_secret_overlap_hours: float = Field(
        default=24,
        ge=0,
        le=24 * 30,
        description="How long a rotated-out client secret still works.",
    )
    grants_refresh_seconds: float = Field(
        default=60,
        gt=0,
        description="Safety-net reload of cached grants (changes arrive by NOTIFY).",
    )
    session_lifetime_hours: float = Field(
        default=8, gt=0, le=24 * 30, description="How long a portal login lasts."
    )
    login_free_failures: int = Field(
        default=10,
        ge=1,
        validation_alias=AliasChoices(
            "DATAHUB_LOGIN_FREE_FAILURES", "DATAHUB_LOGIN_ATTEMPTS_PER_15_MINUTES"
        ),
        description="Failed logins per username and per address before backoff starts: from "
        "then on each failure closes that username or address for 1 s, 2 s, 4 s ... up to "
        "`throttle_backoff_max_seconds` (429 with Retry-After, whatever the password); a "
        "success clears both counts, which are otherwise forgotten after a day.",
    )
    login_failures_per_address_per_hour: int = Field(
        default=100,
        ge=1,
        description="Ceiling of failed logins from one address per hour, over all usernames "
        "(429 until the hour is over).",
    )
    registrations_per_address_per_hour: int = Field(
        default=5,
        ge=1,
        description="Self-registrations (`/portal/register`) one address may try per hour.",
    )
    token_free_failures: int = Field(
        default=10,
        ge=1,
        description="Failed client authentications at the token endpoint per client id and "
        "per address before backoff starts (as for logins).",
    )
    token_failures_per_address_per_hour: int = Field(
        default=100,
        ge=1,
        description="Ceiling of failed client authentications from one address per hour.",
    )
    throttle_backoff_max_seconds: int = Field(
        default=900,
        ge=1,
        le=86400,
        description="Longest wait the login and token-endpoint backoff imposes; after it the "
        "right credentials work again.",
    )
    refusal_tally_seconds: int = Field(
        default=900,
        ge=1,
        le=86400,
        description="Failed logins and client authentications are audited as one row per "
        "username or client id and address per this many seconds, with a count.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis (`redis://host:port/db`) holding the rate limits and throttles of "
        "every node; unset: they are kept in PostgreSQL (table `throttle_counters`).",
    )
    redis_key_prefix: str = Field(
        default="datahub",
        min_length=1,
        max_length=100,
        description="Prefix of this service's keys in Redis (to share one Redis).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Reverse proxies (addresses or networks, e.g. `10.0.0.0/8`) whose "
        "`X-Forwarded-For` and `X-Forwarded-Proto` are believed; from any other peer they are "
        "ignored. Default: none.",
    )
    consent_session_lifetime_hours: float = Field(
        default=168, gt=0, description="How long a consent link stays open."
    )
    co_consent_days: int = Field(
        default=14, ge=1, description="Days a grid user has to co-consent; silence is a refusal."
    )
    nps_max_eans_per_request: int = Field(
        default=1000, ge=1, le=100_000, description="Most EANs in one NPS list (413 above)."
    )
    nps_audit_days: int = Field(
        default=14, ge=1, le=365, description="Days an ESP has to upload an audited NPS mandate."
    )
    nps_audit_sample_share: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Share of each ESP's live signed NPS mandates audited per quarter by the "
        "sampling job (at least one when above 0; 0 turns sampling off).",
    )
    nps_evidence_max_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=1024,
        description="Largest signed-mandate PDF an ESP may upload for an NPS audit.",
    )
    paper_mandates_per_day: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="Most signed paper mandates (NPS signed evidence, history export EANs) "
        "one ESP may try to register per Brussels day, refused attempts included (429 above).",
    )
    history_export_max_eans: int = Field(
        default=10_000,
        ge=1,
        le=100_000,
        description="Most EANs in one yearly history export request (413 above).",
    )
    history_export_retention_days: int = Field(
        default=30,
        ge=1,
        le=366,
        description="Days a ready history export file is kept for download (410 after).",
    )
    history_export_dir: Path | None = Field(
        default=None,
        description="Where history export files are written; default `<data dir>/history-exports`. "
        "With several nodes, a directory every API node and worker mounts (a shared volume): "
        "a worker writes the file, any node serves it.",
    )
    max_page_size: int = Field(default=1000, ge=1, description="Largest `limit` on paged lists.")
    run_worker_in_process: bool = Field(
        default=True,
        description="Run a job worker inside each service process (turn off when separate "
        "`datahub-api worker` processes run the jobs).",
    )
    worker_concurrency: int = Field(
        default=4, ge=1, le=100, description="Jobs one worker runs at the same time."
    )
    worker_heartbeat_seconds: float = Field(
        default=10,
        gt=0,
        le=300,
        description="How often a job worker records in the database that it is alive.",
    )
    worker_stalled_seconds: float = Field(
        default=60,
        gt=0,
        le=3600,
        description="A worker whose last heartbeat is this old is taken for dead (killed, its "
        "machine lost): the jobs it was running go back to the queue for another worker. "
        "Keep it several heartbeats long.",
    )
    shutdown_delay_seconds: float = Field(
        default=5,
        ge=0,
        le=300,
        description="After SIGTERM, how long `serve` keeps taking requests while `/readyz` "
        "answers 503, so a load balancer takes the node out before it stops listening.",
    )
    shutdown_timeout_seconds: float = Field(
        default=30,
        gt=0,
        le=3600,
        description="Once `serve` stops listening, the longest it waits for the requests in "
        "flight to finish, and a stopping worker for its running jobs; those still running "
        "then are cancelled (a cancelled job's work is done again).",
    )
    webhook_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Webhook targets exempt from the https and public-address rules: "
        "`host` or `host:port` entries (for local receivers in development and tests).",
    )
    webhook_allowed_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(
        default_factory=list,
        description="Ports webhook targets may use besides 443 (for local receivers in "
        "development and tests; by default only 443).",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="How long one webhook delivery attempt may take."
    )
    webhook_retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: list(DEFAULT_WEBHOOK_RETRY_SCHEDULE_SECONDS),
        description="Waits before each retry of a failed webhook delivery (about 3 days in all); "
        "after the last one the delivery is given up.",
    )
    webhook_secret_overlap_hours: float = Field(
        default=24,
        ge=0,
        le=24 * 30,
        description="How long a rotated-out webhook secret keeps signing deliveries too.",
    )
    webhook_sweep_grace_seconds: float = Field(
        default=60,
        gt=0,
        description="A webhook delivery overdue by this much is enqueued again by the sweeper.",
    )
    smtp_url: SecretStr | None = Field(
        default=None,
        description="SMTP server the mails go through: `smtp://user:password@host:587` "
        "(STARTTLS, required when a user is given) or `smtps://user:password@host:465` "
        "(TLS from the start). Unset: each mail is written as an `.eml` file in the mail "
        "dir and listed on the operator's mail page.",
    )
    mail_from: str = Field(
        default="Datahub <datahub@localhost>",
        description="The From address of the service's mails.",
    )
    mail_dir: Path | None = Field(
        default=None,
        description="Where mails are written as `.eml` files when no SMTP server is set; "
        "default `<data dir>/mail`.",
    )
    mail_retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: [60.0, 300.0, 1800.0, 7200.0, 21600.0, 86400.0],
        description="Waits before each retry of a mail the SMTP server did not take (about "
        "1.5 days in all); after the last one the mail is given up.",
    )
    smtp_timeout_seconds: float = Field(
        default=30, gt=0, description="How long one SMTP conversation may take."
    )

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(
                "DATAHUB_SMTP_URL is smtp://[user:password@]host[:port] or smtps://..."
            )
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry.strip(), strict=False)  # ValueError names the entry
        return [entry.strip() for entry in value]

    @field_validator("database_url", "redis_url", "direct_database_url", "read_database_url")
    @classmethod
    def _empty_means_unset(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _pooled_needs_a_direct_url(self) -> Settings:
        if self.database_pooled and self.database_url and not self.direct_database_url:
            raise ValueError(
                "DATAHUB_DATABASE_POOLED needs DATAHUB_DIRECT_DATABASE_URL: LISTEN/NOTIFY and "
                "the job queue cannot go through a pooler in transaction mode"
            )
        return self

    @field_validator("sla_targets")
    @classmethod
    def _targets_over_defaults(cls, value: dict[str, SlaTarget]) -> dict[str, SlaTarget]:
        unknown = sorted(set(value) - set(DEFAULT_SLA_TARGETS))
        if unknown:
            raise ValueError(
                f"unknown SLA channel(s) {', '.join(unknown)}; known: "
                + ", ".join(DEFAULT_SLA_TARGETS)
            )
        return {**DEFAULT_SLA_TARGETS, **value}

    @property
    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.host}:{self.port}"

    @property
    def token_issuer(self) -> str:
        return self.token_issuer_url or self.base_url

    @property
    def token_endpoint_url(self) -> str:
        return self.token_url or f"{self.base_url.rstrip('/')}/oauth2/v2.0/token"

    @property
    def assertion_audiences(self) -> frozenset[str]:
        """The ``aud`` values a ``private_key_jwt`` assertion may name: from configuration
        only, so that an assertion minted for another authorization server never counts."""
        base = self.base_url.rstrip("/")
        return frozenset(
            {
                self.token_endpoint_url,
                f"{base}/oauth2/v2.0/token",
                f"{base}/oauth2/token",
                self.token_issuer,
            }
        )

    @property
    def read_database_urls(self) -> list[str]:
        """The replicas of ``read_database_url``, in the order given."""
        return [url.strip() for url in (self.read_database_url or "").split(",") if url.strip()]

    @property
    def embedded_pg_dir(self) -> Path:
        return self.data_dir / "pg"

    @property
    def history_exports_path(self) -> Path:
        return self.history_export_dir or self.data_dir / "history-exports"

    @property
    def mail_path(self) -> Path:
        return self.mail_dir or self.data_dir / "mail"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
