"""Group commit on SQLite (engine/telegram/dispatcher.py `_in_batch`): steps of different
chats that wait at the same time run in one transaction, each in its own savepoint, and a
failing step in a batch undoes only itself."""
from __future__ import annotations

from engine.session import Conversation
from engine.telegram.inbox import InboxItem
from tests.telegram_harness import running_bot
from tests.test_telegram_transport import api, echoes, engine_db, test_engine  # noqa: F401 - fixtures


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
                    user.wait_for(lambda m: len([x for x in api.messages(user.chat_id)
                                                 if x.text == "Меню"]) == 3)   # the live menu
                    user.press("Сломать")        # fails among the others' steps
                else:
                    user.send(f"{n}")
        for i, user in enumerate(users):
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
