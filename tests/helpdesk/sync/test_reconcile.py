"""Reconcile: the CRM's change feed applied with a stored cursor, idempotently, with the
documented conflict rule (the newer version wins; the loser goes into the ticket history)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.errors import IntegrationError
from helpdesk import sync
from helpdesk.api.apply import tickets_service
from helpdesk.directory.tables import ContactPerson, Counterparty, TradePoint, utcnow
from helpdesk.sync import pull
from helpdesk.sync.outbox import OutboxItem
from tests.support.sync import new_ticket

COMPANY = {"inn": "7707083893", "name": "ООО Ромашка", "kpp": "770701001",
           "trade_points": [{"id": "tp-1", "name": "Магазин"}]}


def iso(dt) -> str:
    return dt.isoformat() + "+00:00"


def test_feed_is_applied_once_and_the_cursor_kept(app, rest_stub):
    rest_stub.append_change("counterparty", "c-1", COMPANY)
    rest_stub.append_change("contact", "p-1", {"counterparty_id": "c-1", "full_name": "Иванов",
                                               "phone": "+79991234567", "post": "Директор"})
    rest_stub.append_change("balance", "c-1", {"balance_kopecks": 50000})
    counts = sync.reconcile(app)
    assert counts == {"counterparty": 1, "contact": 1, "balance": 1}
    cp = Counterparty.get()
    assert (cp.crm_id, cp.balance) == ("c-1", 50000) and TradePoint.get().crm_id == "tp-1"
    assert ContactPerson.get().role == "DIRECTOR" and sync.cursor() == "3"
    assert sync.reconcile(app) == {}                         # nothing new after the cursor
    pull._store_cursor(None)                                  # the page delivered again
    sync.reconcile(app)
    assert Counterparty.get().balance == 50000 and ContactPerson.select().count() == 1


def test_a_bad_change_is_refused_and_does_not_block_the_feed(app, rest_stub):
    rest_stub.append_change("counterparty", "c-1", COMPANY | {"inn": "12"})
    rest_stub.append_change("counterparty", "c-2", COMPANY | {"inn": "7736050003"})
    rest_stub.append_change("balance", "c-404", {"balance_kopecks": 1})
    assert sync.reconcile(app) == {"refused": 2, "counterparty": 1}
    assert [c.crm_id for c in Counterparty.select()] == ["c-2"] and sync.cursor() == "3"


def test_feed_down_keeps_the_cursor(app, rest_stub):
    rest_stub.append_change("counterparty", "c-1", COMPANY)
    rest_stub.garbage_next(1)
    with pytest.raises(IntegrationError, match="GET .*/changes.*invalid JSON") as caught:
        sync.reconcile(app)                                  # the job logs it and runs again
    assert caught.value.retryable and sync.cursor() is None
    assert sync.reconcile(app) == {"counterparty": 1}


def _synced_ticket(app, rest_stub):
    ticket = new_ticket(app)
    sync.drain(app)
    return type(ticket).get_by_id(ticket.id)


def test_a_newer_crm_change_wins(app, rest_stub):
    from helpdesk.tickets import TicketEvent
    t = _synced_ticket(app, rest_stub)
    later = iso(utcnow() + timedelta(minutes=5))
    rest_stub.append_change("ticket", t.crm_id, {"status": "in_progress", "master": "Петров"},
                            at=later)
    assert sync.reconcile(app) == {"ticket": 1}
    t = type(t).get_by_id(t.id)
    assert (t.status, t.master_name) == ("in_progress", "Петров")
    assert not TicketEvent.select().where(TicketEvent.what == "conflict").exists()


def test_an_older_crm_change_loses_and_is_recorded(app, rest_stub):
    from helpdesk.tickets import TicketEvent
    t = _synced_ticket(app, rest_stub)
    sync_tickets = tickets_service(app)
    sync_tickets.cancel(1001, t.id, "Сами починили")          # the client withdrew it just now
    earlier = iso(utcnow() - timedelta(minutes=5))             # (a new ticket is cancelled, not closed as done)
    rest_stub.append_change("ticket", t.crm_id, {"status": "in_progress"}, at=earlier)
    assert sync.reconcile(app) == {"conflict_bot_won": 1}
    assert type(t).get_by_id(t.id).status == "cancelled"
    (event,) = TicketEvent.select().where(TicketEvent.what == "conflict")
    assert event.details["winner"] == "bot" and event.details["lost"] == {"status": "in_progress"}


def test_a_newer_crm_change_over_an_unsent_local_one_wins_and_is_sent_back(app, rest_stub):
    from helpdesk.tickets import TicketEvent
    t = _synced_ticket(app, rest_stub)
    rest_stub.down()
    svc = tickets_service(app)
    svc.edit(1001, t.id, description="Новое описание: не печатает и не гасит")
    sync.drain(app)                                             # CRM down: the edit waits
    rest_stub.up()
    later = iso(utcnow() + timedelta(minutes=5))
    rest_stub.append_change("ticket", t.crm_id, {"status": "waiting"}, at=later)
    assert sync.reconcile(app) == {"conflict_crm_won": 1}
    (event,) = TicketEvent.select().where(TicketEvent.what == "conflict")
    assert event.details["winner"] == "crm" and event.details["lost"] == {"status": "new"}
    assert OutboxItem.select().where(OutboxItem.status == "pending").count() == 2
