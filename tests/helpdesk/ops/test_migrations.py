"""Schema changes are peewee-migrate migrations: a new database is built by them alone and
matches the models; a database from before migrations is upgraded the old way and its
history recorded; a model without a migration is refused by name; and the migrations on
disk match the models (a model changed without `run.py db makemigration` fails here)."""
from __future__ import annotations

import os
import shutil

import peewee as pw
import pytest

from engine import storage
from engine.storage import ALL_MODELS, db
from helpdesk.directory.tables import Counterparty, TelegramUser
from helpdesk.ops import migrations, schema

MIGRATIONS_DIR = os.path.dirname(migrations.__file__)


@pytest.fixture
def empty_db(db_url):
    """A connected database without a single table."""
    schema.load_models()
    storage.connect(db_url)
    if storage.is_postgres():
        db.execute_sql("DROP SCHEMA public CASCADE")
        db.execute_sql("CREATE SCHEMA public")
    yield db
    storage.close()


def shape() -> dict[str, set[str]]:
    """table -> its columns with their types and nullability, and its index names."""
    out = {}
    for table in db.get_tables():
        columns = {f"{c.name}:{c.data_type.lower()}:{'null' if c.null else 'not null'}"
                   for c in db.get_columns(table)}
        indexes = {f"index {'unique ' if i.unique else ''}{','.join(i.columns)}"
                   for i in db.get_indexes(table)}
        out[table] = columns | indexes
    return out


def test_a_new_database_is_built_by_the_migrations_and_matches_the_models(empty_db):
    changes = schema.upgrade()
    assert changes[0].startswith("applied migration 001_baseline")
    assert schema.unmigrated() == []
    built = shape()
    built.pop(schema.MIGRATION_TABLE)
    # the same tables, columns, types and indexes as peewee creates from the models
    empty_db.execute_sql(f'DROP TABLE "{schema.MIGRATION_TABLE}"')
    empty_db.drop_tables(list(ALL_MODELS), cascade=storage.is_postgres())
    storage.create_schema()
    assert built == shape()


def test_a_second_upgrade_applies_nothing(empty_db):
    schema.upgrade()
    version = schema.current_version()
    assert schema.upgrade() == []
    assert schema.current_version() == version


def test_a_database_from_before_migrations_is_upgraded_and_its_history_recorded(empty_db):
    """An older release's database: every table but one column, no migration history."""
    storage.create_schema()
    TelegramUser.insert(id=5, first_name="Анна").execute()
    db.execute_sql('ALTER TABLE "telegram_user" DROP COLUMN "unverified_phone"')
    changes = schema.upgrade()
    assert "added column telegram_user.unverified_phone" in changes
    assert any(c.startswith("recorded as applied: migrations 001_baseline") for c in changes)
    assert TelegramUser.get_by_id(5).first_name == "Анна"            # rows kept
    assert schema.upgrade() == []                                     # now by migrations


def test_a_model_without_a_migration_is_refused_by_name(empty_db, monkeypatch):
    schema.upgrade()

    class Widget(pw.Model):
        title = pw.CharField()

        class Meta:
            database = db
            table_name = "schema_test_widget"
    monkeypatch.setattr(schema, "load_models", lambda: [*ALL_MODELS, Widget])
    with pytest.raises(schema.SchemaError, match="no migration creates table schema_test_widget"):
        schema.upgrade()
    assert "schema_test_widget" not in db.get_tables()                # nothing half-done


def test_the_migrations_on_disk_match_the_models(tmp_path):
    """`run.py db makemigration` finds nothing to write: every model change has its migration."""
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    storage.connect("sqlite:///:memory:")
    try:
        assert schema.make_migration("check", str(folder)) is None
    finally:
        storage.close()
    assert sorted(os.listdir(folder)) == sorted(p for p in os.listdir(MIGRATIONS_DIR) if p != "__pycache__")


def test_a_bad_migration_name_is_refused():
    with pytest.raises(schema.SchemaError, match="lowercase letters"):
        schema.make_migration("Drop Table;", MIGRATIONS_DIR)


def test_counterparty_rows_survive_every_migration(empty_db):
    schema.upgrade()
    Counterparty.create(inn="7707083893", name="ООО «Лютик»")
    assert schema.upgrade() == [] and Counterparty.select().count() == 1
