"""The outbox drains in batches (helpdesk.sync.push): one claim takes up to BATCH items, their
bodies are frozen together and their answers written back together, and yet every
guarantee of the item-by-item drain holds: two drainer processes never send one item
twice, a company goes before its contact (in the same drain), a failure mid-batch stops
the run with the items before it delivered and the rest untried, an id conflict is the
one item's alone."""
from __future__ import annotations

import collections
import os
import subprocess
import sys
import time

import pytest

from engine.storage import write_tx
from helpdesk import sync
from helpdesk.app import PROJECT_ROOT
from helpdesk.directory.tables import ContactPerson, Counterparty
from helpdesk.sync import outbox
from helpdesk.sync.outbox import OutboxItem
from helpdesk.sync.push import BATCH
from tests.support.fakes.crm_rest_stub import RestCrmStub
from tests.support.sync import CRM_TOKEN, make_app, new_contact, new_counterparty


def _queue_companies(n: int) -> list[int]:
    """N counterparties (no trade points), each with its outbox item, in one transaction."""
    with write_tx():
        Counterparty.insert_many([{"inn": f"{7700000000 + i:010d}", "name": f"Фирма {i}"}
                                  for i in range(n)]).execute()
        ids = [c.id for c in Counterparty.select(Counterparty.id).order_by(Counterparty.id)]
        for cid in ids:
            outbox.push("counterparty", cid)
    return ids


def _posts(stub) -> collections.Counter:
    return collections.Counter(r.headers["idempotency-key"] for r in stub.received("POST"))


def _statuses() -> collections.Counter:
    return collections.Counter(i.status for i in OutboxItem.select())


def test_more_items_than_one_claim_go_in_one_drain_each_once_with_its_id(app, rest_stub):
    ids = _queue_companies(BATCH * 2 + 30)
    report = sync.drain(app)
    assert report.sent == len(ids) and report.errors == []
    assert set(_posts(rest_stub).values()) == {1}                 # every key sent once
    assert len(rest_stub.items) == len(ids)
    crm_ids = [c.crm_id for c in Counterparty.select().order_by(Counterparty.id)]
    assert None not in crm_ids and len(set(crm_ids)) == len(ids)  # each its own CRM id
    assert _statuses() == {"done": len(ids)}
    sent = {r.headers["idempotency-key"]: r.json for r in rest_stub.received("POST")}
    for item in OutboxItem.select():                               # what was sent is frozen
        assert outbox.payload_of(item)["_body"]["inn"] == sent[item.key]["inn"]


def test_a_company_and_its_contact_queued_together_go_in_one_drain_company_first(app, rest_stub):
    cp = new_counterparty()
    new_contact(cp)
    report = sync.drain(app)
    assert report.sent == 2 and report.waiting == 0
    assert [c for c, _, _ in rest_stub.items] == ["counterparties", "contacts"]
    (contact,) = rest_stub.store["contacts"].values()
    assert contact["counterparty_id"] == Counterparty.get_by_id(cp.id).crm_id
    assert ContactPerson.get().crm_id == contact["id"]


def _down_after_the_third(stub) -> None:
    handle = stub.handle

    def third_then_down(req):
        answer = handle(req)
        if len(stub.items) == 3:
            stub.fail_next(1, 503)                                # the next POST
        return answer
    stub.handle = third_then_down


def test_a_failure_mid_batch_keeps_what_went_before_and_gives_the_rest_back_untried(app, rest_stub):
    app.settings.sync.senders = 1
    _queue_companies(10)
    _down_after_the_third(rest_stub)
    report = sync.drain(app)
    assert report.sent == 3 and report.retried == 1 and report.stopped
    items = list(OutboxItem.select().order_by(OutboxItem.id))
    assert [i.status for i in items] == ["done"] * 3 + ["pending"] * 7
    assert [i.attempts for i in items] == [1, 1, 1, 1] + [0] * 6  # only the 4th was tried
    assert len(rest_stub.received("POST")) == 4


def test_with_several_senders_a_failure_stops_the_batch_and_nothing_is_lost(app, rest_stub):
    app.settings.sync.senders = 4
    _queue_companies(40)
    _down_after_the_third(rest_stub)
    report = sync.drain(app)
    assert report.retried == 1 and report.dead == [] and report.stopped
    items = list(OutboxItem.select())
    done = [i for i in items if i.status == "done"]
    assert len(done) == report.sent == len(rest_stub.items) >= 3    # the ones in flight finish
    (failed,) = [i for i in items if i.attempts == 1 and i.status == "pending"]
    untried = [i for i in items if i.status == "pending" and i.attempts == 0]
    assert len(done) + 1 + len(untried) == 40 and untried                # it stopped early
    posted = {r.headers["idempotency-key"] for r in rest_stub.received("POST")}
    assert posted == {i.key for i in done} | {failed.key}          # the untried never went
    assert [i.status for i in items if i.status not in ("done", "pending")] == []


def test_an_id_conflict_in_a_batch_is_that_items_alone(app, rest_stub):
    with write_tx():
        Counterparty.create(inn="7736050003", name="Уже в CRM", crm_id="c-1")
    first, second = new_counterparty(), new_counterparty(inn="7707083894", name="Вторая")
    report = sync.drain(app)                 # the CRM answers c-1 to the first: taken
    assert report.sent == 1 and len(report.dead) == 1 and "already belongs" in report.errors[0]
    assert Counterparty.get_by_id(first.id).crm_id is None
    assert Counterparty.get_by_id(second.id).crm_id not in (None, "c-1")
    assert [i.status for i in OutboxItem.select().order_by(OutboxItem.id)] == ["dead", "done"]


# ---- two drainer processes ----------------------------------------------------------------

def _env(db_url, stub):
    return {**os.environ, "DATABASE_URL": db_url, "CRM__KIND": "rest", "CRM__URL": stub.url,
            "CRM__TOKEN": CRM_TOKEN, "CRM__RETRIES": "0", "CRM__TIMEOUT": "30",
            "LOGGING__FILE": "", "NOTIFY__BUG__USE": "false"}


def _wait(condition, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.timeout(180)
def test_two_drainer_processes_take_separate_batches_and_send_no_item_twice(database, db_url,
                                                                          settings):
    make_app(settings, "none")
    ids = _queue_companies(BATCH * 2 + 50)
    keys = {i.key for i in OutboxItem.select()}
    with RestCrmStub(token=CRM_TOKEN) as stub:
        stub.slow(1.0)                       # the first holds its batch while the second starts
        drainers = [subprocess.Popen([sys.executable, "run.py", "sync", "run"],
                                     env=_env(db_url, stub), cwd=PROJECT_ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)]
        try:
            _wait(lambda: stub.received("POST"), "the first drainer sent nothing")
            drainers.append(subprocess.Popen(
                [sys.executable, "run.py", "sync", "run"], env=_env(db_url, stub),
                cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
            _wait(lambda: OutboxItem.select().where(OutboxItem.status == "sending").count()
                  > BATCH, "the second drainer claimed nothing")
            stub.slow(0)
            outs = [d.communicate(timeout=120)[0] for d in drainers]
        finally:
            for d in drainers:
                d.kill()
        assert [d.returncode for d in drainers] == [0, 0], outs
        sent = [int(out.split("sent ", 1)[1].split(",", 1)[0]) for out in outs]
        assert all(n > 0 for n in sent) and sum(sent) == len(ids), outs   # both drained
        posts = _posts(stub)
        assert set(posts) == keys and set(posts.values()) == {1}          # none twice
        assert len(stub.items) == len(ids)
    assert _statuses() == {"done": len(ids)}
