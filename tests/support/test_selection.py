"""The PostgreSQL pass's selection (tests/support/selection.py) cannot silently drop a test
that meets PostgreSQL: the only ways to the URL are the ones it looks at, and on this run's
own collection it keeps every test taking the database and every module reading the URL."""
from __future__ import annotations

import os
import re

from tests.support import selection

DATABASE_MODULE = os.path.join(selection.TESTS_ROOT, "support", "database.py")
THIS_RULE = os.path.join(selection.TESTS_ROOT, "support", "selection.py")


def _python_files():
    for folder, dirs, files in os.walk(selection.TESTS_ROOT):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        yield from (os.path.join(folder, f) for f in files if f.endswith(".py"))


def test_only_test_modules_conftests_and_the_database_module_read_the_url():
    """A shared helper reading the URL would take its callers to PostgreSQL unseen by the
    rule, which reads test modules and conftests only: such a helper must take `db_url`."""
    readers = {p for p in _python_files() if selection.names_the_url(p)}
    others = sorted(os.path.relpath(p, selection.TESTS_ROOT) for p in readers - {DATABASE_MODULE, THIS_RULE}
                    if not os.path.basename(p).startswith("test_") and os.path.basename(p) != "conftest.py")
    assert DATABASE_MODULE in readers and others == []


def test_database_modules_url_reaches_tests_only_through_the_fixtures_or_named():
    """tests/support/database.py's URL is imported by the root conftest (the fixtures) and by
    modules that name it, which the rule keeps."""
    importers = sorted(os.path.relpath(p, selection.TESTS_ROOT) for p in _python_files()
                       if "support.database import" in open(p, encoding="utf-8").read()
                       and not selection.names_the_url(p) and p != os.path.abspath(__file__))
    assert importers == []


def test_this_runs_collection_keeps_every_test_that_takes_the_database_or_reads_the_url(request):
    items = request.session.items
    kept, dropped = selection.split(items)
    assert len(kept) + len(dropped) == len(items)
    for item in dropped:
        if item.nodeid in selection.repeats():     # counted a repeat by the census
            continue
        assert not selection.DATABASE_FIXTURES & set(item.fixturenames), item.nodeid
        path = str(item.path)
        assert not any(selection.names_the_url(p) for p in [path, *selection.conftests_above(path)]), item.nodeid
    by_id = {item.nodeid: item for item in items}
    mine = request.node.nodeid
    assert by_id[mine] in dropped          # no database, no URL: run once, in the SQLite pass
    with_world = [i for i in items if "world" in i.fixturenames]          # world -> database
    assert all(i in kept or i.nodeid in selection.repeats() for i in with_world)


def test_every_repeat_listed_names_a_test_function_that_still_exists():
    """A listed id whose function is gone or renamed is a stale census: rerun it. Read from
    the modules themselves, so a run of a few tests (-k, a node id) does not count as one."""
    root = os.path.dirname(selection.TESTS_ROOT)
    for nodeid in sorted(selection.repeats()):
        path, *names = nodeid.split("[", 1)[0].split("::")    # a parameter id may hold "::"
        assert os.path.exists(os.path.join(root, path)), f"{nodeid}: its module is gone; run `python3 dev.py census`"
        with open(os.path.join(root, path), encoding="utf-8") as f:
            text = f.read()
        function = names[-1]
        assert re.search(rf"^\s*(?:async\s+)?def {re.escape(function)}\(", text, re.M), (
            f"{nodeid}: not a test any more; run `python3 dev.py census`")
