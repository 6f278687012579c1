"""A ticket's thread in the work group, as the outgoing queue knows it.

The topic of ticket N is created by the outgoing row keyed `t<N>:topic` (a `Reply` with
`topic={"op": "create", ...}`); once sent, that row's `message_id` holds the topic's
`message_thread_id`. The ticket card (the group post) is the row keyed `t<N>:post`; its
`message_id` is the card's message. So both directions are one indexed lookup on a unique
key, and a message aimed at a topic that is not created yet names the topic by its key
(`Reply.thread_key`): the sender resolves it when the topic exists.
"""
from __future__ import annotations

import re

from engine.events import Reply
from engine.outgoing import SENT, Outgoing

__all__ = ["topic_key", "post_key", "ticket_of_thread", "ticket_of_post", "thread_id_of",
           "into_thread"]

_KEY = re.compile(r"t(\d+):(topic|post)")


def topic_key(ticket_id: int) -> str:
    """The outgoing key of the row that creates the ticket's forum topic."""
    return f"t{int(ticket_id)}:topic"


def post_key(ticket_id: int) -> str:
    """The outgoing key of the ticket's card in the work group (to edit it in place)."""
    return f"t{int(ticket_id)}:post"


def _ticket_by(chat_id: int, message_id: int | None, suffix: str) -> int | None:
    if message_id is None:
        return None
    row = (Outgoing.select(Outgoing.key)
           .where((Outgoing.chat_id == int(chat_id)) & (Outgoing.message_id == int(message_id))
                  & (Outgoing.status == SENT) & Outgoing.key.endswith(f":{suffix}"))
           .first())
    m = _KEY.fullmatch(row.key) if row else None
    return int(m.group(1)) if m and m.group(2) == suffix else None


def ticket_of_thread(chat_id: int, thread_id: int | None) -> int | None:
    """The ticket whose topic `thread_id` is in the group `chat_id`; None for any other."""
    return _ticket_by(chat_id, thread_id, "topic")


def ticket_of_post(chat_id: int, message_id: int | None) -> int | None:
    """The ticket whose card is message `message_id` of `chat_id` (a reply to the card, in a
    group that is not a forum); None for any other message."""
    return _ticket_by(chat_id, message_id, "post")


def thread_id_of(ticket_id: int) -> int | None:
    """The ticket topic's message_thread_id, once Telegram created it."""
    row = (Outgoing.select(Outgoing.message_id)
           .where((Outgoing.key == topic_key(ticket_id)) & (Outgoing.status == SENT)).first())
    return row.message_id if row else None


def into_thread(ticket_id: int, reply: Reply) -> Reply:
    """`reply` (to the work group) aimed into the ticket's thread: its topic when one was
    queued (resolved by key when sent), else a reply to its card when the card was sent,
    else the group itself."""
    if Outgoing.select().where(Outgoing.key == topic_key(ticket_id)).exists():
        reply.thread_key = topic_key(ticket_id)
        return reply
    card = (Outgoing.select(Outgoing.message_id)
            .where((Outgoing.key == post_key(ticket_id)) & (Outgoing.status == SENT)).first())
    if card is not None and card.message_id:
        reply.reply_to_message_id = card.message_id
    return reply
