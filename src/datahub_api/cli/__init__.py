"""The `datahub-api` command line: this module builds the command table; each command lives
in the module of its group and imports what it needs when it runs, so ``--help`` stays fast.

- ``database``: migrate, seed-demo, db-url, db-stop
- ``processes``: serve, worker (``welcome``: what serve prints)
- ``data_files``: access-points import, ingest
- ``openapi_spec``: openapi
- ``sla``: sla report
- ``operators``: organisations, contracts, clients, keys (the operator's commands)
- ``support``: what they share (settings, errors, the database, progress)

``python -m datahub_api.cli`` runs it too (``__main__``).
"""

from __future__ import annotations

import sys

import typer

from datahub_api.cli import data_files, database, openapi_spec, processes, sla
from datahub_api.cli.operators import clients_cli, contracts_cli, keys_cli, organisations_cli

cli = typer.Typer(
    name="datahub-api",
    help="A DSO's metering-data hub for energy service providers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cli.command()(database.migrate)
cli.command("seed-demo")(database.seed_demo)
cli.command("db-url")(database.db_url)
cli.command("db-stop")(database.db_stop)
cli.command()(openapi_spec.openapi)
cli.add_typer(data_files.access_points_cli, name="access-points")
cli.command("ingest")(data_files.ingest_readings)
cli.command()(processes.serve)
cli.command()(processes.worker)
cli.add_typer(organisations_cli, name="organisations")
cli.add_typer(contracts_cli, name="contracts")
cli.add_typer(clients_cli, name="clients")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(sla.sla_cli, name="sla")


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
