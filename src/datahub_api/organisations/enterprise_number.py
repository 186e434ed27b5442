"""Belgian enterprise numbers (ondernemingsnummer): ten digits, the last two a mod-97 check."""

from __future__ import annotations

import re

_SPELLING = re.compile(r"^(?:BE)?\s*([01])?(\d{3})\.?(\d{3})\.?(\d{3})$", re.IGNORECASE)


class InvalidEnterpriseNumber(ValueError):
    """Not a Belgian enterprise number."""


def canonical(raw: str) -> str:
    """``0123.456.749``, ``BE0123456749``, ``0123456749`` -> ``0123456749``; else raise."""
    text = raw.strip().replace(" ", "")
    match = _SPELLING.match(text)
    if not match:
        raise InvalidEnterpriseNumber(f"{raw!r} is not an enterprise number (10 digits)")
    first = match.group(1) or "0"
    digits = first + match.group(2) + match.group(3) + match.group(4)
    if len(digits) != 10:
        raise InvalidEnterpriseNumber(f"{raw!r} is not an enterprise number (10 digits)")
    body, check = int(digits[:8]), int(digits[8:])
    if 97 - body % 97 != check:
        raise InvalidEnterpriseNumber(f"{raw!r} has a wrong check number")
    return digits


def is_valid(raw: str) -> bool:
    try:
        canonical(raw)
    except InvalidEnterpriseNumber:
        return False
    return True


def formatted(number: str) -> str:
    """The printed form ``0123.456.749``."""
    return f"{number[:4]}.{number[4:7]}.{number[7:]}"


def from_body(body: int) -> str:
    """The enterprise number with the given first eight digits (below 2*10^7: starts 0/1)."""
    if not 0 <= body < 20_000_000:
        raise InvalidEnterpriseNumber("the first eight digits start with 0 or 1")
    return f"{body:08d}{97 - body % 97:02d}"
