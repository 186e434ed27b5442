"""Password hashes of accounts: argon2id (RFC 9106), as produced by ``argon2-cffi``.

The hash string carries its own parameters and salt, so a hash made with other parameters
(older defaults, the demo's) still verifies; :func:`password_needs_rehash` says when a login
should store a fresh hash.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults: RFC 9106's low-memory profile (t=3, m=64 MiB, p=4).
_hasher = PasswordHasher()


def hash_password(plain: str) -> str:
    """A new salted argon2id hash of ``plain``."""
    return _hasher.hash(plain)


def verify_password(password_hash: str, plain: str) -> bool:
    """Whether ``plain`` is the password of ``password_hash``; False for a malformed hash."""
    try:
        return _hasher.verify(password_hash, plain)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than today's."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True
