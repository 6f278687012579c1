"""Outbox drain against loopback CRM stubs: delivery, write-back, ordering, faults, dead
letters, restart, standalone mode, `sync status`."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest

from engine.outgoing import Outgoing
from engine.storage import write_tx
from helpdesk import directory, sync
from helpdesk.app import PROJECT_ROOT
from helpdesk.directory.tables import ContactPerson, Counterparty, utcnow
from helpdesk.sync import cli as sync_cli
from helpdesk.sync import outbox
from helpdesk.sync.outbox import OutboxItem
from tests.support.fakes.crm_1c_stub import OneCStub
from tests.support.sync import (
    BUG_USER,
    CRM_TOKEN,
    INN,
    drain_all,
    due_now,
    make_app,
    new_contact,
    new_counterparty,
    new_ticket,
    sync_tickets,
)

# ---- helpers (other sync/api test modules import them) ---------------------------------------


def statuses() -> list[str]:
    return [i.status for i in OutboxItem.select().order_by(OutboxItem.id)]


# ---- delivery -------------------------------------------------------------------------------

def test_drain_delivers_in_order_with_keys_and_writes_ids_back(app, rest_stub):
    cp = new_counterparty()
    contact = new_contact(cp)
    ticket = new_ticket(app, cp=cp)

    report = sync.drain(app)

    assert report.sent == 3 and statuses() == ["done"] * 3
    assert [c for c, _, _ in rest_stub.items] == ["counterparties", "contacts", "tickets"]
    keys = [i.key for i in OutboxItem.select().order_by(OutboxItem.id)]
    assert [r.headers["idempotency-key"] for r in rest_stub.received("POST")] == keys
    cp = Counterparty.get_by_id(cp.id)
    assert cp.crm_id and rest_stub.store["counterparties"][cp.crm_id]["inn"] == INN
    assert ContactPerson.get_by_id(contact.id).crm_id in rest_stub.store["contacts"]
    t = type(ticket).get_by_id(ticket.id)
    assert t.crm_id and t.crm_number == rest_stub.store["tickets"][t.crm_id]["number"]
    sent_ticket = rest_stub.store["tickets"][t.crm_id]
    assert sent_ticket["counterparty_id"] == cp.crm_id   # the parent went first


def test_an_edit_after_the_first_push_updates_the_same_record(app, rest_stub):
    ticket = new_ticket(app)
    sync.drain(app)
    sync_tickets(app).crm_update(ticket.id, status="in_progress")   # no outbox echo
    svc = sync_tickets(app)
    svc.edit(1001, ticket.id, description="Не печатает чек и не пробивает возврат")
    sync.drain(app)
    methods = [(c, m) for c, m, _ in rest_stub.items]
    assert methods == [("tickets", "POST"), ("tickets", "PUT")]
    assert len(rest_stub.store["tickets"]) == 1
    (stored,) = rest_stub.store["tickets"].values()
    assert stored["description"].startswith("Не печатает чек и не пробивает")


def test_items_of_one_entity_go_in_order_even_when_the_first_fails(app, rest_stub):
    ticket = new_ticket(app)
    sync_tickets(app).edit(1001, ticket.id, description="Второе описание проблемы с кассой")
    rest_stub.fail_next(1, 500)
    first = sync.drain(app)
    assert first.sent == 0 and first.retried == 1
    assert rest_stub.items == []                 # the edit did not overtake the creation
    drain_all(app)
    assert [m for _, m, _ in rest_stub.items] == ["POST", "PUT"]


def test_a_ticket_waits_for_its_counterparty(app, rest_stub):
    cp = new_counterparty()
    new_ticket(app, cp=cp)
    rest_stub.fail_next(1, 503)
    sync.drain(app)
    assert rest_stub.items == [] and statuses() == ["pending", "pending"]
    drain_all(app)
    assert [c for c, _, _ in rest_stub.items] == ["counterparties", "tickets"]
    (t,) = rest_stub.store["tickets"].values()
    assert t["counterparty_id"] == Counterparty.get_by_id(cp.id).crm_id


# ---- faults ---------------------------------------------------------------------------------

def test_crm_down_for_a_while_then_back_every_item_arrives_once_in_order(app, rest_stub):
    cps = [new_counterparty(inn=inn, name=f"Фирма {n}") for n, inn in
           enumerate(["7707083893", "7736050003", "7702070139", "7728168971"])]
    for cp in cps:
        with write_tx():
            directory.upsert_counterparty(inn=cp.inn, name=cp.name + " (ред.)")
            outbox.push("counterparty", cp.id)
    rest_stub.down()
    for _ in range(3):
        due_now()
        report = sync.drain(app)
        assert report.sent == 0 and report.stopped      # one failure stops the run
    assert OutboxItem.get_by_id(1).attempts == 3 and OutboxItem.get_by_id(2).attempts == 0
    rest_stub.up()
    drain_all(app)
    keys = [i.key for i in OutboxItem.select().order_by(OutboxItem.id)]
    applied = [r.headers["idempotency-key"] for r in rest_stub.received()
               if r.method in ("POST", "PUT") and not r.fault]
    assert applied == keys                         # each once, in the order of the changes
    assert len(rest_stub.items) == 8 and statuses() == ["done"] * 8


@pytest.mark.parametrize("fault", ["fail", "garbage", "conflict", "lose"])
def test_5xx_garbage_409_and_lost_replies_are_retried_and_applied_once(app, rest_stub, fault):
    new_counterparty()
    {"fail": lambda: rest_stub.fail_next(2, 500), "garbage": lambda: rest_stub.garbage_next(2),
     "conflict": lambda: rest_stub.conflict_next(2),
     "lose": lambda: rest_stub.lose_reply_next(2)}[fault]()
    reports = drain_all(app)
    assert [r.retried for r in reports[:2]] == [1, 1] and reports[2].sent == 1
    item = OutboxItem.get_by_id(1)
    assert item.status == "done" and item.attempts == 3
    assert len(rest_stub.items) == 1                       # applied once, whatever happened
    assert Counterparty.get().crm_id in rest_stub.store["counterparties"]


def test_a_timeout_is_retried_later(database, settings, rest_stub):
    app = make_app(settings, "rest", rest_stub.url, timeout=0.3)
    new_counterparty()
    rest_stub.slow(1.0)
    report = sync.drain(app)
    assert report.retried == 1
    assert any(w in report.errors[0].lower() for w in ("timed out", "timeout"))
    rest_stub.slow(0)
    drain_all(app)
    assert statuses() == ["done"] and len(rest_stub.items) == 1


def test_a_refusal_goes_dead_at_once_and_the_bug_user_is_told(app, rest_stub):
    new_counterparty()
    new_counterparty(inn="7736050003", name="Другая фирма")
    rest_stub.fail_next(1, 422)
    report = sync.drain(app)
    assert report.dead == [1] and report.sent == 1          # the next item still went
    assert statuses() == ["dead", "done"]
    (msg,) = Outgoing.select().where(Outgoing.chat_id == BUG_USER)
    text = json.loads(msg.body)["text"]
    assert "#1 counterparty" in text and "422" in text


def test_too_many_failures_go_dead(database, settings, rest_stub):
    app = make_app(settings, "rest", rest_stub.url, max_attempts=3)
    new_counterparty()
    rest_stub.fail_next(10, 500)
    drain_all(app, rounds=5)
    item = OutboxItem.get_by_id(1)
    assert item.status == "dead" and item.attempts == 3 and "500" in item.last_error
    assert Outgoing.select().where(Outgoing.chat_id == BUG_USER).count() == 1


def test_backoff_doubles_with_jitter_up_to_the_ceiling():
    rng = random.Random(7)
    delays = [sync.backoff_seconds(n, 2, 60, rng=rng) for n in range(1, 9)]
    for n, d in enumerate(delays, start=1):
        step = min(60, 2 * 2 ** (n - 1))
        assert step / 2 <= d <= step
    assert len({round(d, 6) for d in delays}) == len(delays)      # jittered
    assert sync.backoff_seconds(1, 2, 60, retry_after=30, rng=rng) == 30


# ---- restart, standalone, 1C ----------------------------------------------------------------

_CHANGE = textwrap.dedent("""
    import os
    from engine import storage
    from engine.storage import write_tx
    from helpdesk import directory
    from helpdesk.ops import schema
    from helpdesk.sync import outbox
    storage.connect(os.environ["DATABASE_URL"]); schema.init()
    with write_tx():
        cp, _ = directory.upsert_counterparty(inn="7707083893", name="ООО Ромашка")
        outbox.push("counterparty", cp.id)
    os._exit(9)      # killed right after the commit, before any send
""")


def test_an_item_committed_before_a_crash_is_sent_by_a_fresh_process(database, db_url,
                                                                     rest_stub):
    env = dict(os.environ, DATABASE_URL=db_url, CRM__KIND="rest",
               CRM__URL=rest_stub.url, CRM__TOKEN=CRM_TOKEN, LOGGING__FILE="",
               NOTIFY__BUG__USE="false")
    crashed = subprocess.run([sys.executable, "-c", _CHANGE], env=env, cwd=PROJECT_ROOT)
    assert crashed.returncode == 9 and rest_stub.requests == []
    out = subprocess.run([sys.executable, "run.py", "sync", "run"], env=env, cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "sent 1" in out.stdout
    assert [c for c, _, _ in rest_stub.items] == ["counterparties"]


def test_standalone_leaves_items_pending_for_a_crm_set_up_later(database, settings):
    app = make_app(settings, "none")
    new_counterparty()
    report = sync.drain(app)
    item = OutboxItem.get()
    assert report.no_crm and report.unsent == 1 and report.sent == report.skipped == 0
    assert item.status == "pending" and item.attempts == 0 and item.last_error is None


def test_one_c_gets_the_ticket_and_its_code_becomes_the_number(database, settings):
    with OneCStub(login="bot", password="p4ss-1c", token=CRM_TOKEN) as c1:
        app = make_app(settings, "1c-seed", c1.url)
        cp = new_counterparty()
        ticket = new_ticket(app, cp=cp)
        sync.drain(app)
        assert [p for p, _ in c1.pushed] == ["partner", "task"]
        t = type(ticket).get_by_id(ticket.id)
        assert c1.tasks[t.crm_id]["code"] == t.crm_number and t.label == f"#{t.crm_number}"
        assert c1.tasks[t.crm_id]["guidPartner"] == Counterparty.get_by_id(cp.id).crm_id


def test_a_vanished_row_is_skipped(app, rest_stub):
    cp = new_counterparty()
    Counterparty.delete().where(Counterparty.id == cp.id).execute()
    report = sync.drain(app)
    assert report.skipped == 1 and rest_stub.items == [] and statuses() == ["done"]


def test_an_expired_lease_is_sent_again(app, rest_stub):
    new_counterparty()
    (item,) = outbox.claim(10, lease_seconds=60)       # a drainer took it and died
    assert outbox.claim(10) == []                       # held: nobody else takes it
    # its lease runs out (set, not waited for: a 0 s lease could also run out before the
    # second claim on a busy machine and be released by anything that expires leases)
    OutboxItem.update(next_at=utcnow() - timedelta(seconds=1)).where(OutboxItem.id == item.id).execute()
    sync.drain(app)
    assert OutboxItem.get_by_id(item.id).status == "done" and len(rest_stub.items) == 1


def test_sync_status_prints_counts_oldest_and_dead(app, rest_stub, capsys, settings):
    new_counterparty()
    new_counterparty(inn="7736050003", name="Другая")
    rest_stub.down()
    sync.drain(app)
    capsys.readouterr()
    sync_cli.print_status(sync.queue_status())
    out = capsys.readouterr().out
    assert "pending  counterparty" in out and "oldest pending: #1" in out


def test_sync_status_lists_dead_items_with_their_error(app, rest_stub, capsys):
    new_counterparty()
    rest_stub.fail_next(1, 400)
    sync.drain(app)
    sync_cli.print_status(sync.queue_status())
    out = capsys.readouterr().out
    assert "dead     counterparty   1" in out and "dead: #1 counterparty" in out and "400" in out


def test_concurrent_drainers_never_take_the_same_item(app):
    import threading

    from engine import storage
    with write_tx():
        for n in range(60):
            outbox.push("counterparty", 1000 + n)
    taken: list[int] = []
    lock = threading.Lock()

    def drainer():
        try:
            while items := outbox.claim(7):
                with lock:
                    taken.extend(i.id for i in items)
        finally:
            storage.close()

    threads = [threading.Thread(target=drainer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(taken) == list(range(1, 61))        # every item once, none twice


def test_a_payment_is_reported_once_with_its_counterparty_and_ticket(app, rest_stub):
    from helpdesk.payments import Payment
    cp = new_counterparty()
    ticket = new_ticket(app, cp=cp)
    with write_tx():
        p = Payment.create(kind="ticket", telegram_user=1001, counterparty=cp.id,
                           ticket=ticket.id, amount=250000, currency="RUB", status="paid",
                           telegram_payment_charge_id="tg-charge-1", paid_at=utcnow())
        outbox.push("payment", p.id)
    drain_all(app)
    (payment,) = rest_stub.store["payments"].values()
    t = type(ticket).get_by_id(ticket.id)
    assert payment["amount_kopecks"] == 250000 and payment["reference"] == "tg-charge-1"
    assert payment["counterparty_id"] == Counterparty.get_by_id(cp.id).crm_id
    assert (payment["ticket_id"], payment["ticket_number"]) == (t.crm_id, t.crm_number)
