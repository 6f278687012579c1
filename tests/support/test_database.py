"""The per-test database (tests/support/database.py): each test starts empty with every table,
whatever the test before it wrote or changed, though the schema is built once per worker."""
from __future__ import annotations

import os

import peewee
import psycopg
import pytest

from engine import storage
from engine.session import Conversation
from tests.support import database as test_database
from tests.support.database import PG_URL, fresh_schema

needs_postgres = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set TEST_DATABASE_URL")


def _tables(db) -> set[str]:
    return set(db.get_tables())


def _add_conversation(chat: int) -> int:
    return Conversation.create(chat_id=chat, user_id=chat).id


def test_rows_of_one_test_are_gone_in_the_next_and_ids_start_again(database, db_url, schema_template_dir):
    first = _add_conversation(1)
    _add_conversation(2)
    storage.close()
    again = fresh_schema(db_url, schema_template_dir)
    assert Conversation.select().count() == 0
    assert _add_conversation(3) == first           # sequences restart (PostgreSQL), a new file (SQLite)
    assert _tables(again) == {m._meta.table_name for m in storage.ALL_MODELS}


def test_a_dropped_table_is_back_in_the_next_test(database, db_url, schema_template_dir):
    database.drop_tables([Conversation], cascade=storage.is_postgres())
    assert "conversation" not in _tables(database)
    storage.close()
    again = fresh_schema(db_url, schema_template_dir)
    assert "conversation" in _tables(again)
    assert Conversation.select().count() == 0


def test_a_scratch_table_and_a_changed_column_are_gone_in_the_next_test(database, db_url, schema_template_dir):
    database.execute_sql("CREATE TABLE scratch_test (id INTEGER)")
    database.execute_sql("CREATE INDEX conversation_scratch ON conversation (user_id, chat_id)")
    storage.close()
    again = fresh_schema(db_url, schema_template_dir)
    assert "scratch_test" not in _tables(again)
    assert "conversation_scratch" not in {i.name for i in again.get_indexes("conversation")}


def test_a_sqlite_copy_is_in_wal_mode_like_a_built_one(tmp_path, schema_template_dir):
    storage.connect(f"sqlite:///{tmp_path}/built.db")
    storage.create_schema()
    built = storage.db.execute_sql("PRAGMA journal_mode").fetchone()[0]
    storage.close()
    copied_db = fresh_schema(f"sqlite:///{tmp_path}/copied.db", schema_template_dir)
    try:
        assert copied_db.execute_sql("PRAGMA journal_mode").fetchone()[0] == built == "wal"
        assert _tables(copied_db) == {m._meta.table_name for m in storage.ALL_MODELS}
    finally:
        storage.close()


def test_a_table_defined_after_the_first_build_is_in_the_next_schema(database, db_url, schema_template_dir):
    class LateTable(storage.Table):
        name = peewee.TextField()

        class Meta:
            table_name = "late_table_for_test"
    try:
        storage.close()
        again = fresh_schema(db_url, schema_template_dir)
        assert "late_table_for_test" in _tables(again)
    finally:
        storage.ALL_MODELS.remove(LateTable)
        storage.db.drop_tables([LateTable])


@needs_postgres
def test_a_database_another_live_process_holds_is_not_shared(monkeypatch):
    """Two runs at once (dev.py's concurrent passes, another checkout) never share a worker's
    database: the name another session holds is skipped."""
    base, _, name = PG_URL.rpartition("/")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gwtest")
    monkeypatch.setenv("TEST_DATABASE_URL", PG_URL)
    monkeypatch.delenv(test_database.OWNED, raising=False)
    holder = psycopg.connect(PG_URL, autocommit=True)
    held_before = len(test_database._held)
    try:
        holder.execute("SELECT pg_advisory_lock(hashtext('helpdesk-tests'), hashtext(%s))",
                       (f"{name}_gwtest",))
        assert test_database._own_database(PG_URL) == f"{base}/{name}_gwtest_2"
        assert os.environ[test_database.OWNED] == f"{base}/{name}_gwtest_2"
        # the claimed database exists and is this process' until it ends
        other = psycopg.connect(PG_URL, autocommit=True)
        got = other.execute("SELECT pg_try_advisory_lock(hashtext('helpdesk-tests'), hashtext(%s))",
                            (f"{name}_gwtest_2",)).fetchone()[0]
        other.close()
        assert got is False
        assert holder.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              (f"{name}_gwtest_2",)).fetchone() == (1,)
    finally:
        for conn in test_database._held[held_before:]:
            conn.close()
        del test_database._held[held_before:]
        holder.execute(f'DROP DATABASE IF EXISTS "{name}_gwtest_2"')
        holder.close()


@needs_postgres
def test_a_column_changed_in_place_is_as_built_in_the_next_test(database, db_url, schema_template_dir):
    """No table or index added: only existing catalog rows rewritten (a NOT NULL dropped, a
    default set), which the cheap check (tests/support/database.py's stamp) must see too."""
    database.execute_sql("ALTER TABLE conversation ALTER COLUMN user_id DROP NOT NULL")
    database.execute_sql("ALTER TABLE conversation ALTER COLUMN chat_id SET DEFAULT 7")
    storage.close()
    again = fresh_schema(db_url, schema_template_dir)
    columns = {c.name: c for c in again.get_columns("conversation")}
    assert columns["user_id"].null is False and columns["chat_id"].default is None
