"""The database as the operator commands use it: one short-lived connection, one transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click
from sqlalchemy import Connection

from models.credentials import CredentialError
from models.db import make_engine
from web.services import services

T = TypeVar("T")


def in_one_transaction(work: Callable[[Connection], T]) -> T:
    """`work` in one transaction, committed when it returns; a CredentialError is the command's
    error message."""
    engine = make_engine(services().settings, pool_size=1)
    try:
        with engine.begin() as conn:
            return work(conn)
    except CredentialError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
