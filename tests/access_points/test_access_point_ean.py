"""EAN (GSRN) validation and the maker of valid demo EANs."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from datahub_api.access_points import ean
from datahub_api.access_points.ean import Ean, InvalidEan


def test_fluvius_example_is_valid() -> None:
    assert ean.validated("541448800000004312") == "541448800000004312"
    assert ean.validated(" 541448800000004312 ") == "541448800000004312"
    assert ean.check_digit("54144880000000431") == 2


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("541448800000004313", "wrong check digit (expected 2)"),
        ("54144880000000431", "18 digits"),
        ("5414488000000043122", "18 digits"),
        ("54144880000000431A", "only digits"),
        ("", "only digits"),
        ("\uff1541448800000004312", "only digits"),  # a full-width five is no ASCII digit
        ("871687120000000012", "starts with 54"),
    ],
)
def test_invalid_eans_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidEan, match=reason.replace("(", r"\(").replace(")", r"\)")):
        ean.validated(raw)
    assert not ean.is_valid(raw)


def test_foreign_ean_is_valid_when_not_asked_to_be_belgian() -> None:
    body = "87168712000000001"
    foreign = body + str(ean.check_digit(body))
    assert ean.is_valid(foreign, belgian=False)
    assert not ean.is_valid(foreign)


def test_made_eans_are_valid_belgian_and_distinct() -> None:
    made = {ean.make_ean(serial) for serial in range(2_000)}
    assert len(made) == 2_000
    assert all(ean.is_valid(code) and code.startswith("5414488") for code in made)
    assert ean.make_ean(431) == "541448800000004312"
    with pytest.raises(ValueError, match="at most 10 digits"):
        ean.make_ean(10**10)


def test_every_single_digit_change_is_caught() -> None:
    valid = "541448800000004312"
    for position in range(18):
        for digit in "0123456789":
            if digit != valid[position]:
                changed = valid[:position] + digit + valid[position + 1 :]
                if changed.startswith("54"):
                    assert not ean.is_valid(changed), changed


class _Holder(BaseModel):
    ean: Ean


def test_pydantic_type_gives_the_reason() -> None:
    assert _Holder(ean="541448800000004312").ean == "541448800000004312"
    with pytest.raises(ValidationError, match="wrong check digit"):
        _Holder(ean="541448800000004313")
