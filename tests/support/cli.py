"""Running the command line as a user does: `python -m datahub_api.cli` in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith("DATAHUB_") and k != "DATABASE_URL"
    }
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "datahub_api.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )
