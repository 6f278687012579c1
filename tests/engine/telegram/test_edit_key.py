"""An edit queued before its message went out names that message by its outgoing key
(`Reply.edit_key`): the sender waits until that row is sent, then edits the message it
became; a row given up makes the edit a message of its own. Through the fake Bot API."""
from __future__ import annotations

from datetime import timedelta

from engine import Reply, outgoing
from engine.storage import write_tx
from tests.support.telegram_harness import call, running_bot


def _queued_elsewhere(reply: Reply, key: str) -> int:
    """A row another sender has claimed and not sent yet (held under a long lease)."""
    with write_tx():
        row_id = outgoing.enqueue(reply, key=key, priority=3)
        outgoing.hold([row_id], timedelta(seconds=600))
    return row_id


def test_an_edit_by_key_waits_for_its_message_then_edits_it(api, test_engine):
    with running_bot(test_engine, api) as bot:
        card = _queued_elsewhere(Reply(3101, "карточка: новая"), "c1:post")
        edit = Reply(3101, "карточка: в работе", edit_key="c1:post")
        waiting = call(bot, bot.sender.send(edit))
        assert waiting.lost and api.messages(3101) == []        # nothing sent, nothing marked
        row = outgoing.Outgoing.get_by_id(card)
        sent = call(bot, bot.sender.send(outgoing.to_reply(row), row_id=card))
        edited = call(bot, bot.sender.send(edit))
    assert sent.ok and edited.ok and edited.message_id == sent.message_id
    assert [m.text for m in api.messages(3101)] == ["карточка: в работе"]
    assert outgoing.key_state("c1:post") == (outgoing.SENT, sent.message_id)


def test_an_edit_of_a_message_given_up_is_sent_as_a_message(api, test_engine):
    with running_bot(test_engine, api) as bot:
        card = _queued_elsewhere(Reply(3102, "карточка"), "c2:post")
        with write_tx():
            outgoing.mark_failed(card, "Forbidden: bot was kicked", retry_in=None)
        outcome = call(bot, bot.sender.send(Reply(3102, "карточка, позже", edit_key="c2:post")))
    assert outcome.ok and [m.text for m in api.messages(3102)] == ["карточка, позже"]


def test_a_pending_row_is_replaced_and_a_claimed_one_is_not(engine_db):
    with write_tx():
        outgoing.enqueue(Reply(3103, "v1"), key="c3:post")
        assert outgoing.replace_pending("c3:post", Reply(3103, "v2")) is True
    assert outgoing.to_reply(outgoing.Outgoing.get(outgoing.Outgoing.key == "c3:post")).text == "v2"
    rows, _ = outgoing.claim()
    assert outgoing.replace_pending("c3:post", Reply(3103, "v3")) is False
    assert outgoing.to_reply(rows[0]).text == "v2" and outgoing.key_state("nope") == (None, None)
