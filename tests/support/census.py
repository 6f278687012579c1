"""What each test sends to PostgreSQL, so the PostgreSQL pass can leave out the tests that
only repeat what others send (`python3 dev.py census`; the list: tests/support/pg_repeats.txt).

A test in the PostgreSQL pass is worth its run for the statements it makes PostgreSQL run:
each is a `kind`, its SQL with the parts that vary between runs folded (savepoint names,
the length of an IN list), the types of its parameters (a batch of all-None ids is typed
differently from one with a number: that was a bug once) and how it ended (ok, or the
error's class). `record` (on while TEST_STATEMENT_CENSUS names a folder) writes, per
xdist worker, each test's kinds, whether it started a process (a bot, a drainer: what
that process sends is not seen here, so such a test is always kept), and its CPU time.

`choose` keeps, besides those, the fewest tests (cheapest first among equals) that between
them send every kind at least `COVER` times (or as often as the whole pass did); the rest
are the repeats. Every test still runs in the SQLite pass, with every assertion."""
from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import threading

import peewee
import psycopg
import pytest
from psycopg.adapt import PyFormat

__all__ = ["Plugin", "choose", "COVER", "kind", "FOLDER"]

FOLDER = "TEST_STATEMENT_CENSUS"          # the environment variable naming the output folder

COVER = 3                                 # each kind sent by at least this many kept tests
_SAVEPOINT = re.compile(r'"s[0-9a-f]+"')   # ours count, peewee's are uuid hex
_PLACEHOLDERS = re.compile(r"%s(?:\s*,\s*%s)+")
_SPACE = re.compile(r"\s+")


def _type(value) -> str:
    """The type PostgreSQL is sent the value as: psycopg picks it by value, not by Python
    type (an int goes as int2, int4, int8 or numeric by its size, a datetime as timestamp or
    timestamptz by whether it has a zone), so two ints can be two statements to it."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(sorted({_type(v) for v in value})) + "]"
    if value is None:
        return "None"
    try:
        dumper = psycopg.adapters.get_dumper(type(value), PyFormat.AUTO)(type(value))
        oid = dumper.upgrade(value, PyFormat.AUTO).oid
    except (psycopg.ProgrammingError, TypeError, ValueError):
        return type(value).__name__
    info = psycopg.postgres.types.get(oid)
    return info.name if info else f"{type(value).__name__}:{oid}"


def kind(sql: str, params, error: BaseException | None) -> str:
    shape = _PLACEHOLDERS.sub("%s,...", _SAVEPOINT.sub('"s"', _SPACE.sub(" ", sql.strip())))
    named = [_type(p) for p in (params or ())]
    types = ",".join(t for i, t in enumerate(named) if i == 0 or named[i - 1] != t)  # runs folded, as IN lists
    return f"{shape} | {types} | {type(error).__name__ if error else 'ok'}"


class _Census:
    def __init__(self, folder: str):
        self.folder, self.lock, self.current = folder, threading.Lock(), None
        self.tests: dict[str, dict] = {}

    def begin(self, nodeid: str) -> None:
        with self.lock:
            self.current = self.tests.setdefault(nodeid, {"kinds": set(), "spawns": False, "cpu": 0.0})

    def see(self, sql, params, error) -> None:
        with self.lock:
            if self.current is not None:
                self.current["kinds"].add(kind(sql, params, error))

    def spawned(self) -> None:
        with self.lock:
            if self.current is not None:
                self.current["spawns"] = True

    def write(self) -> None:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        os.makedirs(self.folder, exist_ok=True)
        with open(os.path.join(self.folder, f"{worker}.json"), "w", encoding="utf-8") as f:
            json.dump({n: {**t, "kinds": sorted(t["kinds"])} for n, t in self.tests.items()}, f)


HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "database.py")


def _from_the_harness() -> bool:
    """A statement of the per-test database's own (emptying, fingerprinting, rebuilding the
    schema): the same in every test, and not the product's."""
    frame = sys._getframe(2)
    for _ in range(40):
        if frame is None:
            return False
        if frame.f_code.co_filename == HARNESS:
            return True
        frame = frame.f_back
    return False


def record(folder: str, monkeypatch) -> _Census:
    """Watch every statement peewee sends (any thread) and every process started."""
    census = _Census(folder)
    original = peewee.Database._execute_cursor
    popen_init = subprocess.Popen.__init__

    def execute(self, sql, params, **options):
        if _from_the_harness():
            return original(self, sql, params, **options)
        try:
            cursor = original(self, sql, params, **options)
        except Exception as e:
            census.see(sql, params, e)
            raise
        census.see(sql, params, None)
        return cursor

    def started(self, *args, **kwargs):
        census.spawned()
        return popen_init(self, *args, **kwargs)

    monkeypatch.setattr(peewee.Database, "_execute_cursor", execute)
    monkeypatch.setattr(subprocess.Popen, "__init__", started)
    return census


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


class Plugin:
    """Registered by tests/conftest.py while $TEST_STATEMENT_CENSUS is set."""

    def __init__(self, folder: str):
        self.patch = pytest.MonkeyPatch()
        self.census = record(folder, self.patch)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.census.begin(item.nodeid)        # setup, call and teardown: fixtures' statements too
        started = cpu_seconds()
        yield
        self.census.current["cpu"] += cpu_seconds() - started
        self.census.current = None

    def pytest_sessionfinish(self, session):
        self.patch.undo()
        if self.census.tests:
            self.census.write()


def choose(tests: dict[str, dict], always: set[str], cover: int = COVER) -> list[str]:
    """The repeats: tests not in `always`, not starting a process, whose every kind is sent
    `cover` times (or as often as in the whole pass) by the tests kept."""
    kept = {n for n, t in tests.items() if n in always or t["spawns"]}
    sent: dict[str, int] = {}
    for t in tests.values():
        for k in t["kinds"]:
            sent[k] = sent.get(k, 0) + 1
    need = {k: min(cover, n) for k, n in sent.items()}
    for n in kept:
        for k in tests[n]["kinds"]:
            need[k] -= 1
    rest = {n: set(t["kinds"]) for n, t in tests.items() if n not in kept}
    while any(v > 0 for v in need.values()):
        # the test that sends the most kinds still needed, per CPU second; ties by name
        best = max(rest, key=lambda n: (sum(need[k] > 0 for k in rest[n]) / (0.05 + tests[n]["cpu"]), n))
        if not any(need[k] > 0 for k in rest[best]):
            break
        for k in rest.pop(best):
            need[k] -= 1
        kept.add(best)
    return sorted(set(tests) - kept)


REPEATS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pg_repeats.txt")
HEADER = """\
# Tests the PostgreSQL pass leaves out: every statement kind they send (SQL shape, parameter
# types, outcome) is sent at least {cover} times by the tests it keeps, and none of them starts a
# process (tests/support/census.py). They all still run in the SQLite pass. Written by
# `python3 dev.py census` from a census of {tests} tests ({kinds} statement kinds); a test not
# listed here runs in both passes, so a new test is never left out until a census says so.
"""


def write_repeats(folder: str, path: str = REPEATS) -> tuple[int, int]:
    """Merge the workers' census files in `folder` and write the repeats list to `path`;
    (tests in the census, tests listed)."""
    from tests.support import selection
    tests: dict[str, dict] = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                tests.update(json.load(f))
    if not tests:
        raise SystemExit(f"{folder}: no census files: did the PostgreSQL pass run?")
    root = os.path.dirname(selection.TESTS_ROOT)

    def backend_specific(nodeid: str) -> bool:        # its module or a conftest names the URL
        path = os.path.join(root, nodeid.split("::")[0])
        return any(selection.names_the_url(p) for p in [path, *selection.conftests_above(path)])

    repeats = choose(tests, {n for n in tests if backend_specific(n)})
    kinds = {k for t in tests.values() for k in t["kinds"]}
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEADER.format(cover=COVER, tests=len(tests), kinds=len(kinds)))
        f.writelines(n + "\n" for n in repeats)
    return len(tests), len(repeats)


if __name__ == "__main__":
    census_tests, listed = write_repeats(sys.argv[1])
    print(f"{listed} of {census_tests} tests repeat what others send to PostgreSQL: {REPEATS}")
