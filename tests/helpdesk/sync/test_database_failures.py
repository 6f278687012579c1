"""Our own database failing around a send is not the CRM refusing the item: the item is
given back, sent again with the same key and body, and written back once the database
answers; it is never dead for it (seen in bench/sync.py --onec: a "database is locked" at
write-back made items dead)."""
from __future__ import annotations

import sqlite3

import pytest

from engine import storage
from helpdesk import sync
from helpdesk.directory.tables import Counterparty
from helpdesk.sync import outbox
from helpdesk.sync.outbox import OutboxItem
from tests.support.sync import due_now, new_counterparty


class TableGoneDuringTheSend:
    """While the CRM handles the push, the counterparty table disappears (SQLite's
    OperationalError, a database outage to the bot) and comes back when asked."""

    def __init__(self, stub, path: str):
        self.stub, self.path, self.gone = stub, path, False
        self._handle = stub.handle
        stub.handle = self.handle

    def handle(self, req):
        answer = self._handle(req)
        if req.method == "POST" and not self.gone:
            with sqlite3.connect(self.path) as con:
                con.execute("ALTER TABLE counterparty RENAME TO counterparty_away")
            self.gone = True
        return answer

    def restore(self):
        with sqlite3.connect(self.path) as con:
            con.execute("ALTER TABLE counterparty_away RENAME TO counterparty")


def test_a_write_back_the_database_fails_is_sent_again_not_dead(app, rest_stub):
    if not storage.is_sqlite():
        pytest.skip("a table renamed under the bot is SQLite's OperationalError (an outage); "
                    "on PostgreSQL it is a ProgrammingError, a bug: its outages are in "
                    "tests/helpdesk/ops/test_nothing_dies.py")
    cp = new_counterparty()
    outage = TableGoneDuringTheSend(rest_stub, storage.db.obj.database)
    storage.close()                       # the rename must not wait for our own connection

    first = sync.drain(app)
    assert first.dead == [] and first.retried == 1
    assert "database" in first.errors[0]
    item = OutboxItem.get()
    assert (item.status, item.attempts) == (outbox.PENDING, 0)   # given back, untried

    storage.close()
    outage.restore()
    due_now()
    second = sync.drain(app)
    assert second.sent == 1 and second.dead == []
    assert OutboxItem.get().status == outbox.DONE
    keys = [r.headers["idempotency-key"] for r in rest_stub.received("POST")]
    assert len(keys) == 2 and keys[0] == keys[1]                  # the CRM applies it once
    assert Counterparty.get_by_id(cp.id).crm_id                   # written back
