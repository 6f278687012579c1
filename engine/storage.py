"""Database access shared by the engine and the domain.

One `DatabaseProxy` is bound at start from a URL (`sqlite:///data/bot.db` or
`postgresql://...`). Every table is a subclass of `Table` (a peewee model; the name keeps it
apart from pydantic's `BaseModel`, which the settings and the API use), which records itself
in `ALL_MODELS` so schema creation and upgrades see every table without a hand-kept list.

Writes go through `write_tx()`: on SQLite it opens an IMMEDIATE transaction (a DEFERRED
read-then-write transaction fails with "database is locked" under concurrent writers:
SQLite cannot upgrade a read lock to a write lock while another writer waits, and
busy_timeout does not apply to that case); on PostgreSQL a plain transaction.

A PostgreSQL connection the server dropped (restart, `pg_terminate_backend`, a network
cut) is reopened by peewee's `ReconnectMixin` at the next statement or BEGIN outside a
transaction; a transaction it broke fails with its error. `is_database_error` names the
errors that say "the database is not usable right now" (SQLite busy/locked, disk full,
connection lost): callers keep their work and retry it, they never answer it with an
apology or give it up.
"""
from __future__ import annotations

import itertools
import logging
import os
import sqlite3
from contextlib import contextmanager
from urllib.parse import urlparse

import peewee
from playhouse.db_url import connect as _connect_url
from playhouse.db_url import parse as _parse_url
from playhouse.shortcuts import ReconnectMixin

__all__ = ["db", "Table", "ALL_MODELS", "connect", "write_tx", "is_sqlite",
           "is_postgres", "savepoint", "create_schema", "close", "lease_rows", "is_database_error",
           "ReconnectingPostgresqlDatabase"]

log = logging.getLogger(__name__)

db = peewee.DatabaseProxy()
_savepoints = itertools.count(1)          # savepoint names, unique in the process
ALL_MODELS: list[type[peewee.Model]] = []

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",     # WAL + NORMAL: durable at checkpoint, no fsync per commit
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "cache_size": -16000,
}


def _driver_errors() -> tuple[type[BaseException], ...]:
    """Driver errors that may escape peewee's wrapper (raised outside a statement)."""
    errors: list[type[BaseException]] = [sqlite3.OperationalError]
    try:
        import psycopg
    except ImportError:
        return tuple(errors)
    return (*errors, psycopg.OperationalError, psycopg.InterfaceError)


# OperationalError: locked/busy, disk full or I/O, connection lost, server shutting down;
# InterfaceError: a connection already closed. Not IntegrityError or ProgrammingError:
# those are answers about the data or the query, and retrying cannot change them.
DATABASE_ERRORS = (peewee.OperationalError, peewee.InterfaceError, *_driver_errors())


def is_database_error(error: BaseException) -> bool:
    """True when `error` (or the error it was raised `from`) says the database is unusable
    now. An action that wraps a driver error (`raise ActionError(...) from e`) counts too."""
    for _ in range(10):
        if error is None:
            return False
        if isinstance(error, DATABASE_ERRORS):
            return True
        error = error.__cause__
    return False


class ReconnectingPostgresqlDatabase(ReconnectMixin, peewee.PostgresqlDatabase):
    """PostgreSQL that reopens a connection the server dropped (psycopg 3's messages; the
    mixin ships MySQL's only). Outside a transaction the statement is retried once on the
    new connection; inside one the error is raised, since the work before it is lost."""
    reconnect_errors = (
        (peewee.OperationalError, "server closed the connection"),
        (peewee.OperationalError, "terminating connection"),
        (peewee.OperationalError, "connection not open"),
        (peewee.OperationalError, "could not receive data from server"),
        (peewee.OperationalError, "ssl syscall error"),
        (peewee.OperationalError, "consuming input failed"),
        (peewee.OperationalError, "the connection is closed"),
        (peewee.InterfaceError, "the connection is closed"),
        (peewee.InterfaceError, "connection already closed"),
    )


class Table(peewee.Model):
    """Base of every table; subclasses register themselves for schema management."""

    class Meta:
        database = db

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not getattr(cls._meta, "abstract", False) and cls not in ALL_MODELS:
            ALL_MODELS.append(cls)


def connect(url: str) -> peewee.Database:
    """Bind the shared proxy to the database at `url` and return the database."""
    url = url.strip()
    if url in ("sqlite://:memory:", "sqlite:///:memory:"):
        database = peewee.SqliteDatabase(":memory:", pragmas=SQLITE_PRAGMAS)
    elif url.startswith("sqlite"):
        path = urlparse(url).path
        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///"):]
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        database = peewee.SqliteDatabase(path, pragmas=SQLITE_PRAGMAS,
                                         check_same_thread=False)
    elif url.startswith(("postgres://", "postgresql://")):
        # prefer_psycopg3: the driver pyproject installs; peewee would fall back to psycopg2
        # only where someone installed it by hand
        database = ReconnectingPostgresqlDatabase(prefer_psycopg3=True, **_parse_url(url))
    else:
        database = _connect_url(url)
    db.initialize(database)
    log.info("database: %s", redact_url(url))
    return database


def redact_url(url: str) -> str:
    """The URL with any password replaced, fit for logs."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(":" + parsed.password + "@", ":***@")
    return url


def is_sqlite() -> bool:
    return isinstance(db.obj, peewee.SqliteDatabase)


def is_postgres() -> bool:
    return isinstance(db.obj, peewee.PostgresqlDatabase)


@contextmanager
def write_tx():
    """A write transaction: IMMEDIATE on SQLite, a plain one elsewhere. Nests as savepoints
    (see `savepoint`)."""
    if db.in_transaction():
        with savepoint():
            yield None
    elif is_sqlite():
        failure: list[BaseException] = []
        try:
            with db.atomic("IMMEDIATE") as tx:
                try:
                    yield tx
                except BaseException as e:
                    failure.append(e)
                    raise
        except peewee.OperationalError as e:
            raise _cause_of_failed_rollback(e, failure) from None
    else:
        with db.atomic() as tx:
            yield tx


@contextmanager
def savepoint():
    """A savepoint in the current transaction: a failure in the block undoes the block only.
    One statement, not peewee's two: the savepoint is never released (the transaction's
    end releases it; a nested one has a name of its own), so a block that succeeds costs
    only its SAVEPOINT: a round trip of every update on PostgreSQL."""
    name = f'"s{next(_savepoints)}"'
    db.execute_sql(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        if not db.is_closed() and db.in_transaction():
            db.execute_sql(f"ROLLBACK TO SAVEPOINT {name}")
        raise


def _cause_of_failed_rollback(error: peewee.OperationalError, failure: list) -> BaseException:
    """SQLite rolls a transaction back itself when a write or the COMMIT fails on a full
    disk or an I/O error; peewee's ROLLBACK after it then fails with "no transaction is
    active", and that error would hide the real cause from logs and reports. The cause."""
    if "no transaction is active" not in str(error):
        return error
    if failure:
        return failure[0]                    # the statement in the block failed
    cause = error.__context__                # the COMMIT failed
    while cause is not None and "no transaction is active" in str(cause):
        cause = cause.__context__
    return cause or error


def lease_rows(query: peewee.ModelSelect, *, status: str, until, **values) -> list:
    """Claim the rows `query` selects for one worker: lock them (SKIP LOCKED on PostgreSQL,
    so concurrent workers never take the same row), set `status` and `next_at=until` (the
    lease: a row not finished by then is due again), and any other `values` (who holds
    them) in the same one UPDATE. The model needs both fields."""
    model = query.model
    with write_tx():
        if is_postgres():
            query = query.for_update(skip_locked=True)
        rows = list(query)
        if rows:
            (model.update(status=status, next_at=until, **values)
             .where(model.id.in_([r.id for r in rows])).execute())
    return rows


def create_schema() -> None:
    """Create missing tables and indexes; safe to re-run (see helpdesk schema upgrades)."""
    db.create_tables(ALL_MODELS, safe=True)


def close() -> None:
    if db.obj is not None and not db.is_closed():
        db.close()

