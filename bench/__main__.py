"""`make bench`: runs every benchmark and writes bench/results/latest.json.

The figures arrive with the features they measure (meter data, SLA, exports); until then
this prints the machine it would measure on and an empty table, so the command never rots.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "latest.json"


def machine() -> str:
    cores = os.cpu_count()
    python = platform.python_version()
    return f"{platform.node()} {platform.machine()} {cores} cores, Python {python}"


def main() -> None:
    results: list[dict[str, object]] = []
    print(f"machine: {machine()}")
    print(f"{'figure':32} {'value':>12} {'limit':>12} {'ratio':>8} {'target':>10} passed")
    for row in results:
        print(row)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"machine": machine(), "date": datetime.now(UTC).isoformat(), "results": results},
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS} ({len(results)} figures; none defined yet)")


if __name__ == "__main__":
    main()
