"""Shared fixtures: a fresh database per test (SQLite file, or PostgreSQL when
TEST_DATABASE_URL is set), settings loaded from the real settings.yaml, and a guard that fails
any test reaching beyond loopback (tests/support/network_guard.py)."""
from __future__ import annotations

import os

import pytest
from hypothesis import settings as hypothesis_settings

from engine import storage
from tests.support import census, flowcheck, selection, settings_cache
from tests.support.database import PG_URL, fresh_schema
from tests.support.network_guard import NetworkGuard

# Property tests cannot flake on a busy CI box: the same examples every run (derandomize),
# a fixed budget, no per-example deadline (speed is measured in bench/, never in tests).
# Tests that set their own @settings inherit the rest from this profile.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, max_examples=100,
                                     database=None, print_blob=True)
hypothesis_settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def network_guard():
    """For the whole session (module-scoped servers too): loopback only; the flow set's
    check done once per distinct input, not per app build (tests/support/flowcheck.py), and
    settings.yaml parsed once per distinct text (tests/support/settings_cache.py)."""
    guard = NetworkGuard()
    with pytest.MonkeyPatch.context() as mp:
        guard.install(mp)
        flowcheck.install(mp)
        settings_cache.install(mp)
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


@pytest.fixture(scope="session")
def schema_template_dir(tmp_path_factory):
    """Where this worker keeps its SQLite schema template (tests/support/database.py)."""
    return tmp_path_factory.mktemp("schema-template")


@pytest.fixture
def database(db_url, schema_template_dir):
    """A connected, empty database with every table created (built once per worker, then
    copied or emptied per test: tests/support/database.py)."""
    _import_models()
    database = fresh_schema(db_url, schema_template_dir)
    yield database
    storage.close()


@pytest.fixture
def settings():
    from helpdesk import config
    return config.load(environ={})


def pytest_configure(config):
    if os.environ.get(census.FOLDER):          # `python3 dev.py census` (tests/support/census.py)
        config.pluginmanager.register(census.Plugin(os.environ[census.FOLDER]), "statement-census")


def pytest_report_header(config):
    return f"database: {'PostgreSQL ' + storage.redact_url(PG_URL) if PG_URL else 'SQLite (set TEST_DATABASE_URL for PostgreSQL)'}"


def pytest_collection_modifyitems(config, items):
    """The PostgreSQL pass runs only the tests that can meet PostgreSQL
    (tests/support/selection.py); the rest ran in the SQLite pass."""
    if not (PG_URL and os.environ.get("TEST_BACKEND_PASS") == "postgresql"):
        return
    kept, dropped = selection.split(items)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
