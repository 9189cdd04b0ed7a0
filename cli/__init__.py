"""`flask --app web <command>`: the operator's commands. The periodic jobs are the same bodies
beat's tasks run (cli/jobs.py calls jobs.py); the rest provision devices (devices.py,
provisioning.py) and look at the stores (connections.py). Every command runs in the app's
settings (web/app.py keeps them) and says a database out of reach in one line (database.py)."""

from __future__ import annotations

from flask import Flask

from cli import jobs
from cli.connections import connections_command
from cli.database import say_unreachable_in_one_line
from cli.devices import devices_group


def register(app: Flask) -> None:
    for command in (
        jobs.refresh_efficiency,
        jobs.clear_metrics,
        jobs.maintain_partitions,
        jobs.dead_letters_group,
        jobs.chargers_group,
        devices_group,
        connections_command,
    ):
        app.cli.add_command(command)
    say_unreachable_in_one_line(app)
