"""The keys that sign access tokens, shared by every node: made once, rotated, published as JWKS.

Two stores, chosen by settings:

* **the database** (the default): every node reads the table ``signing_keys``; the private keys
  are encrypted at rest with Fernet under the key-encryption key(s) of
  ``DATAHUB_KEY_ENCRYPTION_KEY`` (without it: a key kept in ``<data dir>/key-encryption.key``,
  which only suits one machine). The first node to start makes the first key; nodes starting
  together race for generation 1 and the primary key picks one winner, the others read it.
* **a key folder** (``DATAHUB_SIGNING_KEY_DIR``, e.g. a mounted secret): RSA 2048 PEM files
  named ``<created ns>-key.pem``, only read by the nodes; ``keys rotate`` writes a new file.

The newest key signs; older keys verify until the tokens they signed have expired, then
``keys rotate`` drops them. Every node re-reads its store when it changed, checked at most
once a second (and at once for a token naming a key id it has not seen), so a rotation reaches
every node within a second, without a restart.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk

from datahub_api.auth import repository
from datahub_api.db import Database
from datahub_api.errors import ServiceUnavailable
from datahub_api.settings import Settings

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"
KEY_ENCRYPTION_KEY_FILE = "key-encryption.key"
# A retired key is kept this much longer than the tokens it signed can live: clock skew, the
# second a node may keep signing with it before it sees the rotation, and some slack.
RETENTION_MARGIN_SECONDS = 120


class KeyringError(Exception):
    """The signing keys cannot be used; the message says what the operator must fix."""


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    order: int  # higher is newer: a database key's generation, a key file's creation time
    private_pem: bytes
    public_jwk: dict[str, str]

    @property
    def public_pem(self) -> bytes:
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def signing_key(private_pem: bytes, order: int) -> SigningKey:
    """The key of a PEM, with its RFC 7638 thumbprint as key id."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyringError("a signing key is not an RSA private key")
    numbers = key.public_key().public_numbers()
    public = {"kty": "RSA", "e": _b64url_uint(numbers.e), "n": _b64url_uint(numbers.n)}
    canonical = json.dumps(public, separators=(",", ":"), sort_keys=True).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return SigningKey(
        kid=kid,
        order=order,
        private_pem=private_pem,
        public_jwk={**public, "kid": kid, "use": "sig", "alg": ALGORITHM},
    )


def new_private_pem() -> bytes:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def retention_seconds(settings: Settings) -> float:
    """How long a retired key keeps verifying: its last tokens must have expired."""
    return settings.access_token_lifetime_seconds + RETENTION_MARGIN_SECONDS


class Keyring:
    """The signing key (newest) and every key still trusted for verification."""

    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self.keys = sorted(keys, key=lambda k: k.order)
        self.by_kid = {key.kid: key for key in self.keys}
        self._verifiers = {key.kid: jwk.construct(key.public_jwk, ALGORITHM) for key in self.keys}
        # Tokens these keys verified (see tokens.verify); a new keyring starts empty.
        self.verified: OrderedDict[tuple[str, str], Any] = OrderedDict()

    @property
    def current(self) -> SigningKey:
        return self.keys[-1]

    def verifier(self, kid: str) -> Any | None:
        return self._verifiers.get(kid)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [key.public_jwk for key in reversed(self.keys)]}

    @classmethod
    def from_directory(cls, key_dir: Path, *, create: bool = True) -> Keyring:
        keys = read_directory(key_dir)
        if not keys and create:
            keys = [_load_file(generate_key_file(key_dir))]
        return cls(keys)


# --- the key-encryption key of the database store ----------------------------------------


class KeyCipher:
    """Encrypts private keys for the database (Fernet: AES-128-CBC with HMAC-SHA256). The
    first key encrypts; every key listed decrypts, so the key-encryption key can be rotated
    by listing the new one first (``keys reencrypt`` then rewrites the rows)."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise KeyringError("no key-encryption key")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except (ValueError, TypeError):
            raise KeyringError(
                "DATAHUB_KEY_ENCRYPTION_KEY must be one or more Fernet keys (32 url-safe "
                "base64-encoded bytes each, comma-separated); make one with "
                "`datahub-api keys new-encryption-key`"
            ) from None

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        try:
            return self._fernet.decrypt(ciphertext)
        except InvalidToken:
            raise KeyringError(
                "the signing keys in the database were encrypted with another key-encryption "
                "key: give every node the same DATAHUB_KEY_ENCRYPTION_KEY"
            ) from None

    def reencrypt(self, ciphertext: bytes) -> bytes:
        try:
            return self._fernet.rotate(ciphertext)
        except InvalidToken:
            raise KeyringError(
                "a signing key cannot be decrypted with any DATAHUB_KEY_ENCRYPTION_KEY"
            ) from None

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyCipher:
        configured = settings.key_encryption_key
        if configured is not None and configured.get_secret_value().strip():
            parts = configured.get_secret_value().split(",")
            return cls([part.strip().encode() for part in parts if part.strip()])
        return cls([local_key_encryption_key(settings.data_dir)])


def local_key_encryption_key(data_dir: Path) -> bytes:
    """The data dir's own key-encryption key, made on first use (for one machine only).
    Processes starting together race to link their new key into place: one wins, and all
    read the winner's."""
    path = data_dir / KEY_ENCRYPTION_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = data_dir / f".{KEY_ENCRYPTION_KEY_FILE}.{os.getpid()}.{time.time_ns()}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(Fernet.generate_key())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_bytes().strip()


# --- where the keys are kept --------------------------------------------------------------


class KeySource(Protocol):
    """A store of signing keys that every node reads."""

    async def stamp(self) -> Hashable:
        """Something that changes whenever keys are added or dropped (cheap to ask)."""

    async def load(self) -> list[SigningKey]:
        """Every key kept (making the first one where the store may)."""


LEGACY_KEY_DIR_NAME = "keys"  # where a node kept its own keys before they moved to the database


class DatabaseKeys:
    """The keys in the ``signing_keys`` table, read on the primary. An empty table takes the
    keys of ``legacy_dir`` (``<data dir>/keys`` of an older version) if there are any, so
    that the tokens in flight during the upgrade stay valid."""

    def __init__(
        self, database: Database, cipher: KeyCipher, legacy_dir: Path | None = None
    ) -> None:
        self.database = database
        self.cipher = cipher
        self.legacy_dir = legacy_dir

    async def stamp(self) -> Hashable:
        async with self.database.write_sessions() as session:
            return await repository.signing_keys_stamp(session)

    async def load(self) -> list[SigningKey]:
        for _ in range(3):
            async with self.database.write_sessions() as session:
                stored = await repository.signing_keys(session)
            if stored:
                return [
                    signing_key(self.cipher.decrypt(row.private_key_encrypted), row.generation)
                    for row in stored
                ]
            # An empty store: propose the first key(s); a node that got there first wins.
            if not await self._import_legacy():
                await self._add(1)
        raise KeyringError("no signing key could be stored in the database")

    async def rotate(self, retain_seconds: float) -> SigningKey:
        """Add the next generation (the new signing key) and drop the keys retired longer
        ago than ``retain_seconds``. A rotation racing another one retries on top of it."""
        for _ in range(5):
            async with self.database.write_sessions() as session:
                _, newest, _ = await repository.signing_keys_stamp(session)
            added = await self._add(newest + 1, retain_seconds)
            if added is not None:
                return added
        raise KeyringError("the signing keys kept changing during the rotation; try again")

    async def _add(self, generation: int, retain_seconds: float | None = None) -> SigningKey | None:
        key = signing_key(await asyncio.to_thread(new_private_pem), generation)
        async with self.database.write_sessions() as session:
            stored = await repository.add_signing_key(
                session,
                generation=generation,
                kid=key.kid,
                public_jwk=key.public_jwk,
                private_key_encrypted=self.cipher.encrypt(key.private_pem),
            )
            if stored and retain_seconds is not None:
                before = datetime.now(UTC) - timedelta(seconds=retain_seconds)
                await repository.drop_signing_keys_retired_before(session, before)
            await session.commit()
        return key if stored else None

    async def _import_legacy(self) -> bool:
        """Store the legacy folder's keys as the first generations; False if it has none."""
        found = read_directory(self.legacy_dir) if self.legacy_dir is not None else []
        if not found:
            return False
        async with self.database.write_sessions() as session:
            for generation, key in enumerate(found, start=1):
                stored = await repository.add_signing_key(
                    session,
                    generation=generation,
                    kid=key.kid,
                    public_jwk=key.public_jwk,
                    private_key_encrypted=self.cipher.encrypt(key.private_pem),
                )
                if not stored:  # another node filled the table first
                    await session.rollback()
                    return True
            await session.commit()
        logger.info(
            "moved %d signing key(s) from %s into the database", len(found), self.legacy_dir
        )
        return True

    async def reencrypt(self) -> int:
        """Rewrite every stored key under the first key-encryption key; how many."""
        async with self.database.write_sessions() as session:
            stored = await repository.signing_keys(session)
            for row in stored:
                row.private_key_encrypted = self.cipher.reencrypt(row.private_key_encrypted)
            await session.commit()
        return len(stored)


def _load_file(path: Path) -> SigningKey:
    try:
        return signing_key(path.read_bytes(), int(path.name.split("-", 1)[0]))
    except (ValueError, KeyringError) as exc:
        raise KeyringError(f"{path} is not a signing key file ({exc})") from None


def read_directory(key_dir: Path) -> list[SigningKey]:
    paths = sorted(key_dir.glob("*-key.pem")) if key_dir.exists() else []
    return [_load_file(path) for path in paths]


def generate_key_file(key_dir: Path) -> Path:
    """A new key file, written under a temporary name and renamed into place so that a
    reader never sees half a file."""
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = new_private_pem()
    created = time.time_ns()
    temporary = key_dir / f".{created}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    final = key_dir / f"{created}-key.pem"
    temporary.rename(final)
    return final


def rotate_directory(key_dir: Path, retain_seconds: float) -> SigningKey:
    """Write a new signing key file; drop the files retired (superseded) longer ago than
    ``retain_seconds``: a file is retired when the next one was made."""
    new = _load_file(generate_key_file(key_dir))
    paths = sorted(key_dir.glob("*-key.pem"))
    now_ns = time.time_ns()
    for old, successor in itertools.pairwise(paths):
        retired_ns = int(successor.name.split("-", 1)[0])
        if now_ns - retired_ns > retain_seconds * 1e9:
            old.unlink()
    return new


class DirectoryKeys:
    """The key files of a folder the nodes only read (a mounted secret)."""

    def __init__(self, key_dir: Path) -> None:
        self.key_dir = key_dir

    async def stamp(self) -> Hashable:
        try:
            entries = sorted(
                (entry.name, entry.stat().st_mtime_ns, entry.stat().st_size)
                for entry in os.scandir(self.key_dir)
                if entry.name.endswith("-key.pem")
            )
        except OSError:
            return ()
        return tuple(entries)

    async def load(self) -> list[SigningKey]:
        keys = read_directory(self.key_dir)
        if not keys:
            raise KeyringError(
                f"no signing key in {self.key_dir} (DATAHUB_SIGNING_KEY_DIR): mount one, or "
                "make one with `datahub-api keys rotate`"
            )
        return keys


def key_source(settings: Settings, database: Database) -> DatabaseKeys | DirectoryKeys:
    """The store the settings name: a key folder when set, else the database."""
    if settings.signing_key_dir is not None:
        return DirectoryKeys(settings.signing_key_dir)
    return DatabaseKeys(
        database, KeyCipher.from_settings(settings), settings.data_dir / LEGACY_KEY_DIR_NAME
    )


def warn_if_the_key_encryption_key_is_local(settings: Settings) -> None:
    """On a database other nodes may share, a key-encryption key of this machine's own would
    leave them unable to read the keys: say so at start."""
    if settings.signing_key_dir is None and settings.key_encryption_key is None:
        logger.warning(
            "DATAHUB_KEY_ENCRYPTION_KEY is not set: the signing keys in the database are "
            "encrypted with %s, which other machines do not have; set the same key on every "
            "node (see docs/operations.md, Keys and secrets across nodes)",
            settings.data_dir / KEY_ENCRYPTION_KEY_FILE,
        )


class KeyStore:
    """This node's copy of the keyring, re-read when the store changed (``keys rotate`` on
    any machine): checked at most once a second, by the store's stamp."""

    CHECK_INTERVAL_SECONDS = 1.0
    # A token naming a key id this node has not seen asks the store sooner (a key made on
    # another node a moment ago), but not more often than this, whatever a caller sends.
    UNKNOWN_KEY_CHECK_SECONDS = 0.2

    def __init__(self, source: KeySource) -> None:
        self.source = source
        self._keyring: Keyring | None = None
        self._stamp: Hashable = None
        self._checked = 0.0
        self._lock = asyncio.Lock()

    async def open(self) -> KeyStore:
        """Load the keys (making the first one in an empty database). Keys that cannot be
        decrypted stop the start (a setting to fix); a database not reachable (or not
        migrated) yet does not: the keys are loaded on first use, and until then the
        requests that need them answer 503, like every other database-bound request."""
        try:
            await self._load()
        except KeyringError:
            raise
        except Exception as exc:
            logger.warning("signing keys not loaded yet, retried on first use: %r", exc)
        return self

    async def _load(self) -> None:
        stamp = await self.source.stamp()
        self._keyring = Keyring(await self.source.load())
        self._stamp = stamp
        self._checked = time.monotonic()

    @property
    def keyring(self) -> Keyring:
        """The keyring as last read (no I/O)."""
        if self._keyring is None:
            raise RuntimeError("the signing keys are not loaded")
        return self._keyring

    async def current(self) -> Keyring:
        """The keyring, re-read first if the store changed (asked at most once a second)."""
        if self._keyring is None:
            async with self._lock:
                if self._keyring is None:
                    try:
                        await self._load()
                    except KeyringError as exc:
                        logger.error("the signing keys cannot be used: %s", exc)
                        raise ServiceUnavailable(
                            "The service cannot sign or check tokens right now.",
                            headers={"Retry-After": "30"},
                        ) from None
        elif time.monotonic() - self._checked >= self.CHECK_INTERVAL_SECONDS:
            await self.refresh()
        return self.keyring

    async def knowing(self, kid: str) -> Keyring:
        """The keyring, re-read soon if it lacks ``kid``."""
        keyring = await self.current()
        if kid in keyring.by_kid:
            return keyring
        if time.monotonic() - self._checked >= self.UNKNOWN_KEY_CHECK_SECONDS:
            await self.refresh()
        return self.keyring

    async def refresh(self) -> None:
        """Re-read the store if its stamp moved. A store that cannot be read (database
        away, a key that does not decrypt) leaves the keyring as it was, with a log line."""
        self._checked = time.monotonic()
        async with self._lock:
            try:
                stamp = await self.source.stamp()
                if stamp != self._stamp:
                    self._keyring = Keyring(await self.source.load())
                    self._stamp = stamp
                    logger.info("signing keys reloaded; signing with %s", self.keyring.current.kid)
            except Exception as exc:  # the keys in hand keep working
                logger.warning("could not re-read the signing keys: %s", exc)
