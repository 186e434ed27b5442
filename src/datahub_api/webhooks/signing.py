"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

The secret is ``whsec_`` + base64 of random bytes; the signature of a message is
``v1,`` + base64(HMAC-SHA256(key = the decoded bytes, "{webhook-id}.{webhook-timestamp}.{body}")).
While a rotated-out secret still overlaps, messages carry both signatures, space-separated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(
    secrets_in_use: Iterable[str], message_id: str, timestamp: int, body: bytes
) -> str:
    return " ".join(sign(secret, message_id, timestamp, body) for secret in secrets_in_use)


def headers(
    secrets_in_use: Iterable[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_in_use, message_id, timestamp, body),
        "content-type": "application/json",
    }
