"""The keys that sign access tokens: generated into the data dir, rotated, published as JWKS.

Keys are RSA 2048 PEM files in ``<data dir>/keys/``, named ``<created>-<kid>.pem``; the
newest signs, the others still verify until their tokens have expired (``keys rotate``
keeps the previous key). Several processes share the folder: a key is written under a
temporary name and renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk

KEY_DIR_NAME = "keys"
ALGORITHM = "RS256"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    created: int
    private_pem: bytes
    public_jwk: dict[str, str]

    @property
    def public_pem(self) -> bytes:
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _load(path: Path) -> SigningKey:
    private_pem = path.read_bytes()
    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA private key")
    numbers = key.public_key().public_numbers()
    public = {"kty": "RSA", "e": _b64url_uint(numbers.e), "n": _b64url_uint(numbers.n)}
    # RFC 7638 thumbprint as key id.
    canonical = json.dumps(public, separators=(",", ":"), sort_keys=True).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    created = int(path.name.split("-", 1)[0])
    return SigningKey(
        kid=kid,
        created=created,
        private_pem=private_pem,
        public_jwk={**public, "kid": kid, "use": "sig", "alg": ALGORITHM},
    )


def generate_key(key_dir: Path) -> Path:
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    created = time.time_ns()
    temporary = key_dir / f".{created}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    final = key_dir / f"{created}-key.pem"
    temporary.rename(final)
    return final


class Keyring:
    """The signing key (newest) and every key still trusted for verification."""

    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self.keys = sorted(keys, key=lambda k: k.created)
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
        paths = sorted(key_dir.glob("*-key.pem")) if key_dir.exists() else []
        if not paths and create:
            paths = [generate_key(key_dir)]
        return cls([_load(path) for path in paths])


def rotate(key_dir: Path, keep: int = 2) -> SigningKey:
    """Make a new signing key; keep the previous ``keep - 1`` for tokens still in flight."""
    new = _load(generate_key(key_dir))
    paths = sorted(key_dir.glob("*-key.pem"))
    for old in paths[:-keep]:
        old.unlink()
    return new


class KeyStore:
    """The keyring of a key folder, reloaded when the folder changes (``keys rotate`` in
    another process): checked at most once a second, by the folder's modification time."""

    CHECK_INTERVAL_SECONDS = 1.0

    def __init__(self, key_dir: Path) -> None:
        self.key_dir = key_dir
        self._keyring = Keyring.from_directory(key_dir)
        self._mtime = self._folder_mtime()
        self._checked = time.monotonic()

    def _folder_mtime(self) -> int:
        try:
            return self.key_dir.stat().st_mtime_ns
        except OSError:
            return 0

    @property
    def keyring(self) -> Keyring:
        now = time.monotonic()
        if now - self._checked >= self.CHECK_INTERVAL_SECONDS:
            self._checked = now
            mtime = self._folder_mtime()
            if mtime != self._mtime:
                self._mtime = mtime
                self._keyring = Keyring.from_directory(self.key_dir)
        return self._keyring
