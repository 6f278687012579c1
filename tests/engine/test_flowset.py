"""`FlowSet.fire` moves a per-thread cursor attached to the shared machine once: the same
destinations as attaching a model for every trigger, no model added per step, concurrent
steps in threads and a fire inside a condition each on a cursor of their own."""
from __future__ import annotations

import threading

import pytest
from transitions import MachineError

from tests.support.engine import make_engine


class Scope:
    """What a condition reads: `variables()`, as a Step gives it."""

    def __init__(self, on_read=None, **values):
        self.values, self.on_read = values, on_read

    def variables(self):
        if self.on_read:
            self.on_read()
        return self.values


@pytest.fixture
def fs():
    return make_engine().flowset


def test_destinations_by_condition_and_button(fs):
    assert fs.fire("order", "qty", "next", Scope(qty=7)) == "big"     # the first passing `if`
    assert fs.fire("order", "qty", "next", Scope(qty=3)) == "files"   # the fallback
    assert fs.fire("order", "files", "go_submit", Scope()) == "submit"
    assert fs.fire("main", "home", "go_pick", Scope()) == "pick"


def test_unknown_trigger_or_state_raises_as_before(fs):
    with pytest.raises(MachineError):
        fs.fire("order", "qty", "go_submit", Scope())       # no such button on that state
    with pytest.raises(ValueError):
        fs.fire("order", "nowhere", "next", Scope())
    assert fs.fire("order", "qty", "next", Scope(qty=9)) == "big"     # the cursor still works


def test_no_model_attached_per_step(fs):
    machine = fs.machines["order"]
    for i in range(500):
        assert fs.fire("order", "qty", "next", Scope(qty=i % 10)) == ("big" if i % 10 > 5 else "files")
    assert len(machine.models) == 1           # one cursor for this thread, kept


def test_threads_move_their_own_cursors(fs):
    """Steps run in worker threads at once: each gets its destination, never another's."""
    wrong, start = [], threading.Barrier(8)

    def walk(k):
        start.wait()
        for i in range(300):
            qty = (k + i) % 10
            got = fs.fire("order", "qty", "next", Scope(qty=qty))
            if got != ("big" if qty > 5 else "files"):
                wrong.append((k, i, got))
            if fs.fire("order", "files", "go_submit", Scope()) != "submit":
                wrong.append((k, i, "submit"))

    threads = [threading.Thread(target=walk, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
    assert len(fs.machines["order"].models) == 8      # one per thread, none per step


def test_a_fire_inside_a_condition_gets_its_own_cursor(fs):
    """A condition that itself moves a conversation (a provider starting another flow,
    say) must not move the outer conversation's cursor."""
    inner = []
    scope = Scope(on_read=lambda: inner.append(fs.fire("order", "files", "go_submit", Scope())),
                  qty=2)
    assert fs.fire("order", "qty", "next", scope) == "files"
    assert inner == ["submit"]
    assert len(fs.machines["order"].models) == 2      # the outer one, and one for the nesting
