"""Database access shared by the engine and the domain.

One `DatabaseProxy` is bound at start from a URL (`sqlite:///data/bot.db` or
`postgresql://...`). Every model subclasses `BaseModel`, which records itself in
`ALL_MODELS` so schema creation and upgrades see every table without a hand-kept list.

Writes go through `write_tx()`: on SQLite it opens an IMMEDIATE transaction (a DEFERRED
read-then-write transaction fails with "database is locked" under concurrent writers,
see ../shared/research/library-facts.md §3); on PostgreSQL a plain transaction.
"""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from urllib.parse import urlparse

import peewee
from playhouse.db_url import connect as _connect_url

__all__ = ["db", "BaseModel", "ALL_MODELS", "connect", "write_tx", "is_sqlite",
           "is_postgres", "create_schema", "close", "lease_rows"]

log = logging.getLogger(__name__)

db = peewee.DatabaseProxy()
ALL_MODELS: list[type[peewee.Model]] = []

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",     # WAL + NORMAL: durable at checkpoint, no fsync per commit
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "cache_size": -16000,
}


class BaseModel(peewee.Model):
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
    """A write transaction: IMMEDIATE on SQLite, a plain one elsewhere. Nests as savepoints."""
    if is_sqlite() and not db.in_transaction():
        with db.atomic("IMMEDIATE") as tx:
            yield tx
    else:
        with db.atomic() as tx:
            yield tx


def lease_rows(query: peewee.ModelSelect, *, status: str, until) -> list:
    """Claim the rows `query` selects for one worker: lock them (SKIP LOCKED on PostgreSQL,
    so concurrent workers never take the same row), set `status` and `next_at=until` (the
    lease: a row not finished by then is due again). The model needs both fields."""
    model = query.model
    with write_tx():
        if is_postgres():
            query = query.for_update(skip_locked=True)
        rows = list(query)
        if rows:
            model.update(status=status, next_at=until).where(model.id.in_([r.id for r in rows])).execute()
    return rows


def create_schema() -> None:
    """Create missing tables and indexes; safe to re-run (see helpdesk schema upgrades)."""
    db.create_tables(ALL_MODELS, safe=True)


def close() -> None:
    if db.obj is not None and not db.is_closed():
        db.close()

