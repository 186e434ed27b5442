"""EAN (GSRN) codes of access points: 18 digits, the last a GS1 check digit.

Belgian access points start with ``54`` (GS1 Belgium & Luxembourg). Use :func:`validated`
wherever an EAN enters the service, and :data:`Ean` in pydantic models.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

LENGTH = 18
BELGIAN_PREFIX = "54"
# The company prefix of the examples in Fluvius's documentation; demo EANs use it too.
DEMO_COMPANY_PREFIX = "5414488"


class InvalidEan(ValueError):
    """Not a valid (Belgian) EAN; the message says why."""


def check_digit(body: str) -> int:
    """The GS1 check digit of the first 17 digits: weights 3 and 1 alternate from the right."""
    if len(body) != LENGTH - 1 or not body.isdigit():
        raise InvalidEan(f"the body of an EAN has {LENGTH - 1} digits, not {body!r}")
    if body.isascii():  # every EAN that enters (ingest checks one per series): byte sums
        digits = body.encode()
        # An ASCII digit is 48 + its value; 9 digits weigh 3, the 8 between them 1.
        total = 3 * sum(digits[-1::-2]) + sum(digits[-2::-2]) - 48 * (3 * 9 + 8)
    else:  # other Unicode decimal digits, as int() reads them
        total = sum(
            int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(body[::-1])
        )
    return (10 - total % 10) % 10


def validated(raw: str, *, belgian: bool = True) -> str:
    """``raw`` without surrounding blanks when it is a valid EAN; else raise :class:`InvalidEan`."""
    ean = raw.strip()
    if not ean.isascii() or not ean.isdigit():
        raise InvalidEan(f"an EAN has only digits, not {raw!r}")
    if len(ean) != LENGTH:
        raise InvalidEan(f"an EAN has {LENGTH} digits, {raw!r} has {len(ean)}")
    if belgian and not ean.startswith(BELGIAN_PREFIX):
        raise InvalidEan(f"a Belgian EAN starts with {BELGIAN_PREFIX}, not {raw!r}")
    expected = check_digit(ean[:-1])
    if int(ean[-1]) != expected:
        raise InvalidEan(f"{raw!r} has a wrong check digit (expected {expected})")
    return ean


def is_valid(raw: str, *, belgian: bool = True) -> bool:
    try:
        validated(raw, belgian=belgian)
    except InvalidEan:
        return False
    return True


def make_ean(serial: int, *, company_prefix: str = DEMO_COMPANY_PREFIX) -> str:
    """A valid EAN for demo data and tests: the company prefix, ``serial`` zero-padded, check."""
    width = LENGTH - 1 - len(company_prefix)
    if serial < 0 or len(str(serial)) > width:
        raise ValueError(f"serial must have at most {width} digits")
    body = f"{company_prefix}{serial:0{width}d}"
    return body + str(check_digit(body))


def _text(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _checked(value: str) -> str:
    try:
        return validated(value)
    except InvalidEan as exc:
        raise ValueError(str(exc)) from None


Ean = Annotated[
    str,
    BeforeValidator(_text),
    AfterValidator(_checked),
    Field(
        # Documented only: the validator gives clearer messages than a pattern mismatch.
        json_schema_extra={"pattern": r"^54\d{16}$"},
        examples=["541448800000004312"],
        description="GSRN EAN of an access point: 18 digits, starts with 54, GS1 check digit.",
    ),
]
"""A pydantic string type that only admits valid Belgian EANs."""
