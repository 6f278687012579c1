"""Schema creation and in-place upgrades on a real database (SQLite or PostgreSQL)."""
from __future__ import annotations

import peewee as pw
import pytest

from engine import storage
from engine.storage import ALL_MODELS, db
from helpdesk.directory.tables import Counterparty, Membership, TelegramUser
from helpdesk.ops import schema


class OldCounterparty(pw.Model):
    """The counterparty table as an older release had it (not registered in ALL_MODELS)."""

    inn = pw.CharField(max_length=12, unique=True)
    name = pw.CharField(max_length=500)

    class Meta:
        database = db
        table_name = "counterparty"


class Gadget(pw.Model):
    """A scratch table, version 1."""

    title = pw.CharField()

    class Meta:
        database = db
        table_name = "schema_test_gadget"


class GadgetV2(pw.Model):
    title = pw.CharField()
    counter = pw.IntegerField(default=7)
    note = pw.TextField(null=True)
    code = pw.CharField(null=True, unique=True)
    owner = pw.ForeignKeyField(TelegramUser, null=True)

    class Meta:
        database = db
        table_name = "schema_test_gadget"


class GadgetBroken(pw.Model):
    title = pw.CharField()
    required = pw.IntegerField()          # NOT NULL and no default: old rows cannot have it

    class Meta:
        database = db
        table_name = "schema_test_gadget"


@pytest.fixture
def gadget_table(database):
    Gadget.create_table()
    yield
    db.execute_sql('DROP TABLE IF EXISTS "schema_test_gadget"')


def columns(table):
    return {c.name: c for c in db.get_columns(table)}


def test_init_creates_every_table_and_is_safe_to_rerun(database):
    database.drop_tables([Membership], safe=True, cascade=storage.is_postgres())
    first = schema.init()
    assert "created table membership" in first
    tables = set(db.get_tables())
    assert {m._meta.table_name for m in ALL_MODELS} <= tables
    version = schema.current_version()
    assert version >= 1
    assert schema.init() == [] and schema.upgrade() == []
    assert schema.current_version() == version
    assert schema.SchemaVersion.select().count() == version


def test_load_models_finds_every_helpdesk_table():
    names = {m._meta.table_name for m in schema.load_models()}
    assert {"counterparty", "trade_point", "contact", "telegram_user", "membership",
            "schema_version"} <= names


# The tables an existing database has: moving a class to another module or renaming it
# (Contact -> ContactPerson, BaseModel -> Table) must not rename its table.
TABLE_NAMES = {"process_health", "outgoing", "conversation", "telegram_inbox", "onec_record",
               "contact", "counterparty", "membership", "telegram_user", "trade_point", "outbox",
               "pay_secret", "payment", "privacy_consent", "payment_request", "user_balance", "current_company",
               "registration_lookup", "registration_request", "schema_version", "sync_state",
               "ticket", "ticket_event", "crm_reference", "crm_default", "desk_staff",
               "topic_attempt", "seen_topic", "desk_thread", "desk_group_admin", "desk_sla_timer",
               "desk_rating"}


def test_every_table_keeps_its_name_in_the_database():
    models = schema.load_models()
    assert sorted(m._meta.table_name for m in models) == sorted(TABLE_NAMES)


# Every module of the project imported (transports included), then the tables that
# TABLE_MODULES does not name: a new table in a module missing from it fails here.
_WALK = """
import importlib, pkgutil
from engine.storage import ALL_MODELS
from helpdesk.ops import schema
named = {m._meta.table_name for m in schema.load_models()}
for package in ("engine", "integrations", "helpdesk"):
    for mod in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
        importlib.import_module(mod.name)
print(sorted({m._meta.table_name for m in ALL_MODELS} - named))
"""


def test_table_modules_name_every_table_of_the_project():
    import subprocess
    import sys

    from helpdesk.app import PROJECT_ROOT
    done = subprocess.run([sys.executable, "-c", _WALK], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_upgrade_adds_missing_columns_and_keeps_rows(database):
    Counterparty.drop_table(cascade=storage.is_postgres())
    OldCounterparty.create_table()
    OldCounterparty.insert_many([("7707083893", "Сбербанк"), ("7736207543", "Яндекс")],
                                fields=[OldCounterparty.inn, OldCounterparty.name]).execute()
    assert "balance" not in columns("counterparty")

    changes = schema.upgrade()
    for column in ("kpp", "ogrn", "legal_address", "balance", "crm_id", "created", "updated"):
        assert f"added column counterparty.{column}" in changes
    rows = list(Counterparty.select().order_by(Counterparty.inn))
    assert [(r.inn, r.name, r.balance) for r in rows] == [
        ("7707083893", "Сбербанк", 0), ("7736207543", "Яндекс", 0)]
    assert all(r.created is not None and r.crm_id is None for r in rows)
    Counterparty.create(inn="7702070139", name="ВТБ", crm_id="g1")     # new code works
    with pytest.raises(pw.IntegrityError):                             # unique index added
        with db.atomic():
            Counterparty.create(inn="7728168971", name="Альфа", crm_id="g1")

    version = schema.current_version()
    assert schema.upgrade() == []
    assert schema.current_version() == version


def test_upgrade_adds_typed_columns_to_a_scratch_table(gadget_table):
    Gadget.insert_many([("a",), ("b",)], fields=[Gadget.title]).execute()
    changes = schema.upgrade([GadgetV2])
    assert changes == [f"added column schema_test_gadget.{c}"
                       for c in ("counter", "note", "code", "owner_id")]
    assert [(g.title, g.counter, g.note, g.owner_id)
            for g in GadgetV2.select().order_by(GadgetV2.id)] == [
        ("a", 7, None, None), ("b", 7, None, None)]
    indexes = [i for i in db.get_indexes("schema_test_gadget") if i.columns == ["code"]]
    assert len(indexes) == 1 and indexes[0].unique          # one index, not a duplicate
    assert schema.upgrade([GadgetV2]) == []


def test_a_not_null_column_without_default_is_refused_with_its_name(gadget_table):
    Gadget.create(title="a")
    with pytest.raises(schema.SchemaError, match="schema_test_gadget.required: .*null=True or a default"):
        schema.upgrade([GadgetBroken])
    assert "required" not in columns("schema_test_gadget")
    assert Gadget.select().count() == 1


def test_upgrade_without_a_connection_is_a_clear_error():
    saved = db.obj
    db.initialize(None)
    try:
        with pytest.raises(schema.SchemaError, match="no database connected"):
            schema.upgrade([])
    finally:
        db.initialize(saved)


def test_upgrade_adds_the_unverified_phone_column_and_keeps_people(database):
    """Issue 17: a database from before typed phones were kept apart gets
    telegram_user.unverified_phone from `run.py db upgrade`; people and links stay."""
    from playhouse.migrate import migrate
    TelegramUser.create(id=11, phone="+79000000001", first_name="Иван")
    cp = Counterparty.create(inn="7707083893", name="Сбербанк")
    Membership.create(telegram_user=11, counterparty=cp, role="DIRECTOR", status="confirmed")
    migrate(schema._migrator().drop_column("telegram_user", "unverified_phone"))
    assert "unverified_phone" not in columns("telegram_user")

    assert "added column telegram_user.unverified_phone" in schema.upgrade()
    user = TelegramUser.get_by_id(11)
    assert (user.phone, user.unverified_phone, user.first_name) == ("+79000000001", None, "Иван")
    assert Membership.get().status == "confirmed"
    TelegramUser.update(unverified_phone="+79000000002").where(TelegramUser.id == 11).execute()
    assert schema.upgrade() == []
