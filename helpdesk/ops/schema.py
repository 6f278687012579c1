"""Schema management: create the tables, and upgrade an existing database in place.

Every table is a `Table` subclass registered in `engine.storage.ALL_MODELS`; importing
the modules named in TABLE_MODULES makes that list complete. They are named, not found by
walking the packages, because a walk imports the transports too (python-telegram-bot,
FastAPI), and the console or a test that creates the schema needs none of them;
tests/helpdesk/ops/test_schema.py checks that a walk finds no table outside this list.

`upgrade()` compares the models with the database (db.get_tables / db.get_columns) and adds
what is missing: tables, columns (with playhouse.migrate), indexes. It never
drops or rewrites anything, so rows survive. A new column must be nullable or have a
default, since existing rows need a value.

Each change of the schema is recorded as a `schema_version` row: a counter, a fingerprint
of the models' tables and columns, and what was changed. A re-run with nothing to do adds
no row.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
from collections.abc import Iterable

import peewee as pw
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

from engine import storage
from engine.errors import BotError
from engine.storage import ALL_MODELS, Table, db, write_tx
from helpdesk.directory.tables import utcnow

__all__ = ["SchemaError", "SchemaVersion", "load_models", "init", "upgrade", "current_version",
           "TABLE_MODULES"]

log = logging.getLogger(__name__)

# Every module that defines a table (the engine keeps sessions, the outgoing queue, process
# health and the inbox); none of them imports a transport.
TABLE_MODULES = ("engine.session", "engine.outgoing", "engine.health", "engine.telegram.inbox",
                 "engine.telegram.forum",
                 "helpdesk.directory.tables", "helpdesk.registration.tables", "helpdesk.tickets.tables",
                 "helpdesk.payments.tables", "helpdesk.privacy.tables", "helpdesk.sync.outbox",
                 "helpdesk.sync.pull", "helpdesk.sync.references", "helpdesk.api.onec_record",
                 "helpdesk.desk.tables")
SCHEMA_LOCK_CLASS = 0x736368           # advisory lock space (two-int4 keys) of upgrades


class SchemaError(BotError):
    """The database cannot be brought to the models' schema; the message names table.column."""


class SchemaVersion(Table):
    version = pw.IntegerField()
    fingerprint = pw.CharField(max_length=64)
    applied = pw.DateTimeField(default=utcnow)
    changes = pw.TextField(default="[]")          # JSON list of what this upgrade did

    class Meta:
        table_name = "schema_version"


def load_models() -> list[type[pw.Model]]:
    """Import every module of TABLE_MODULES so each table registers; return them all."""
    for name in TABLE_MODULES:
        _import(name)
    return list(ALL_MODELS)


def _import(name: str) -> None:
    try:
        importlib.import_module(name)
    except Exception as e:
        raise SchemaError(f"cannot import {name} to collect its tables: {e}") from e


def init() -> list[str]:
    """Create every table that is missing; safe to re-run. Same path as upgrade()."""
    return upgrade()


def upgrade(models: Iterable[type[pw.Model]] | None = None) -> list[str]:
    """Bring the connected database to the models' schema without losing rows.

    Args:
        models: the tables to manage; default every registered one (see load_models).
    Returns:
        what was done, e.g. ["created table ticket", "added column counterparty.kpp"].
    """
    models = list(models) if models is not None else load_models()
    with _connected(), write_tx():
        if storage.is_postgres():     # workers starting together upgrade one after another
            db.execute_sql("SELECT pg_advisory_xact_lock(%s, 1)", (SCHEMA_LOCK_CLASS,))
        existing = set(db.get_tables())
        changes = _create_tables([m for m in models if _table(m) not in existing])
        changes += _add_columns([m for m in models if _table(m) in existing])
        db.create_tables(models, safe=True)       # indexes of the new columns, if any
        _record(models, changes)
    for change in changes:
        log.info("schema: %s", change)
    return changes


def current_version() -> int:
    """The recorded schema version; 0 for a database never initialised."""
    with _connected():
        if "schema_version" not in db.get_tables():
            return 0
        last = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
        return last.version if last else 0


@contextlib.contextmanager
def _connected():
    if db.obj is None:
        raise SchemaError("no database connected: call engine.storage.connect(url) first")
    with db.connection_context() if db.is_closed() else contextlib.nullcontext():
        yield


def _table(model) -> str:
    return model._meta.table_name


def _create_tables(models: list) -> list[str]:
    db.create_tables(models, safe=True)
    return [f"created table {_table(m)}" for m in models]


def _add_columns(models: list) -> list[str]:
    migrator = _migrator()
    changes = []
    for model in models:
        present = {c.name for c in db.get_columns(_table(model))}
        for field in model._meta.sorted_fields:
            if field.column_name not in present:
                migrate(*_add_column_ops(migrator, model, field))
                changes.append(f"added column {_table(model)}.{field.column_name}")
    return changes


def _migrator():
    if storage.is_sqlite():
        return SqliteMigrator(db.obj)
    if storage.is_postgres():
        return PostgresqlMigrator(db.obj)
    raise SchemaError(f"schema upgrades support SQLite and PostgreSQL, not {type(db.obj).__name__}")


def _add_column_ops(migrator, model, field) -> list:
    where = f"{_table(model)}.{field.column_name}"
    if not field.null and field.default is None:
        raise SchemaError(f"{where}: a new column needs null=True or a default, "
                          "existing rows have no value for it")
    if isinstance(field, pw.ForeignKeyField) and not field.null:
        raise SchemaError(f"{where}: a new foreign key column must be nullable")
    # Indexes come from create_tables() afterwards, named as a fresh database names them
    # (the migrator's own names differ when table_name differs from the class name).
    column = field.clone()
    column.index = column.unique = False
    table = _table(model)
    if storage.is_sqlite() and not field.null:
        # SQLite cannot add NOT NULL in place (peewee would copy the whole table); the
        # column stays nullable, the default fills old rows and the model fills new ones.
        column.null = True
        return [migrator.add_column(table, field.column_name, column),
                migrator.apply_default(table, field.column_name, field)]
    return [migrator.add_column(table, field.column_name, column)]


def _fingerprint(models: list) -> str:
    shape = sorted(f"{_table(m)}.{f.column_name}:{f.field_type}"
                   for m in models for f in m._meta.sorted_fields)
    return hashlib.sha256("\n".join(shape).encode()).hexdigest()


def _record(models: list, changes: list[str]) -> None:
    if SchemaVersion not in models and "schema_version" not in db.get_tables():
        SchemaVersion.create_table(safe=True)
    last = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    fingerprint = _fingerprint(models)
    if last is None or last.fingerprint != fingerprint or changes:
        SchemaVersion.create(version=(last.version if last else 0) + 1,
                             fingerprint=fingerprint, changes=json.dumps(changes, ensure_ascii=False))
