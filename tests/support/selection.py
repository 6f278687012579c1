"""Which tests the PostgreSQL pass runs (`dev.py test`, TEST_BACKEND_PASS=postgresql).

A test reaches PostgreSQL only through the per-test database (the `database` and `db_url`
fixtures, tests/conftest.py, which read tests/support/database.py's URL) or by reading the
URL itself in its module or a conftest above it. Any other test uses a SQLite database of
its own whatever the pass, so its second run would repeat the first: the PostgreSQL pass
deselects it (every assertion still ran in the SQLite pass). tests/support/test_selection.py
holds the harness to that: no other file under tests/ reads the URL.

Of the tests that can meet PostgreSQL, those listed in tests/support/pg_repeats.txt are left
out too: a census of what each test sends to PostgreSQL found every kind of statement they
send sent by others the pass keeps (tests/support/census.py, `python3 dev.py census`). The
census run itself keeps them all."""
from __future__ import annotations

import functools
import os

from tests.support import census

DATABASE_FIXTURES = {"database", "db_url"}
NAMES_THE_URL = ("TEST_DATABASE_URL", "PG_URL", "is_postgres")
TESTS_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@functools.lru_cache(maxsize=None)
def names_the_url(path: str) -> bool:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return any(marker in text for marker in NAMES_THE_URL)


def conftests_above(path: str) -> list[str]:
    """The conftest.py files that apply to a test file, below tests/ (the root one only
    defines the fixtures)."""
    found, folder = [], os.path.dirname(path)
    while folder.startswith(TESTS_ROOT) and folder != TESTS_ROOT:
        found.append(os.path.join(folder, "conftest.py"))
        folder = os.path.dirname(folder)
    return [p for p in found if os.path.exists(p)]


def can_meet_postgresql(item) -> bool:
    if DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    path = str(item.path)
    return any(names_the_url(p) for p in [path, *conftests_above(path)])


@functools.lru_cache(maxsize=1)
def repeats() -> frozenset[str]:
    """The node ids tests/support/pg_repeats.txt lists (none while a census runs)."""
    if os.environ.get(census.FOLDER) or not os.path.exists(census.REPEATS):
        return frozenset()
    with open(census.REPEATS, encoding="utf-8") as f:
        return frozenset(line.rstrip("\n") for line in f if line.strip() and not line.startswith("#"))


def runs_on_postgresql(item) -> bool:
    return can_meet_postgresql(item) and item.nodeid not in repeats()


def split(items) -> tuple[list, list]:
    """(kept, deselected) for the PostgreSQL pass, each in collection order."""
    kept = [item for item in items if runs_on_postgresql(item)]
    return kept, [item for item in items if not runs_on_postgresql(item)]
