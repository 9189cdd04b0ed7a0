"""`flask --app web connections`: whether a deployment's processes fit in PostgreSQL's
connections (docs/SCALING.md, "Connections")."""

from __future__ import annotations

import click
from sqlalchemy.exc import SQLAlchemyError

from cli.database import app_settings
from storage import connections
from storage.db import make_engine


@click.command("connections")
@click.option("--web", "webs", default=1, show_default=True, help="`web` processes (containers).")
@click.option("--workers", default=1, show_default=True, help="`worker` processes (containers).")
@click.option("--ocpp", default=1, show_default=True, help="`ocpp` processes.")
@click.option(
    "--worker-pool", default="prefork", show_default=True, help="The workers' Celery pool."
)
def connections_command(webs: int, workers: int, ocpp: int, worker_pool: str) -> None:
    """The most each process may open with these settings, their sum, and what PostgreSQL
    allows; exits 1 when they do not fit."""
    settings = app_settings()
    concurrency = settings.worker_processes
    parts = [
        ("web", webs, connections.web_most(settings)),
        ("worker", workers, connections.worker_most(concurrency, worker_pool)),
        ("ocpp", ocpp, connections.ocpp_most()),
    ]
    for name, count, most in parts:
        click.echo(f"{name:<7} {count:>3} x {most:>4} = {count * most:>5}")
    total = sum(count * most for _, count, most in parts)
    click.echo(f"{'total':<7} {total:>18}")
    engine = make_engine(settings, pool_size=1, application_name="ev-cli")
    try:
        with engine.connect() as conn:
            at = connections.server(conn)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"PostgreSQL could not be asked: {exc}") from exc
    finally:
        engine.dispose()
    click.echo(
        f"PostgreSQL allows {at.usable} (max_connections {at.max_connections} less "
        f"{at.reserved} reserved); {at.in_use} open now"
    )
    if total > at.usable:
        raise click.ClickException(
            f"{total} do not fit in {at.usable}: lower the processes or their settings, raise "
            'max_connections, or put PgBouncer in front (docs/SCALING.md, "Connections")'
        )
    click.echo(f"fits, {at.usable - total} to spare for migrations and the CLI")
