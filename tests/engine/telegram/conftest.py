"""Fixtures of the transport tests: the fake Bot API, a database of the engine's tables
only, and the echo bot's engine (tests/support/echo_bot.py)."""
from __future__ import annotations

import os
import shutil
import uuid

import pytest

from engine import Engine, load_flowset
from helpdesk.app import PROJECT_ROOT
from tests.support.echo_bot import FLOW, TEXTS, registry
from tests.support.fakes.telegram_api import FakeTelegramAPI


@pytest.fixture
def api():
    with FakeTelegramAPI() as server:
        yield server


@pytest.fixture
def engine_db(tmp_path):
    """Only the engine's tables: these tests need no helpdesk module."""
    import engine.outgoing  # each of these imports registers its table
    import engine.session
    import engine.telegram.forum
    import engine.telegram.inbox  # noqa: F401 - imported for that, the name is unused
    from engine import storage
    storage.connect(f"sqlite:///{tmp_path}/transport.db")
    storage.create_schema()
    yield
    storage.close()


@pytest.fixture
def test_engine(engine_db, tmp_path, api):
    return _echo_engine(tmp_path, api)


@pytest.fixture
def forum_engine(database, tmp_path, api):
    """The echo bot's engine on the test's database (PostgreSQL with TEST_DATABASE_URL):
    the forum tables' upserts and joins run on both."""
    return _echo_engine(tmp_path, api)


def _echo_engine(tmp_path, api):
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "menu.yaml").write_text(FLOW, encoding="utf-8")
    shutil.copytree(f"{PROJECT_ROOT}/templates", tmp_path / "templates")
    for lang in ("ru", "en"):
        (tmp_path / "templates" / lang / "t").mkdir()
        for name, text in TEXTS.items():
            (tmp_path / "templates" / lang / "t" / f"{name}.j2").write_text(text, encoding="utf-8")
    flowset = load_flowset(str(tmp_path / "flows"), str(tmp_path / "templates"), registry,
                           languages=["ru", "en"], default_language="ru", menu_flow="menu",
                           commands={"start": "menu"}, root=str(tmp_path))
    return Engine(flowset, registry, services={"token": api.token})


@pytest.fixture
def scratch_url():
    PG_URL = os.environ.get("TEST_DATABASE_URL", "")
    """A database of its own: the workers' schema, rows and locks touch nobody else's."""
    import psycopg
    name = f"workers_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(PG_URL, autocommit=True)
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        from engine import storage
        storage.close()
        cur = admin.cursor()
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()

