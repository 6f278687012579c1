"""A ticket's thread in the work group, as the outgoing queue knows it.

The topic of ticket N is created by the outgoing row keyed `t<N>:topic` (a `Reply` with
`topic={"op": "create", ...}`); once sent, that row's `message_id` holds the topic's
`message_thread_id`. The ticket card (the group post) is the row keyed `t<N>:post`; its
`message_id` is the card's message. So both directions are one indexed lookup on a unique
key, and a message aimed at a topic that is not created yet names the topic by its key
(`Reply.thread_key`): the sender resolves it when the topic exists.

The topic's life (settings desk.topics, `auto`: while the work group is a forum, desk/group.py): `open_topic` queues it with the
ticket, just before the card that goes into it (helpdesk.desk.cards); `follow_ticket`, a
Notifier listener, renames it when its name or icon would change (settings
desk.topic_icons / topic_icon_ids, template desk/topic_name), closes it when the ticket is
done or cancelled and reopens it on reopen. Every row is keyed by the ticket and its
version (`t<N>:v<version>:topic-<op>`), so a change is never queued twice, and what was
queued is kept in `DeskThread`, so a name that would not change queues nothing. A topic row
the transport gave up ("the chat is not a forum") gets no operations after it: the card in
the group is the thread then, as in a plain group.
"""
from __future__ import annotations

import re

from engine import outgoing
from engine.events import Reply
from engine.outgoing import DEAD, SENT, Outgoing
from helpdesk.directory.tables import utcnow
from helpdesk.notices import GROUP, queue_reply

from .group import topics_on
from .tables import DeskThread

__all__ = ["topic_key", "post_key", "ticket_of_thread", "ticket_of_post", "thread_id_of",
           "into_thread", "has_topic", "topic_name", "open_topic", "open_again", "close_born_closed",
           "follow_ticket",
           "remember"]

_KEY = re.compile(r"t(\d+):(topic|post)")


def topic_key(ticket_id: int) -> str:
    """The outgoing key of the row that creates the ticket's forum topic."""
    return f"t{int(ticket_id)}:topic"


def post_key(ticket_id: int) -> str:
    """The outgoing key of the ticket's card in the work group (to edit it in place)."""
    return f"t{int(ticket_id)}:post"


def _ticket_by(chat_id: int, message_id: int | None, suffix: str) -> int | None:
    """The ticket of the row keyed `t<N>:<suffix>` sent as `message_id`. Edits of the card
    (`t<N>:v<version>:post`) carry the same message id, so every candidate is looked at."""
    if message_id is None:
        return None
    keys = (Outgoing.select(Outgoing.key)
            .where((Outgoing.chat_id == int(chat_id)) & (Outgoing.message_id == int(message_id))
                   & (Outgoing.status == SENT) & Outgoing.key.endswith(f":{suffix}"))
            .order_by(Outgoing.id).limit(50).tuples())
    for (key,) in keys:
        m = _KEY.fullmatch(key)
        if m and m.group(2) == suffix:
            return int(m.group(1))
    return None


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
    if has_topic(ticket_id):
        reply.thread_key = topic_key(ticket_id)
        return reply
    card = (Outgoing.select(Outgoing.message_id)
            .where((Outgoing.key == post_key(ticket_id)) & (Outgoing.status == SENT)).first())
    if card is not None and card.message_id:
        reply.reply_to_message_id = card.message_id
    return reply


# -- the topic's life: opened with the ticket, named after its status, closed and reopened --
def topic_name(settings, templates, view: dict) -> tuple[str, str | None]:
    """The topic's name ("🛠 #12 · Касса · ООО «Лютик»", plain text, at most Telegram's 128
    characters) and its icon's custom emoji id (None: no ids configured, the emoji in the
    name is the icon)."""
    desk = settings.desk
    icon = desk.topic_icons.get(view["status"], "")
    name = templates.render_label("desk/topic_name", None, {"ticket": view, "icon": icon})
    ids = desk.topic_icon_ids
    return " ".join(name.split())[:TOPIC_NAME_MAX], (ids.get(view["status"], "") if ids else None)


def open_topic(settings, templates, view: dict) -> int:
    """Queue the creation of the ticket's topic, before its card (which goes into it and
    opens it); 1 when queued, 0 when topics are off. The row's key is the ticket's, so the
    topic is never queued twice; the transport makes one topic of it (or none, and sends
    the card to the group itself, when the group is not a forum)."""
    if not topics_on(settings):
        return 0
    name, icon_id = topic_name(settings, templates, view)
    _queue(settings, view["id"], {"op": "create", **_looks(name, icon_id)}, topic_key(view["id"]))
    remember(view["id"], topic=_state(name, icon_id), topic_closed=False)
    return 1


def open_again(settings, templates, view: dict) -> bool:
    """The ticket's topic creation, given up (the bot was out of the group), queued again
    under its own key, named as the ticket is now; False when it was not given up."""
    name, icon_id = topic_name(settings, templates, view)
    reply = Reply(settings.notify.system.work_group_id, topic={"op": "create", **_looks(name, icon_id)})
    if not outgoing.revive(topic_key(view["id"]), reply):
        return False
    remember(view["id"], topic=_state(name, icon_id), topic_closed=False)
    return True


def close_born_closed(settings, view: dict) -> int:
    """A ticket born closed (the CRM files a job already done) gets its topic closed after
    its card went in, as a ticket closed later does (follow_ticket skips "created"): the
    group's open topics are the open work. 1 when queued."""
    if view["status"] in _OPEN or not has_topic(view["id"]):
        return 0
    return _op(settings, view, "close", topic_closed=True)


def follow_ticket(notifier, ticket, what: str, actor, context: dict) -> int:
    """A Notifier listener (helpdesk/app.py DESK_LISTENERS): the ticket's topic follows its
    status, in the change's transaction. Reopened before it is renamed, closed after (a
    closed topic shows its final name); each row keyed by the ticket's version, so a change
    is never queued twice; nothing when the name would not change. No topic (topics off,
    a plain group, a topic Telegram refused): nothing."""
    view = context["ticket"]
    if what == "created" or not has_topic(view["id"]):
        return 0
    thread = DeskThread.get_or_none(DeskThread.ticket_id == view["id"])
    closed = bool(thread and thread.topic_closed)
    settings = notifier.settings
    count = 0
    if closed and view["status"] in _OPEN:
        count += _op(settings, view, "reopen", topic_closed=False)
    name, icon_id = topic_name(settings, notifier.templates, view)
    if (thread.topic if thread else "") != _state(name, icon_id):
        count += _op(settings, view, "edit", looks=_looks(name, icon_id), topic=_state(name, icon_id))
    if not closed and view["status"] not in _OPEN:
        count += _op(settings, view, "close", topic_closed=True)
    return count


TOPIC_NAME_MAX = 128                       # Telegram's limit on a topic's name
_OPEN = ("new", "in_progress", "waiting")  # helpdesk.tickets.states.ACTIVE


def has_topic(ticket_id: int) -> bool:
    """A topic was queued for the ticket and not given up ("the chat is not a forum")."""
    status, _ = outgoing.key_state(topic_key(ticket_id))
    return status is not None and status != DEAD


def _op(settings, view: dict, op: str, *, looks: dict | None = None, **state) -> int:
    key = f"t{int(view['id'])}:v{view['version']}:topic-{op}"
    _queue(settings, view["id"], {"op": op, **(looks or {})}, key, thread_key=topic_key(view["id"]))
    remember(view["id"], **state)
    return 1


def _queue(settings, ticket_id: int, topic: dict, key: str, thread_key: str | None = None) -> None:
    group = settings.notify.system.work_group_id
    queue_reply(Reply(group, topic=topic, thread_key=thread_key), key=key, priority=GROUP)


def _looks(name: str, icon_id: str | None) -> dict:
    return {"name": name} if icon_id is None else {"name": name, "icon_custom_emoji_id": icon_id}


def _state(name: str, icon_id: str | None) -> str:
    return f"{name}\n{icon_id or ''}"[:300]


def remember(ticket_id: int, **fields) -> None:
    """Record what was queued for the ticket's thread (in the caller's transaction)."""
    fields["updated"] = utcnow()
    (DeskThread.insert(ticket_id=int(ticket_id), **fields)
     .on_conflict(conflict_target=[DeskThread.ticket_id],
                  update={getattr(DeskThread, k): v for k, v in fields.items()})
     .execute())
