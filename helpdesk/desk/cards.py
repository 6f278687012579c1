"""A ticket's card in the work group: queued once, edited in place, never with nothing new.

The card (`helpdesk.tickets.workgroup.group_post`: the ticket and the staff buttons) is the
outgoing row keyed `post_key(N)`. With topics on (settings desk.topics) the ticket's topic is
queued just before it (`topics.open_topic`) and the card goes into it (`thread_key`), so the
card is the topic's first message; in a plain group the card is the thread itself.

An edit is queued only when the card would change: the digest of what was last queued for
it (text + buttons) is kept in `DeskThread.card`, written in the transaction that queues the
row. So a press that re-renders the card unchanged (a late Take, a Comment) queues nothing:
Telegram would answer 400 "message is not modified" and the group's 20 messages a minute
would be spent on it.

An edit reaches the card even when the card has not gone out yet:
- the card still pending (no sender claimed it): its row is replaced, one message, current;
- the card being sent: the edit names it by key (`Reply.edit_key`), which the sender
  resolves to the card's message id once the card is sent (engine.telegram.sender);
- the card sent: the edit names its message id.
"""
from __future__ import annotations

import hashlib
import json

from engine import outgoing
from engine.events import Button, Reply
from helpdesk.notices import GROUP, queue_reply

from . import topics
from .tables import DeskThread
from .topics import post_key

__all__ = ["queue_card", "update_card", "card_changed", "is_card", "digest"]


def digest(text: str, buttons: list[list[Button]]) -> str:
    """What the card shows, as a short fingerprint (its text and every button)."""
    shown = [text, [[(b.text, b.data, b.url) for b in row] for row in buttons]]
    return hashlib.sha256(json.dumps(shown, ensure_ascii=False).encode()).hexdigest()


def card_changed(ticket_id: int, text: str, buttons: list[list[Button]]) -> bool:
    """Record `text` + `buttons` as the card's content (in the caller's transaction); False
    when that is what it already shows, so there is nothing to edit."""
    new = digest(text, buttons)
    row = DeskThread.get_or_none(DeskThread.ticket_id == int(ticket_id))
    if row is not None and row.card == new:
        return False
    topics.remember(ticket_id, card=new)
    return True


def is_card(ticket_id: int, chat_id: int, message_id: int | None) -> bool:
    """Whether message `message_id` of `chat_id` is the ticket's card as sent."""
    row = (outgoing.Outgoing.select(outgoing.Outgoing.chat_id, outgoing.Outgoing.message_id)
           .where(outgoing.Outgoing.key == post_key(ticket_id)).first())
    return bool(row and message_id and row.chat_id == chat_id and row.message_id == message_id)


def queue_card(settings, templates, view: dict, text: str, buttons: list[list[Button]]) -> int:
    """Queue the ticket's card (its topic first, when topics are on); messages queued."""
    count = topics.open_topic(settings, templates, view)
    card_changed(view["id"], text, buttons)
    queue_reply(_card(settings, view["id"], text, buttons), key=post_key(view["id"]),
                priority=GROUP)
    return count + 1 + topics.close_born_closed(settings, view)


def update_card(settings, ticket_id: int, text: str, buttons: list[list[Button]], *,
                key: str) -> int:
    """Show the card as `text` + `buttons` (see the module docstring); 1 when an edit was
    queued under `key`, 0 when there was nothing to edit or the pending card was replaced.
    No card queued (the group is told of no new ticket) or one given up: nothing."""
    status, message_id = outgoing.key_state(post_key(ticket_id))
    if status in (None, outgoing.DEAD) or not card_changed(ticket_id, text, buttons):
        return 0
    group = settings.notify.system.work_group_id
    if message_id:
        edit = Reply(group, text, buttons=buttons, edit_message_id=message_id)
    elif outgoing.replace_pending(post_key(ticket_id), _card(settings, ticket_id, text, buttons)):
        return 0
    else:
        edit = Reply(group, text, buttons=buttons, edit_key=post_key(ticket_id))
    queue_reply(edit, key=key, priority=GROUP)
    return 1


def _card(settings, ticket_id: int, text: str, buttons: list[list[Button]]) -> Reply:
    """The card as a new message: into the ticket's topic when it has one."""
    return topics.into_thread(ticket_id, Reply(settings.notify.system.work_group_id, text,
                                               buttons=buttons))
