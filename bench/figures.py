"""One measured figure, as every benchmark reports it and ``bench/results/*.json`` keeps it:
the value, the limit or baseline measured in the same run, their ratio and the target the
ratio is judged against."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    limit: float
    ratio: float
    target: float
    passed: bool
