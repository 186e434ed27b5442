"""The app-wide ETag helper and the account password hashes."""

from __future__ import annotations

import pytest

from datahub_api.accounts.passwords import hash_password, password_needs_rehash, verify_password
from datahub_api.http_caching import etag_of, matches_if_none_match


def test_etag_follows_the_body() -> None:
    assert etag_of(b"a") == etag_of(b"a")
    assert etag_of(b"a") != etag_of(b"b")
    assert etag_of(b"a").startswith('"')
    assert etag_of(b"a").endswith('"')


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ("", False),
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ('"x","y"', False),
        ("*", True),
        ("abc", False),
    ],
)
def test_if_none_match(header: str | None, matches: bool) -> None:
    assert matches_if_none_match(header, '"abc"') is matches


def test_password_hashes() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert hashed != hash_password("correct horse")  # salted
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password("not a hash", "correct horse")
    assert not password_needs_rehash(hashed)
    assert password_needs_rehash("not a hash")
