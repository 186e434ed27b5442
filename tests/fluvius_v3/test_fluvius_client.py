"""The real PyPI client ``fluvius-energy-api`` 0.2.2 against this service, unchanged but for
its base URL and token URL: its README examples and its ``examples/`` scripts (mock mandate,
mandate polling, daily energy, the session link) and quarter-hours through its API.

The package declares Python 3.12 (``requires-python >=3.12``), newer than ours may be, so
it runs in its own virtual environment built once under ``.datahub-test/`` (under a file
lock, moved in when complete) from a Python 3.12 found on this machine
(``DATAHUB_TEST_PYTHON312``, ``python3.12`` on ``PATH``, or pyenv's versions); the scripts
run as subprocesses against the live test server. The README and the example scripts are
read from the package's sdist at test time (:func:`tests.fluvius_spec.sdist_path`): none of
the client's code is in this repository. Without a Python 3.12 the tests skip and say why.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tarfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.schemas import AccessPointFields
from datahub_api.auth.principal import ESP_SCOPES, Principal, Role
from datahub_api.mandates import service as mandates_service
from datahub_api.mandates.models import DataServiceType

from ..support.access_point_data import access_point_body
from ..support.environment import PROJECT_ROOT
from ..support.fluvius_spec import _locked, sdist_path
from ..support.live_server import LiveServer
from ..support.parties import Esp, make_esp

PACKAGE = "fluvius-energy-api==0.2.2"
VENV = PROJECT_ROOT / ".datahub-test" / "fluvius-client-0.2.2"
README_EAN = "541448800000004312"  # the README's EAN (a valid one: registered here)
FLUVIUS_SANDBOX_EAN = "541448860000000016"
EDDIE_EAN = "541440110000000001"
TIMEOUT = 240

# Points the client at the live server: its token URL and its base URL, nothing else.
DRIVER = """
import os, runpy, sys
import fluvius_energy_api.auth as auth
import fluvius_energy_api._http as http

base = os.environ["DATAHUB_BASE_URL"]
auth.AZURE_AD_TOKEN_URL = base + "/{tenant_id}/oauth2/v2.0/token".replace("/{tenant_id}", "")
original = http.HTTPClient.__init__

def ours(self, base_url, token_provider, timeout=30.0):
    original(self, base + "/v3", token_provider, timeout)

http.HTTPClient.__init__ = ours
target = sys.argv[1]
if target.endswith(".py"):
    sys.argv = sys.argv[1:]
    runpy.run_path(target, run_name="__main__")
else:
    exec(compile(open(target).read(), "readme", "exec"), {"__name__": "__main__"})
"""


def _python312() -> str | None:
    """A Python 3.12 interpreter of this machine, or None."""
    candidates = [os.environ.get("DATAHUB_TEST_PYTHON312", ""), shutil.which("python3.12") or ""]
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    for root in filter(None, roots):
        candidates += sorted(glob.glob(f"{root}/versions/3.12*/bin/python3.12"), reverse=True)
    candidates += ["/usr/bin/python3.12", "/usr/local/bin/python3.12"]
    for candidate in filter(None, candidates):
        try:
            answer = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if answer.returncode == 0 and answer.stdout.strip() == "True":
            return candidate
    return None


@pytest.fixture(scope="session")
def client_python() -> Path:
    """The Python of a virtual environment holding the real client (built once)."""
    ready = VENV / "bin" / "python"
    with _locked(VENV.parent / "fluvius-client.lock"):
        if not (VENV / ".complete").is_file():
            interpreter = _python312()
            if interpreter is None:
                pytest.skip(
                    "no Python 3.12 found (set DATAHUB_TEST_PYTHON312): fluvius-energy-api "
                    "0.2.2 requires Python >= 3.12"
                )
            # A venv's scripts name its own path, so it is built where it stays; the
            # marker written last says it is whole (a half-built one is made again).
            shutil.rmtree(VENV, ignore_errors=True)
            subprocess.run([interpreter, "-m", "venv", str(VENV)], check=True, timeout=120)
            subprocess.run(
                [str(ready), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 PACKAGE],
                check=True,
                timeout=600,
            )  # fmt: skip
            (VENV / ".complete").write_text(PACKAGE)
    return ready


@pytest.fixture(scope="session")
def client_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The client's README and ``examples/`` from its sdist."""
    into = tmp_path_factory.mktemp("fluvius-client-sources")
    with tarfile.open(sdist_path()) as tar:
        members = [
            m for m in tar.getmembers() if m.name.endswith("/README.md") or "/examples/" in m.name
        ]
        tar.extractall(into, members=members, filter="data")
    [root] = list(into.iterdir())
    (root / "driver.py").write_text(DRIVER)
    return root


def readme_block(root: Path, heading: str) -> str:
    """The first Python block under ``### heading`` of the client's README."""
    text = (root / "README.md").read_text()
    section = text.split(f"### {heading}\n", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None, heading
    return found.group(1)


def run(
    python: Path, root: Path, target: str, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), str(root / "driver.py"), target, *args],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(root), **env},
        timeout=TIMEOUT,
        cwd=root,
    )


def credentials(esp: Esp, server: LiveServer, *, prefix: str = "FLUVIUS") -> dict[str, str]:
    assert esp.contract_number is not None
    return {
        "DATAHUB_BASE_URL": server.url,
        "FLUVIUS_SUBSCRIPTION_KEY": "not-checked-in-tests",
        "FLUVIUS_CLIENT_ID": esp.client_id,
        "FLUVIUS_TENANT_ID": "datahub",
        "FLUVIUS_SCOPE": "api://datahub/.default",
        "FLUVIUS_DATA_ACCESS_CONTRACT_NUMBER": esp.contract_number,
        f"{prefix}_CLIENT_SECRET": esp.client_secret,
    }


def wait_until_known(server: LiveServer, esp: Esp) -> None:
    """The live server learns of a new ESP by PostgreSQL NOTIFY: wait for it."""
    deadline = time.monotonic() + 30
    while True:
        answer = httpx.post(
            f"{server.url}/oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "client_id": esp.client_id,
                  "client_secret": esp.client_secret},
        )  # fmt: skip
        if answer.status_code == 200:
            mandates = httpx.get(
                f"{server.url}/v3/api/mandate",
                headers={"Authorization": f"Bearer {answer.json()['access_token']}"},
            )
            if mandates.status_code in (200, 404):
                return
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.2)


@pytest.fixture
async def esp(app: FastAPI, live_server: LiveServer) -> Esp:
    made = await make_esp(app, "Client ESP")
    wait_until_known(live_server, made)
    return made


async def mandate(app: FastAPI, esp: Esp, ean: str, service: str, reference: str) -> None:
    principal = Principal(
        subject=esp.client_id, role=Role.esp, scopes=ESP_SCOPES, organisation_id=esp.organisation_id
    )
    async with app.state.database.write_sessions() as session:
        await mandates_service.make_sandbox_mandate(
            session,
            principal,
            mandates_service.MockMandate(
                reference_number=reference,
                ean=ean,
                data_service_type=DataServiceType(service),
                data_period_from=datetime(2023, 12, 31, 23, tzinfo=UTC),
                data_period_to=datetime(2030, 1, 1, tzinfo=UTC),
                status=None,
                expiration=None,
                renewal_status=None,
            ),
        )
        await session.commit()


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


async def test_the_sandbox_example_runs_unchanged(
    client_python: Path, client_sources: Path, live_server: LiveServer, esp: Esp
) -> None:
    """``examples/sample_sandbox.py``: a mock mandate on the client's sandbox test EAN, the
    mandates, daily energy of 1 to 9 January 2024, a client session."""
    out = ok(
        run(client_python, client_sources, str(client_sources / "examples/sample_sandbox.py"),
            credentials(esp, live_server, prefix="FLUVIUS_SANDBOX"))
    )  # fmt: skip
    # Its session is B2B without an enterpriseNumber, which this service refuses (400).
    assert "Error creating mandate" not in out, out
    assert "Error fetching energy data" not in out, out
    assert "Mandate created:" in out, out
    assert "Status: success" in out, out
    assert "EAN: 541450000000000001" in out, out
    assert "Status: Approved" in out, out
    assert "Daily measurements (9 days):" in out, out
    assert "Period: 2023-12-31 23:00:00+00:00 to 2024-01-01 23:00:00+00:00" in out, out
    assert "SANDBOX DEMO COMPLETE" in out, out


async def test_the_production_examples_poll_mandates_read_energy_and_make_a_session_link(
    app: FastAPI, client_python: Path, client_sources: Path, live_server: LiveServer, esp: Esp
) -> None:
    """``examples/sample.py`` (mandates, approved ones, daily energy of the first) and
    ``examples/create_session_link.py`` (a B2C session for ``VH_onbepaald``)."""
    await mandate(app, esp, FLUVIUS_SANDBOX_EAN, "VH_kwartier_uur", "production-example")
    env = credentials(esp, live_server)
    out = ok(run(client_python, client_sources, str(client_sources / "examples/sample.py"), env))
    assert "Found 1 mandate(s)" in out, out
    assert "Found 1 approved mandate(s)" in out, out
    assert f"FETCHING DAILY ENERGY DATA FOR EAN: {FLUVIUS_SANDBOX_EAN}" in out, out
    assert "Meter type: metering-on-headpoint-and-meter" in out, out
    assert "Daily measurements (9 days):" in out, out
    assert "Error fetching energy data" not in out, out
    link = ok(
        run(client_python, client_sources, str(client_sources / "examples/create_session_link.py"),
            env, "--reference", "link-1")
    )  # fmt: skip
    assert "Status: success" in link, link
    identifier = re.search(r"dienstverlener\?id=(\S+)", link)
    assert identifier is not None, link
    async with app.state.database.read_sessions() as session:
        made = await session.execute(
            text(
                "SELECT flow, reference_number FROM consent_sessions"
                " WHERE short_url_identifier = :id"
            ),
            {"id": identifier.group(1)},
        )
        assert made.one() == ("B2C", "link-1")


async def test_the_readme_examples_run_unchanged(
    app: FastAPI, client_python: Path, client_sources: Path, live_server: LiveServer, esp: Esp
) -> None:
    """The README's Get Mandates and Get Energy Data blocks (its EAN registered here), with
    checks of what came back appended."""
    async with app.state.database.write_sessions() as session:
        await access_points_service.put_access_point(
            session, README_EAN, AccessPointFields.model_validate(access_point_body())
        )
        await session.commit()
    await mandate(app, esp, README_EAN, "VH_kwartier_uur", "readme")
    env = credentials(esp, live_server)
    mandates = readme_block(client_sources, "Get Mandates")
    script = client_sources / "readme_mandates.py.txt"
    script.write_text(mandates + "\nassert len(response.data.mandates) == 1\nprint('checked')\n")
    out = ok(run(client_python, client_sources, str(script), env))
    assert f"EAN: {README_EAN}" in out, out
    assert "checked" in out, out
    energy = readme_block(client_sources, "Get Energy Data")
    script = client_sources / "readme_energy.py.txt"
    script.write_text(
        energy
        + "\n[meter] = headpoint.physical_meters"
        + "\ndays = meter.daily_energy"
        + "\nprint('days', len(days), days[0].start.isoformat(), days[-1].end.isoformat())\n"
    )
    out = ok(run(client_python, client_sources, str(script), env))
    # 1 January up to and including 31 May, in Brussels days.
    assert "days 152 2023-12-31T23:00:00+00:00 2024-05-31T22:00:00+00:00" in out, out


async def test_quarter_hours_through_the_client_on_an_eddie_sandbox_ean(
    client_python: Path, client_sources: Path, live_server: LiveServer, esp: Esp
) -> None:
    """The client's own ``create_mock_mandate`` and ``get_energy`` for the quarter-hours of
    the spring clock change, asked as the client writes instants (UTC with ``Z``)."""
    script = client_sources / "quarter_hours.py.txt"
    script.write_text(
        "from datetime import datetime\n"
        "from fluvius_energy_api import FluviusEnergyClient, FluviusCredentials, Environment,"
        " DataServiceType, MandateStatus, PeriodType\n"
        "credentials = FluviusCredentials.from_env(prefix='FLUVIUS_SANDBOX')\n"
        "with FluviusEnergyClient(credentials=credentials, environment=Environment.SANDBOX)"
        " as client:\n"
        f"    client.create_mock_mandate(reference_number='qh', ean='{EDDIE_EAN}',"
        " data_service_type=DataServiceType.VH_KWARTIER_UUR,"
        " data_period_from='2024-01-01T00:00:00Z', data_period_to='2030-12-31T23:59:59Z',"
        " status=MandateStatus.APPROVED)\n"
        f"    polled = client.get_mandates(ean='{EDDIE_EAN}',"
        " data_service_types=[DataServiceType.VH_KWARTIER_UUR],"
        " last_updated_from=datetime(2000, 1, 1))\n"
        "    print('mandates', len(polled.data.mandates))\n"
        f"    answer = client.get_energy(ean='{EDDIE_EAN}', period_type=PeriodType.READ_TIME,"
        " granularity='hourly_quarterhourly,daily', from_date=datetime(2024, 3, 31),"
        " to_date=datetime(2024, 4, 1))\n"
        "    point = answer.data.headpoint\n"
        "    print(point.type_discriminator, 'quarters', len(point.quarter_hourly_energy),"
        " 'days', len(point.daily_energy))\n"
    )
    out = ok(
        run(client_python, client_sources, str(script),
            credentials(esp, live_server, prefix="FLUVIUS_SANDBOX"))
    )  # fmt: skip
    assert "mandates 1" in out, out
    assert "metering-on-headpoint-and-meter quarters 92 days 1" in out, out
