"""Schema management: create the tables, and upgrade an existing database in place.

Every table is a `Table` subclass registered in `engine.storage.ALL_MODELS`; importing
the modules named in TABLE_MODULES makes that list complete. They are named, not found by
walking the packages, because a walk imports the transports too (python-telegram-bot,
FastAPI), and the console or a test that creates the schema needs none of them;
tests/helpdesk/ops/test_schema.py checks that a walk finds no table outside this list.

Schema changes are peewee-migrate migrations, modules of `helpdesk/ops/migrations/`
(`001_baseline.py`, `002_...`), written by `python run.py db makemigration NAME` from the
difference between the models and the migrations so far, reviewed, committed. `upgrade()`
applies the ones a database has not had (peewee-migrate's history table `schema_migration`),
each in the upgrade's transaction, under a PostgreSQL advisory lock so workers starting
together upgrade one after another. A model that no migration matches is refused by name
(`table.column`), never papered over.

A database from before migrations (tables, no history) first takes the legacy path, the
one every earlier release used: it compares the models with the database (db.get_tables /
db.get_columns) and adds what is missing (tables, columns with playhouse.migrate, indexes),
never dropping or rewriting anything, so rows survive; then every migration is recorded as
applied. The same path upgrades scratch tables given explicitly (`upgrade([Model])`). A new
column must be nullable or have a default, since existing rows need a value.

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
import pkgutil
import re
from collections.abc import Iterable

import peewee as pw
from peewee_migrate.router import ModuleRouter
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

from engine import storage
from engine.errors import BotError
from engine.storage import ALL_MODELS, Table, db, write_tx
from helpdesk.directory.tables import utcnow

__all__ = ["SchemaError", "SchemaVersion", "load_models", "init", "upgrade", "current_version",
           "make_migration", "unmigrated", "TABLE_MODULES", "MIGRATIONS", "MIGRATION_TABLE"]

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
MIGRATIONS = "helpdesk.ops.migrations"  # the package of migration modules, applied in name order
MIGRATION_TABLE = "schema_migration"   # peewee-migrate's history: one row per applied migration
_MIGRATION_NAME = re.compile(r"\d{3}_\w+")


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
        models: scratch tables to upgrade by the legacy comparison; default every
            registered table, through the migrations.
    Returns:
        what was done, e.g. ["applied migration 002_desk"] or, on the legacy path,
        ["created table ticket", "added column counterparty.kpp", ...].
    """
    explicit = models is not None
    models = list(models) if explicit else load_models()
    with _connected(), write_tx():
        if storage.is_postgres():     # workers starting together upgrade one after another
            db.execute_sql("SELECT pg_advisory_xact_lock(%s, 1)", (SCHEMA_LOCK_CLASS,))
        if explicit:
            changes = _legacy_upgrade(models)
        else:
            changes = _migrate(models)
        _record(models, changes)
    for change in changes:
        log.info("schema: %s", change)
    return changes


def _migrate(models: list) -> list[str]:
    router = _router()
    existing = set(db.get_tables())
    if MIGRATION_TABLE not in existing and existing & {_table(m) for m in models}:
        changes = _legacy_upgrade(models)              # a database from before migrations
        done = router.todo
        router.model.insert_many([{"name": name} for name in done]).execute()
        changes.append(f"recorded as applied: migrations {', '.join(done)}")
    else:
        changes = [f"applied migration {name}" for name in router.run()]
    missing = unmigrated(models)
    if missing:
        raise SchemaError(f"no migration creates {', '.join(missing)}: write one with "
                          "`python run.py db makemigration NAME` (helpdesk/ops/migrations/)")
    return changes


def _legacy_upgrade(models: list) -> list[str]:
    existing = set(db.get_tables())
    changes = _create_tables([m for m in models if _table(m) not in existing])
    changes += _add_columns([m for m in models if _table(m) in existing])
    db.create_tables(models, safe=True)       # indexes of the new columns, if any
    return changes


class _PackageRouter(ModuleRouter):
    """peewee-migrate's router over a package's modules, imported (not read and exec'd)."""

    @property
    def todo(self) -> list[str]:
        return sorted(name for _, name, is_pkg in pkgutil.iter_modules(self.migrate_module.__path__)
                      if not is_pkg and _MIGRATION_NAME.fullmatch(name))

    def read(self, name: str):
        module = importlib.import_module(f"{self.migrate_module.__name__}.{name}")
        return module.migrate, getattr(module, "rollback", lambda *a, **k: None)


def _router() -> _PackageRouter:
    return _PackageRouter(db.obj, migrate_module=MIGRATIONS, migrate_table=MIGRATION_TABLE,
                          logger=log)


def unmigrated(models: Iterable[type[pw.Model]] | None = None) -> list[str]:
    """The tables and columns the models have and the connected database lacks."""
    models = list(models) if models is not None else load_models()
    existing, missing = set(db.get_tables()), []
    for model in models:
        if _table(model) not in existing:
            missing.append(f"table {_table(model)}")
            continue
        present = {c.name for c in db.get_columns(_table(model))}
        missing += [f"{_table(model)}.{f.column_name}" for f in model._meta.sorted_fields
                    if f.column_name not in present]
    return missing


def make_migration(name: str, folder: str) -> str | None:
    """Write the next migration (into `folder`, the migrations package's directory) for the
    difference between the models and the migrations so far; its name, None when nothing
    changed. The connected database only lends peewee-migrate a dialect."""
    from peewee_migrate import Router
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", name):
        raise SchemaError(f"migration name {name!r}: lowercase letters, digits and _ (e.g. desk_sla)")
    router = Router(db.obj, migrate_dir=folder, migrate_table=MIGRATION_TABLE, logger=log)
    written = router.create(name, auto=load_models())
    if written:
        _tidy(f"{folder}/{written}.py", written)
    return written


_BOILERPLATE = re.compile(r'\A""".*?"""\s*', re.S)
_UNUSED_IMPORT = re.compile(r"from contextlib import suppress\n|with suppress\(ImportError\):\n"
                            r"\s+import playhouse.postgres_ext as pw_pext\n")


def _tidy(path: str, name: str) -> None:
    """peewee-migrate's file, with a docstring of ours instead of its cheat sheet, without
    its unused import and trailing blanks (ruff runs on it like on any module)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = _UNUSED_IMPORT.sub("", _BOILERPLATE.sub("", text, count=1))
    text = re.sub(r"\n{3,}", "\n\n\n", "\n".join(line.rstrip() for line in text.splitlines()))
    doc = (f'"""Migration {name}: written by `python run.py db makemigration` from the models; '
           'read, committed,\nnever edited after release."""\n\n')
    with open(path, "w", encoding="utf-8") as f:
        f.write(doc + text.strip() + "\n")


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
