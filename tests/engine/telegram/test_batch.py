"""Group commit on SQLite (engine/telegram/group_commit.py): steps of different
chats that wait at the same time run in one transaction, each in its own savepoint, and a
failing step in a batch undoes only itself."""
from __future__ import annotations

from engine import Reply, outgoing
from engine.session import Conversation
from engine.storage import write_tx
from engine.telegram.inbox import InboxItem
from engine.telegram.sender import Limits
from tests.support.echo_bot import echoes
from tests.support.fakes.telegram_api import FakeTelegramAPI, RateLimits
from tests.support.telegram_harness import running_bot


def test_steps_of_many_chats_share_commits_and_a_failure_undoes_only_itself(api, test_engine):
    chats = [4001 + i for i in range(12)]
    with running_bot(test_engine, api) as bot:
        users = [api.user(c) for c in chats]
        for user in users:
            user.send("/start")
        for user in users:
            user.wait_for(contains="Меню")
        before = dict(bot.dispatcher.stats)
        for n in range(5):
            for i, user in enumerate(users):
                if i == 3 and n == 2:
                    user.wait_for(lambda m, user=user: len([x for x in api.messages(user.chat_id)
                                                 if x.text == "Меню"]) == 3)   # the live menu
                    user.press("Сломать")        # fails among the others' steps
                else:
                    user.send(f"{n}")
        for user in users:
            user.wait_for(contains="echo:4", timeout=15)
        stats = dict(bot.dispatcher.stats)
    applied = stats["applied"] - before["applied"]
    batches = stats["batches"] - before.get("batches", 0)
    assert applied == 60 and 0 < batches < applied    # commits were shared
    for i, chat in enumerate(chats):
        expected = [str(n) for n in range(5) if not (i == 3 and n == 2)]
        assert echoes(api, chat) == expected          # the others' effects all committed
    assert any("Извините" in (m.text or "") for m in api.messages(chats[3])), [m.text for m in api.messages(chats[3])]
    assert InboxItem.select().where(InboxItem.status == "pending").count() == 0
    assert Conversation.select().count() >= len(chats)


def test_bulk_fan_out_keeps_inside_the_overall_window_without_429(test_engine):
    """Paced at exactly the server's limit, a window stamped when requests leave lets the
    next window's first send arrive before the server's window has moved on (429s at every
    edge); stamped when the answer arrives, none is refused and the pace stays near the limit."""
    chats = [5001 + i for i in range(40)]
    with FakeTelegramAPI(rate_limits=RateLimits(overall_per_second=10)) as limited, \
            running_bot(test_engine, limited, limits=Limits(overall_per_second=10)) as bot:
        with write_tx():
            for chat in chats:
                outgoing.enqueue(Reply(chat, f"n{chat}"), priority=5)
        bot.loop.call_soon_threadsafe(bot.sender.kick)
        for chat in chats:
            limited.wait_for(chat, contains=f"n{chat}", since=0, timeout=60)
        refused = list(limited.refused)
    assert refused == []                  # the pace it keeps is measured in bench/fanout.py
