"""A crash does not hold the CRM queue back (issue 17, item 11). Real drainer processes
against a slow loopback CRM stub: one killed (SIGKILL) mid-drain has its claims freed by the
next process at once; one that stops (SIGSTOP: hung, or its host gone) loses them to a
live worker when its short lease runs out, while a worker merely waiting on the slow CRM
keeps renewing its own, so no item is sent twice except the one in flight at the stop."""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from helpdesk.app import PROJECT_ROOT
from helpdesk.sync.outbox import OutboxItem
from tests.support.fakes.crm_rest_stub import RestCrmStub
from tests.support.sync import CRM_TOKEN, make_app, new_counterparty

ITEMS = 6
SLOW = 1.5                 # seconds the CRM takes per request
# The stopped worker's test: a lease shorter than a request, so only renewing keeps it. With
# a 1 s lease (renewed every third of it) a busy 2-core machine starved the renewing thread
# past the lease: the second worker's first drain then took every item and none was left to
# prove anything with (it failed so on 73e6f54 too, under four busy loops). 3 s leaves room.
LEASE = 3
STOPPED_SLOW = 4           # longer than LEASE

_WORKER = textwrap.dedent("""
    import time
    from helpdesk import config, sync
    from helpdesk.app import build_app
    app = build_app(config.load())
    sync.drain(app)
    print("draining", flush=True)
    while True:
        time.sleep(0.05)
        sync.drain(app)
""")


def _env(db_url, stub, **extra):
    return {**os.environ, "DATABASE_URL": db_url, "CRM__KIND": "rest", "CRM__URL": stub.url,
            "CRM__TOKEN": CRM_TOKEN, "CRM__RETRIES": "0", "CRM__TIMEOUT": "30",
            "LOGGING__FILE": "", "NOTIFY__BUG__USE": "false",
            "SYNC__LEASE_SECONDS": str(LEASE),
            # one sender (the default): exactly one request is in flight at a kill or a
            # stop (with sync.senders N, up to N are)
            "SYNC__SENDERS": "1", **extra}


def _queue(settings, items: int = ITEMS) -> set[str]:
    make_app(settings, "none")
    for n in range(items):
        new_counterparty(inn=f"77070838{n:02d}", name=f"ООО Ромашка {n}")
    return {i.key for i in OutboxItem.select()}


def _pushes(stub) -> collections.Counter:
    return collections.Counter(r.headers["idempotency-key"] for r in stub.received("POST"))


def _wait(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _all_done() -> bool:
    return not OutboxItem.select().where(OutboxItem.status != "done").exists()


@pytest.mark.timeout(120)
def test_claims_of_a_killed_drainer_are_sent_by_the_next_process_at_once(database, db_url,
                                                                         settings):
    keys = _queue(settings)
    with RestCrmStub(token=CRM_TOKEN) as stub:
        stub.slow(SLOW)
        env = _env(db_url, stub, SYNC__LEASE_SECONDS="300")    # the lease alone: 5 minutes
        first = subprocess.Popen([sys.executable, "run.py", "sync", "run"], env=env,
                                 cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL)
        try:
            _wait(lambda: stub.received("POST"), "the drainer sent nothing")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        in_flight = set(_pushes(stub))
        assert len(in_flight) == 1
        assert OutboxItem.select().where(OutboxItem.status == "sending").count() == ITEMS
        stub.slow(0)
        out = subprocess.run([sys.executable, "run.py", "sync", "run"], env=env,
                             cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"sent {ITEMS}" in out.stdout, out.stdout
        pushes = _pushes(stub)
        assert set(pushes) == keys
        assert {k: n for k, n in pushes.items() if n > 1} == {k: 2 for k in in_flight}
        assert len(stub.items) == ITEMS                 # the CRM applied each key once
    assert _all_done()


def _worker(env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _WORKER], env=env, cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, text=True)


def _held_by(pid: int) -> int:
    return OutboxItem.select().where((OutboxItem.status == "sending")
                                     & OutboxItem.claimed_by.contains(f":{pid}:")).count()


@pytest.mark.timeout(120)
def test_a_stopped_worker_loses_its_items_after_the_short_lease_to_the_other(
        database, db_url, settings):
    keys = _queue(settings, items=12)        # 48 s of work for the first worker alone
    with RestCrmStub(token=CRM_TOKEN) as stub:
        stub.slow(STOPPED_SLOW)
        env = _env(db_url, stub)
        workers = []
        try:
            workers.append(_worker(env))
            _wait(lambda: stub.received("POST"), "the first worker sent nothing")
            workers.append(_worker(env))
            assert workers[1].stdout.readline() == "draining\n"
            # both drain for several leases while the first waits on the slow CRM
            seen = len(stub.received("POST"))
            _wait(lambda: len(stub.received("POST")) >= seen + 2, "the first worker stalled")
            workers[0].send_signal(signal.SIGSTOP)      # hung: alive, renewing nothing
            before = _pushes(stub)
            assert _held_by(workers[0].pid) > 0, "stopped too late to prove anything"
            assert set(before.values()) == {1}, before  # the live holder kept its items
            stub.slow(0.1)
            _wait(_all_done, "the live worker did not take over the stopped one's items")
        finally:
            for w in workers:
                w.send_signal(signal.SIGKILL)
                w.wait(10)
        pushes = _pushes(stub)
        assert set(pushes) == keys
        doubled = {k for k, n in pushes.items() if n > 1}
        assert all(n <= 2 for n in pushes.values()) and len(doubled) <= 1, pushes
        assert doubled <= set(before)                   # only the one in flight at the stop
        assert len(stub.items) == len(keys)             # the CRM applied each key once


@pytest.mark.timeout(120)
def test_a_restarted_process_sends_its_dead_predecessors_claims_at_start(database, settings):
    """The scheduled sync runs once at start: with the interval an hour long and the lease
    five minutes, the items a dead process had claimed still reach the CRM at once."""
    from datetime import timedelta

    from helpdesk.directory.tables import utcnow
    from helpdesk.ops import jobs
    from helpdesk.sync import outbox
    keys = _queue(settings, items=2)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with RestCrmStub(token=CRM_TOKEN) as stub:
        settings.sync.interval_seconds = settings.sync.reconcile_seconds = 3600
        settings.sync.lease_seconds = 300
        app = make_app(settings, "rest", stub.url, timeout=30)
        (OutboxItem.update(status=outbox.SENDING, next_at=utcnow() + timedelta(seconds=300),
                           claimed_by=f"{outbox._host()}:{dead.pid}:predecessor").execute())
        scheduler = jobs.start(app)
        try:
            _wait(_all_done, "the dead process's claims were not sent at start")
        finally:
            scheduler.shutdown(wait=True)
        assert set(_pushes(stub)) == keys
