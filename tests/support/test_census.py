"""The census behind the PostgreSQL pass's repeats list (tests/support/census.py): what counts
as the same statement, and which tests it may leave out."""
from __future__ import annotations

from tests.support import census


def test_a_kind_folds_what_varies_between_runs_and_keeps_what_postgresql_sees():
    one = census.kind('SAVEPOINT "s12"', None, None)
    assert one == census.kind('SAVEPOINT  "s907"', (), None)
    in_list = 'SELECT 1 FROM "t" WHERE id IN (%s, %s, %s)'
    assert census.kind(in_list, (1, 2, 3), None) == census.kind('SELECT 1 FROM "t" WHERE id IN (%s, %s)', (4, 5), None)
    batch = 'UPDATE "t" SET m = x FROM unnest(%s) AS x'
    assert census.kind(batch, ([None, None],), None) != census.kind(batch, ([None, 7],), None)
    assert census.kind(in_list, (1, 2, 3), None) != census.kind(in_list, (1, 2, 3), ValueError())


def _test(kinds, spawns=False, cpu=1.0):
    return {"kinds": kinds, "spawns": spawns, "cpu": cpu}


def test_every_kind_stays_sent_by_as_many_kept_tests_as_asked_and_the_cheapest_are_kept():
    tests = {
        "a": _test(["select", "insert"], cpu=1.0),
        "b": _test(["select", "insert"], cpu=0.1),
        "c": _test(["select", "insert"], cpu=0.2),
        "d": _test(["select"], cpu=0.1),
        "only": _test(["rare"], cpu=5.0),          # the one test sending it: kept, however slow
        "bot": _test([], spawns=True),            # a process of its own: never left out
        "named": _test(["select"], cpu=9.0),      # a module that names PostgreSQL
    }
    repeats = census.choose(tests, always={"named"}, cover=2)
    assert repeats == ["a", "d"]                   # b and c send both kinds, more cheaply than a
    for cover in (1, 2, 3):
        kept = set(tests) - set(census.choose(tests, always={"named"}, cover=cover))
        assert {"only", "bot", "named"} <= kept
        for kind in ("select", "insert", "rare"):
            senders = [n for n in kept if kind in tests[n]["kinds"]]
            assert len(senders) >= min(cover, sum(kind in t["kinds"] for t in tests.values())), kind
    assert census.choose(tests, always={"named"}, cover=3) == ["d"]   # insert needs a, b and c
