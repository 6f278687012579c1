"""The shared dispatcher's batches (engine/telegram/shared_dispatcher.py) on PostgreSQL: a
chat whose lock another worker holds is left out of its batch and waits for the lock on its
own, while the batch's other chats go on; nothing is applied twice or out of order."""
from __future__ import annotations

import pytest

from engine import storage
from engine.telegram import inbox
from engine.telegram.shared_dispatcher import LocksLost
from tests.support.echo_bot import echoes, started, text_update
from tests.support.telegram_harness import call, running_bot

QUIET = dict(queue_poll_seconds=3600, sweep_seconds=3600)   # no periodic look in between


def _status(update_id: int) -> str:
    return inbox.InboxItem.get(inbox.InboxItem.update_id == update_id).status


def test_a_chat_another_worker_holds_waits_alone_and_its_batch_goes_on(database, api, forum_engine):
    if not storage.is_postgres():
        pytest.skip("chat locks are PostgreSQL's advisory locks; set TEST_DATABASE_URL")
    held, free = 7301, 7302
    with running_bot(forum_engine, api, shared=True, **QUIET) as bot:
        users = started(api, (held, free))
        # the /start answers are out, but a chat's task may still be finishing: woken then,
        # a chat would wait for its lock alone and never share the batch this test is about
        call(bot, bot.dispatcher.wait_idle())
        items = inbox.store([text_update(9_100_001, held, "first"), text_update(9_100_002, free, "hello"),
                             text_update(9_100_003, held, "second")])
        with storage.db.atomic():             # this thread's own connection: "another worker"
            storage.db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (held,))
            bot.loop.call_soon_threadsafe(bot.dispatcher.submit, items)
            users[free].wait_for(contains="echo:hello")
            assert _status(9_100_001) == _status(9_100_003) == inbox.PENDING
            assert echoes(api, held) == []
        users[held].wait_for(contains="echo:second")          # the lock is free again
        stats = dict(bot.dispatcher.stats)
    assert echoes(api, held) == ["first", "second"] and echoes(api, free) == ["hello"]
    assert stats["contended"] >= 1
    assert [_status(u) for u in (9_100_001, 9_100_002, 9_100_003)] == [inbox.DONE] * 3


def test_a_batch_step_whose_connection_was_reopened_is_undone_and_applied_later_once(
        database, api, forum_engine):
    """The batch's chat locks are its connection's: a step that finds another connection (the
    old one was reopened at the step's BEGIN) ran without its lock, so it is undone."""
    if not storage.is_postgres():
        pytest.skip("chat locks are PostgreSQL's advisory locks; set TEST_DATABASE_URL")
    chat = 7303
    with running_bot(forum_engine, api, shared=True, **QUIET) as bot:
        user = started(api, [chat])[chat]
        call(bot, bot.dispatcher.wait_idle())
        items = inbox.store([text_update(9_100_011, chat, "once")])
        outcome = bot.dispatcher._apply_held(*inbox.pending_head(chat), holder=object())
        assert isinstance(outcome, LocksLost)
        assert _status(9_100_011) == inbox.PENDING
        assert "once" not in echoes(api, chat)
        bot.loop.call_soon_threadsafe(bot.dispatcher.submit, items)
        user.wait_for(contains="echo:once")
    assert echoes(api, chat).count("once") == 1
    assert _status(9_100_011) == inbox.DONE
