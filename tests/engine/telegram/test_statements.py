"""What one typical update costs the database: its statements counted through the real
transport (poller, dispatcher, sender, marks) on the test's backend. On PostgreSQL each
statement is a round trip (and CPU in the driver), so the count is pinned exactly: a
statement added to the path of every update fails here."""
from __future__ import annotations

import time

from engine import outgoing, storage
from engine.telegram import inbox
from tests.support.echo_bot import echoes, started, text_update
from tests.support.statements import recording
from tests.support.telegram_harness import running_bot

QUIET = dict(queue_poll_seconds=3600, sweep_seconds=3600)   # no periodic look in between


def _settled() -> bool:
    O = outgoing.Outgoing
    return not O.select().where(O.status != outgoing.SENT).exists()


def _one_text(api, user, text: str, seen) -> list[str]:
    seen.take()
    user.send(text)
    user.wait_for(contains=f"echo:{text}")
    user.wait_for(lambda m: m.text == "Меню" and m.message_id > 0)
    return _settle(seen)


def _settle(seen) -> list[str]:
    deadline = time.monotonic() + 30
    while not _settled() and time.monotonic() < deadline:   # the marks are written after the send
        time.sleep(0.01)
    time.sleep(0.2)                                          # anything else it would still do
    return seen.take()


# one text, answered with two messages (the echo and the menu) to the user's own chat
STORE = ["INSERT telegram_inbox"]                         # the poller: one statement, no BEGIN
STEP = ["SELECT conversation", "UPDATE conversation",     # the engine's step
        "UPDATE telegram_inbox",                          # the row done, in the same transaction
        "INSERT outgoing"]                                # both replies, already leased to us
MARKS = ["UPDATE outgoing", "UPDATE outgoing"]            # each reply marked as Telegram answers
SQLITE = [*STORE, "BEGIN", "SAVEPOINT", *STEP, "COMMIT", *MARKS]           # group commit
POSTGRES = [*STORE, "BEGIN", "SELECT pg_advisory_xact_lock",
            "SELECT telegram_inbox",                      # the head, and the chat's replies in flight
            "SAVEPOINT", *STEP, "COMMIT", *MARKS]


def test_a_text_update_costs_a_fixed_number_of_statements(database, api, forum_engine):
    with running_bot(forum_engine, api, **QUIET) as bot, recording() as seen:
        user = api.user(7101)
        user.send("/start")
        user.wait_for(contains="Меню")
        _one_text(api, user, "warm", seen)                   # the conversation row exists now
        statements = _one_text(api, user, "hello", seen)
        assert bot.dispatcher.stats["applied"] == 3
    assert echoes(api, 7101) == ["warm", "hello"]
    assert statements == (POSTGRES if storage.is_postgres() else SQLITE)
    assert len(statements) == (12 if storage.is_postgres() else 10)    # were 23 and 22


# the shared strategy (several workers), one batch of chats woken together: their locks taken
# in one statement and given back in one, their heads read in one, each step a transaction of
# its own (one for the batch held its row locks across steps: deadlocks, test_attack3_batch_locks)
BATCH_OPEN = {"postgres": ["SELECT pg_try_advisory_lock", "SELECT telegram_inbox"]}
BATCH_STEP = ["BEGIN", "SELECT conversation", "UPDATE conversation", "UPDATE telegram_inbox",
              "INSERT outgoing", "COMMIT"]
BATCH_CLOSE = {"postgres": ["SELECT pg_advisory_unlock"]}


def test_a_batch_of_chats_shares_its_locks_heads_and_round_trips(database, api, forum_engine):
    chats = [7201 + i for i in range(4)]
    with running_bot(forum_engine, api, shared=True, **QUIET) as bot, recording() as seen:
        users = list(started(api, chats, warm=True).values())  # the conversation rows exist
        _settle(seen)                                          # everything before is done
        items = inbox.store([text_update(9_000_001 + i, chat, "hello") for i, chat in enumerate(chats)])
        bot.loop.call_soon_threadsafe(bot.dispatcher.submit, items)    # woken together
        for user in users:
            user.wait_for(contains="echo:hello")
        statements = _settle(seen)
    assert [echoes(api, chat)[-1] for chat in chats] == ["hello"] * len(chats)
    opening = BATCH_OPEN.get("postgres" if storage.is_postgres() else "sqlite",
                             ["SELECT telegram_inbox"] * len(chats))   # no locks, a head each
    closing = BATCH_CLOSE.get("postgres" if storage.is_postgres() else "sqlite", [])
    batch = [*opening, *BATCH_STEP * len(chats), *closing]
    assert statements[:len(batch)] == batch, " ".join(statements)  # 6.75 a chat; alone 9
    assert set(statements[len(batch):]) == {"UPDATE outgoing"}   # then the sender's marks
    assert inbox.InboxItem.select().where(inbox.InboxItem.status == inbox.PENDING).count() == 0
