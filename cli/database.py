"""The database as the operator commands use it: one short-lived connection, one transaction;
and PostgreSQL out of reach (or not the service's) said in one line, with what to set, instead
of a traceback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask import Flask, current_app
from sqlalchemy import Connection, make_url
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError

from devices.credentials import CredentialError
from settings import Settings, sqlalchemy_url
from storage.db import make_engine

T = TypeVar("T")


def app_settings() -> Settings:
    """The settings of the app the command runs in (`flask --app web`: web/app.py keeps them)."""
    settings: Settings = current_app.config["EV_SETTINGS"]
    return settings


def in_one_transaction(work: Callable[[Connection], T]) -> T:
    """`work` in one transaction, committed when it returns; a CredentialError is the command's
    error message."""
    engine = make_engine(app_settings(), pool_size=1)
    try:
        with engine.begin() as conn:
            return work(conn)
    except CredentialError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()


def say_unreachable_in_one_line(app: Flask) -> None:
    """Every operator command of the app: a database it cannot reach, or one that is not the
    service's, is one line that says so and what to set."""
    for command in app.cli.commands.values():
        command.invoke = _guarded(command.invoke)  # type: ignore[assignment, method-assign]


def _guarded(invoke: Callable[[click.Context], Any]) -> Callable[[click.Context], Any]:
    def guarded(ctx: click.Context) -> Any:
        try:
            return invoke(ctx)
        except (OperationalError, InterfaceError) as exc:
            raise click.ClickException(_unreachable(app_settings(), exc)) from None
        except ProgrammingError as exc:
            if getattr(exc.orig, "pgcode", None) != _UNDEFINED_TABLE:
                raise
            raise click.ClickException(
                f"The database at {_where(app_settings())} has none of the service's "
                "tables: it is another database, or not migrated yet (`make migrate`, or "
                f"`alembic upgrade head`). Set DATABASE_URL to the service's; {_WITH_MAKE_RUN}"
            ) from None

    return guarded


_WITH_MAKE_RUN = 'with `make run`, run the command as `make flask ARGS="..."`.'
_UNDEFINED_TABLE = "42P01"


def _where(settings: Settings) -> str:
    url = make_url(sqlalchemy_url(settings.database_url))
    return url.set(drivername="postgresql").render_as_string(hide_password=True)


def _unreachable(settings: Settings, exc: Exception) -> str:
    where = _where(settings)
    cause = str(getattr(exc, "orig", exc)).strip().splitlines()
    first = cause[0] if cause else type(exc).__name__
    return (
        f"PostgreSQL is not reachable at {where} ({first}). Set DATABASE_URL to the service's "
        f"database; {_WITH_MAKE_RUN}"
    )
