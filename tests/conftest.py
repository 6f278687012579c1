"""Shared fixtures: a fresh database per test (SQLite file, or PostgreSQL when
TEST_DATABASE_URL is set), settings loaded from the real settings.yaml, and a guard that fails
any test reaching beyond loopback (tests/support/network_guard.py)."""
from __future__ import annotations

import os

import pytest
from hypothesis import settings as hypothesis_settings

from engine import storage
from tests.support.network_guard import NetworkGuard


def _own_database(url: str) -> str:
    """Under pytest-xdist each worker gets a PostgreSQL database of its own (`test_gw0`, ...:
    tests drop and create every table), created when missing. It replaces TEST_DATABASE_URL in
    this worker's environment, so every reader (skip marks, subprocesses) sees the same one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url or not worker:
        return url
    import psycopg
    base, _, name = url.rpartition("/")
    own = f"{name}_{worker}"
    admin = psycopg.connect(url, autocommit=True)
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (own,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{own}"')
    admin.close()
    os.environ["TEST_DATABASE_URL"] = f"{base}/{own}"
    return os.environ["TEST_DATABASE_URL"]


PG_URL = _own_database(os.environ.get("TEST_DATABASE_URL", ""))

# Property tests cannot flake on a busy CI box: the same examples every run (derandomize),
# a fixed budget, no per-example deadline (speed is measured in bench/, never in tests).
# Tests that set their own @settings inherit the rest from this profile.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, max_examples=100,
                                     database=None, print_blob=True)
hypothesis_settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def network_guard():
    """For the whole session (module-scoped servers too): loopback only."""
    guard = NetworkGuard()
    with pytest.MonkeyPatch.context() as mp:
        guard.install(mp)
        yield guard


@pytest.fixture(autouse=True)
def no_outside_network(network_guard):
    """A refusal the code under test caught and swallowed still fails the test."""
    network_guard.refused.clear()
    yield
    refused, network_guard.refused[:] = list(network_guard.refused), []
    assert not refused, "\n".join(refused)


def _import_models():
    """Import every module that defines tables so ALL_MODELS is complete (no transport)."""
    from helpdesk.ops import schema
    schema.load_models()


@pytest.fixture
def db_url(tmp_path):
    """The database URL a test uses: PostgreSQL when TEST_DATABASE_URL is set."""
    return PG_URL or f"sqlite:///{tmp_path}/test.db"


@pytest.fixture
def database(db_url):
    """A connected, empty database with every table created."""
    _import_models()
    database = storage.connect(db_url)
    if storage.is_postgres():
        database.drop_tables(storage.ALL_MODELS, safe=True, cascade=True)
    storage.create_schema()
    yield database
    storage.close()


@pytest.fixture
def settings():
    from helpdesk import config
    return config.load(environ={})


def pytest_report_header(config):
    return f"database: {'PostgreSQL ' + storage.redact_url(PG_URL) if PG_URL else 'SQLite (set TEST_DATABASE_URL for PostgreSQL)'}"


def app_on_copied_flows(settings, tmp_path, **engine_updates):
    """An app serving copies of the shipped flows and templates (tests then edit them), with
    a work group so that the call-back dialog the tests walk is offered."""
    import shutil

    from helpdesk.app import PROJECT_ROOT, build_app
    shutil.copytree(os.path.join(PROJECT_ROOT, "flows"), tmp_path / "flows",
                    ignore=shutil.ignore_patterns("tests"))
    shutil.copytree(os.path.join(PROJECT_ROOT, "templates"), tmp_path / "templates")
    engine = settings.engine.model_copy(update={
        "flows_dir": str(tmp_path / "flows"), "templates_dir": str(tmp_path / "templates"),
        **engine_updates})
    notify = settings.notify.model_copy(update={"system": settings.notify.system.model_copy(
        update={"work_group_id": settings.notify.system.work_group_id or -100777})})
    return build_app(settings.model_copy(update={"engine": engine, "notify": notify}), connect=False)


ENGINE_TEXTS = os.path.join(os.path.dirname(__file__), "engine", "fixtures", "engine_templates", "ru")


def engine_project(tmp_path, flow: str, texts: dict[str, str]):
    """A one-flow project for engine tests: flows/main.yaml, the engine's own Russian texts
    (common/, console/) and `texts` (name -> source). Returns (flows dir, templates dir, ru)."""
    import shutil
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "main.yaml").write_text(flow, encoding="utf-8")
    ru = tmp_path / "templates" / "ru"
    for folder in ("common", "console"):
        shutil.copytree(os.path.join(ENGINE_TEXTS, folder), ru / folder)
    for name, source in texts.items():
        (ru / f"{name}.j2").write_text(source, encoding="utf-8")
    return str(tmp_path / "flows"), str(tmp_path / "templates"), ru
