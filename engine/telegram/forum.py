"""Forum topics created exactly once: what the transport tried and what Telegram showed.

A topic is created by an outgoing row (`Reply.topic = {"op": "create", "name": ...}`); its
`message_id`, once sent, is the topic's `message_thread_id`. createForumTopic is not
idempotent, and its answer can be lost (a crash after Telegram created the topic but before
the row was marked, a timeout): sending the row again would make a second topic, giving up
would leave none. So the transport keeps two small tables (no python-telegram-bot here: the
schema of a console imports this module):

* `TopicAttempt`: written *before* every createForumTopic call (row, chat, name, when). A
  row that already has an attempt may have created its topic: the sender first looks for it.
* `SeenTopic`: every `forum_topic_created` service message the bot's own createForumTopic
  posted (Telegram sends it into the group as an update; `engine.telegram.dispatcher` records
  it in the update's transaction) and every topic the sender created itself, with the row
  that owns it.

The protocol (engine/telegram/threads.py runs the sender's half):

1. a row without an attempt: record one, call createForumTopic, own the answer's thread;
2. a row with an attempt (an earlier call may have reached Telegram): a seen, unowned topic
   of the same chat and name, created by the bot since that attempt, is adopted (the row is
   marked sent with it, no call); with none, the row waits until `grace` seconds after the
   attempt for the service update to arrive, then creates anew (the first call never got
   through, or its update is lost);
3. a 429 or a 400 means "not created": the attempt is forgotten (a 429 is retried later);
4. a duplicate anyway (the service update of the lost topic arrives after a new one was
   created, or during the call): whoever sees it second - the sender right after its call,
   or the update when the row is already sent with another thread - queues a
   deleteForumTopic for the orphan (keyed by chat and thread, so once), and nothing is ever
   posted into it: messages find their thread through the row, which names the kept topic.

A topic's creation name identifies it among the pending creations of one chat (the domain
names each topic after what it is about, "#12 · ..."); topics created by people are never touched.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import peewee

from .. import outgoing
from ..events import Reply
from ..session import utcnow
from ..storage import Table

__all__ = ["TopicAttempt", "SeenTopic", "attempt_of", "record_attempt", "forget_attempt",
           "adoptable", "own", "orphans", "seen", "delete_reply"]

SLACK = timedelta(seconds=5)        # clocks of Telegram's date and ours may differ a little


class TopicAttempt(Table):
    row_id = peewee.BigIntegerField(unique=True)     # the outgoing row creating the topic
    chat_id = peewee.BigIntegerField()
    name = peewee.CharField(max_length=255)
    at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "topic_attempt"
        indexes = ((("chat_id", "name"), False),)


class SeenTopic(Table):
    chat_id = peewee.BigIntegerField()
    thread_id = peewee.BigIntegerField()
    name = peewee.CharField(max_length=255)
    creator = peewee.BigIntegerField(null=True)      # who created it (the bot, for ours)
    owner_row = peewee.BigIntegerField(null=True)    # the outgoing row whose topic it is
    duplicate = peewee.BooleanField(default=False)   # an orphan of a retried creation, deleted
    at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "seen_topic"
        indexes = ((("chat_id", "thread_id"), True), (("chat_id", "name"), False))


# -- the sender's half ----------------------------------------------------------------------
def attempt_of(row_id: int) -> datetime | None:
    """When the row last tried to create its topic; None when it never did."""
    row = TopicAttempt.select(TopicAttempt.at).where(TopicAttempt.row_id == row_id).first()
    return row.at if row else None


def record_attempt(row_id: int, chat_id: int, name: str) -> None:
    (TopicAttempt.insert(row_id=row_id, chat_id=chat_id, name=name[:255], at=utcnow())
     .on_conflict(conflict_target=[TopicAttempt.row_id], update={TopicAttempt.at: utcnow()})
     .execute())


def forget_attempt(row_id: int) -> None:
    """Telegram said the topic was not created (429, 400): nothing to look for."""
    TopicAttempt.delete().where(TopicAttempt.row_id == row_id).execute()


def adoptable(chat_id: int, name: str, creator: int, since: datetime) -> int | None:
    """A topic the bot created (seen, owned by no row) with this name since `since`."""
    S = SeenTopic
    row = (S.select(S.thread_id)
           .where((S.chat_id == chat_id) & (S.name == name[:255]) & (S.creator == creator)
                  & S.owner_row.is_null() & ~S.duplicate & (S.at >= since - SLACK))
           .order_by(S.thread_id).first())
    return row.thread_id if row else None


def own(chat_id: int, thread_id: int, row_id: int, name: str, creator: int) -> None:
    """The row's topic is `thread_id` (created by its call, or adopted)."""
    S = SeenTopic
    (S.insert(chat_id=chat_id, thread_id=thread_id, name=name[:255], creator=creator,
              owner_row=row_id)
     .on_conflict(conflict_target=[S.chat_id, S.thread_id],
                  update={S.owner_row: row_id, S.duplicate: False})
     .execute())


def orphans(chat_id: int, name: str, creator: int, kept: int) -> list[int]:
    """Other unowned topics the bot created with the row's name: duplicates to delete (each
    marked so, here, in the caller's transaction)."""
    S = SeenTopic
    found = [t for (t,) in S.select(S.thread_id).where(
        (S.chat_id == chat_id) & (S.name == name[:255]) & (S.creator == creator)
        & S.owner_row.is_null() & ~S.duplicate & (S.thread_id != kept)).tuples()]
    if found:
        S.update(duplicate=True).where((S.chat_id == chat_id) & S.thread_id.in_(found)).execute()
    return found


def delete_reply(chat_id: int, thread_id: int) -> None:
    """Queue the deletion of a duplicate topic (once per topic, whoever asks)."""
    reply = Reply(chat_id, topic={"op": "delete"}, thread_id=thread_id)
    outgoing.enqueue(reply, key=f"topic-dup:{chat_id}:{thread_id}", priority=1)


# -- the update's half ----------------------------------------------------------------------
def seen(chat_id: int, thread_id: int, name: str, creator: int, bot_id: int) -> bool:
    """A forum_topic_created update (in the update's transaction). A topic of the bot's that
    a row already sent owns another thread for is a duplicate: queued for deletion. True
    when it is one."""
    S = SeenTopic
    S.insert(chat_id=chat_id, thread_id=thread_id, name=name[:255],
             creator=creator).on_conflict_ignore().execute()
    if creator != bot_id:
        return False
    topic = S.get((S.chat_id == chat_id) & (S.thread_id == thread_id))
    if topic.owner_row is not None or topic.duplicate:
        return False
    holder = _sent_creation(chat_id, name, thread_id)
    if holder is None:
        return False                  # the row is still being sent: the sender decides
    S.update(duplicate=True).where(S.id == topic.id).execute()
    delete_reply(chat_id, thread_id)
    return True


def _sent_creation(chat_id: int, name: str, thread_id: int) -> int | None:
    """The creation row of this chat and name whose duplicate `thread_id` is: one sent with
    another thread, while no creation of that name is still unsent (it may be that one's
    topic: its sender adopts or sweeps it) or was sent with this very thread."""
    A, O = TopicAttempt, outgoing.Outgoing
    rows = (A.select(A.row_id, O.status, O.message_id).join(O, on=(O.id == A.row_id))
            .where((A.chat_id == chat_id) & (A.name == name[:255])).tuples())
    holder = None
    for row_id, status, message_id in rows:
        if status != outgoing.SENT or message_id == thread_id:
            return None
        holder = row_id if message_id is not None else holder
    return holder
