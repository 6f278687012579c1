"""The shared dispatcher's batch (engine/telegram/shared_dispatcher.py) keeps every row lock
its earlier steps took until the batch commits. Another transaction (another worker's, the
API's, a job's) that holds a row a later step of the batch needs, and then asks for a row an
earlier step touched, now makes a lock cycle: PostgreSQL aborts one side. Alone, each step
committed before the next began, so the same two steps and the same other transaction only
waited on each other in turn. Here the other transaction holds chat B's conversation row and
then asks for chat A's, while a batch applies A then B (PostgreSQL)."""
from __future__ import annotations

import pytest

from engine import storage
from engine.telegram import inbox
from tests.support.desk import eventually
from tests.support.echo_bot import echoes, started, text_update
from tests.support.telegram_harness import call, running_bot

QUIET = dict(queue_poll_seconds=3600, sweep_seconds=3600)   # no periodic look in between


def _someone_waits_for_a_lock() -> bool:
    """Another backend of this database waits for a lock (the batch's second step)."""
    with storage.db.connection().cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database() AND pid <> pg_backend_pid()")
        return cur.fetchone()[0] > 0



def test_a_batch_does_not_turn_two_waits_into_a_deadlock(database, api, forum_engine):
    if not storage.is_postgres():
        pytest.skip("row locks across workers: PostgreSQL; set TEST_DATABASE_URL")
    first, second = 7401, 7402
    with running_bot(forum_engine, api, shared=True, **QUIET) as bot:
        users = started(api, (first, second), warm=True)   # the conversation rows exist
        call(bot, bot.dispatcher.wait_idle())                # both chats' tasks are done: woken together
        items = inbox.store([text_update(9_200_001, first, "one"), text_update(9_200_002, second, "two")])
        aborted = None
        # this thread's own connection: another transaction holding the second chat's row
        with storage.db.atomic():
            storage.db.execute_sql("SELECT 1 FROM conversation WHERE chat_id = %s FOR UPDATE", (second,))
            bot.loop.call_soon_threadsafe(bot.dispatcher.submit, items)       # woken together
            assert eventually(_someone_waits_for_a_lock, timeout=30)             # a step waits for the row above
            try:                                               # ... then it wants the first's
                storage.db.execute_sql("SELECT 1 FROM conversation WHERE chat_id = %s FOR UPDATE",
                                       (first,))
            except Exception as e:  # noqa: BLE001 - PostgreSQL chose this side to abort
                aborted = e
        users[first].wait_for(contains="echo:one")
        users[second].wait_for(contains="echo:two")
        stats = dict(bot.dispatcher.stats)
    assert aborted is None, aborted
    assert stats.get("stalled", 0) == 0, stats                # no step hit a deadlock either
    assert echoes(api, first)[-1] == "one" and echoes(api, second)[-1] == "two"
