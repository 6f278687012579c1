"""The outbox's batch statements are hand-written SQL (helpdesk.sync.batch_sql): the claim is
one UPDATE ... RETURNING, the settles and the frozen bodies one UPDATE each. They keep what
the peewee-built statements did: due pending items only, oldest first, none whose entity
has an older item waiting, each batch held by this process; a give-back touches only what
this process still holds; values go as parameters (quotes, placeholders, any text)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.errors import IntegrationError
from engine.storage import write_tx
from helpdesk.directory.tables import Counterparty, utcnow
from helpdesk.sync import outbox
from helpdesk.sync.outbox import OutboxItem
from helpdesk.sync.records import _set_crm_ids


def _queue(*entities: tuple[str, int]) -> list[int]:
    with write_tx():
        return [outbox.push(entity, entity_id) for entity, entity_id in entities]


def _row(item_id: int) -> OutboxItem:
    return OutboxItem.get_by_id(item_id)


def test_a_claim_takes_due_items_oldest_first_one_per_entity_held_by_this_process(database):
    first, second, same_entity, later = _queue(("counterparty", 1), ("counterparty", 2),
                                               ("counterparty", 1), ("counterparty", 3))
    with write_tx():
        (OutboxItem.update(next_at=utcnow() + timedelta(hours=1))
         .where(OutboxItem.id == later).execute())
    claimed = outbox.claim(10, lease_seconds=30)
    assert [i.id for i in claimed] == [first, second]     # same_entity waits, later not due
    for item in claimed:                                  # the rows as they are now
        assert item.status == outbox.SENDING and item.claimed_by == outbox.holder()
        assert item.next_at > utcnow() + timedelta(seconds=20)
        stored = _row(item.id)
        assert (stored.status, stored.claimed_by) == (outbox.SENDING, outbox.holder())
        assert (item.entity, item.entity_id, item.key) == (stored.entity, stored.entity_id,
                                                           stored.key)
    assert outbox.claim(10) == []                         # same_entity still waits
    assert _row(same_entity).status == _row(later).status == outbox.PENDING


def test_a_claim_stops_at_its_limit(database):
    ids = _queue(*[("counterparty", n) for n in range(1, 8)])
    assert [i.id for i in outbox.claim(3)] == ids[:3]
    assert [i.id for i in outbox.claim(10)] == ids[3:]


def test_a_give_back_touches_only_what_this_process_holds(database):
    mine, theirs = _queue(("counterparty", 1), ("counterparty", 2))
    outbox.claim(10)
    with write_tx():
        OutboxItem.update(claimed_by="elsewhere:1:x").where(OutboxItem.id == theirs).execute()
        assert outbox.release_many([mine, theirs], delay=60) == 1
    assert _row(mine).status == outbox.PENDING and _row(mine).next_at > utcnow()
    assert _row(theirs).status == outbox.SENDING


def test_done_in_one_statement_counts_the_attempt_and_clears_the_error(database):
    ids = _queue(("counterparty", 1), ("counterparty", 2))
    outbox.claim(10)
    with write_tx():
        OutboxItem.update(last_error="earlier", attempts=2).where(OutboxItem.id == ids[0]).execute()
        assert outbox.mark_done_many(ids) == 2
    rows = [_row(i) for i in ids]
    assert [(r.status, r.attempts, r.last_error) for r in rows] == [("done", 3, None),
                                                                     ("done", 1, None)]
    assert all(r.done_at is not None for r in rows)


def test_frozen_bodies_are_stored_exactly_whatever_their_text(database):
    ids = _queue(*[("counterparty", n) for n in range(1, 5)])
    texts = ['{"name": "ООО \\"Ромашка\\""}', "it's ? and %s and %(x)s", "", "x" * 5000]
    with write_tx():
        outbox.freeze_many(dict(zip(ids, texts, strict=True)))
    assert [_row(i).payload for i in ids] == texts


def test_crm_ids_written_back_together_and_a_taken_one_refused(database):
    with write_tx():
        a, b, c = (Counterparty.create(inn=f"770000000{n}", name=f"Ф{n}").id for n in range(3))
        items = {i: OutboxItem(entity="counterparty", entity_id=i) for i in (a, b, c)}
        _set_crm_ids(Counterparty, [(items[a], "c-1"), (items[b], "c-2"), (items[c], None)])
    assert [Counterparty.get_by_id(i).crm_id for i in (a, b, c)] == ["c-1", "c-2", None]
    with pytest.raises(IntegrationError), write_tx():
        _set_crm_ids(Counterparty, [(items[c], "c-1")])    # c-1 is a's
    assert Counterparty.get_by_id(c).crm_id is None
