"""Where a row goes inside a group, decided just before it is sent; and forum topics made once.

The sender asks `Threads.prepare` before every send, then sends with `Threads.send`:

* a reply aimed at a topic by key (`Reply.thread_key`) is sent only after the row of that key
  was: its `message_id` is the thread. Until then the row is deferred (no attempt counted),
  and so is every later row of the chat waiting for the same key, so a topic's messages keep
  their order. A topic row that is dead ("the chat is not a forum", the bot was kicked) or
  gone: the message goes to the group itself, not lost (logged); a topic operation there
  has nothing to act on and is given up;
* a message whose thread is gone ("message thread not found": the topic was deleted, the
  group stopped being a forum) is sent again to the group itself (logged);
* an edit whose text and buttons equal what the queue last put into that message is not
  sent at all (Telegram would answer "message is not modified" and a group's 20 messages a
  minute would be spent); "not modified" answers count as done, never retried;
* createForumTopic follows the exactly-once protocol of engine/telegram/forum.py: an
  attempt is written before the call; a row with an earlier attempt adopts the topic that
  attempt made (seen in its service update) or waits `grace` seconds for it before creating
  anew; a 429 or a 400 forgets the attempt (not created; "the chat is not a forum" gives the
  row up as expected, no bug: the domain reads it off the dead row, helpdesk/desk/group.py);
  right after a creation, duplicates seen meanwhile are queued for deletion.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import asdict

from telegram import Bot
from telegram.error import BadRequest, Forbidden, RetryAfter

from .. import outgoing
from ..events import Reply
from ..session import utcnow
from ..storage import write_tx
from . import forum
from .adapter import send_reply
from .marks import SendResult

__all__ = ["Threads", "TopicGone", "thread_gone"]

log = logging.getLogger(__name__)
_GONE = ("message thread not found", "not a forum", "topic_id_invalid", "topic_deleted")


class TopicGone(Exception):
    """A topic operation on a topic that no longer exists (or never did): given up, no bug."""


def thread_gone(error: Exception) -> bool:
    """Telegram's answers for a thread that cannot be written into."""
    text = str(error).lower()
    return isinstance(error, BadRequest) and any(g in text for g in _GONE)


class Threads:
    """The forum half of sending one row; see the module docstring.

    Args:
        bot: the PTB bot (its id tells our topics from people's).
        grace: seconds an unconfirmed topic creation waits for its service update.
        wait: seconds a row waiting for its topic is deferred each time.
    """

    def __init__(self, bot: Bot, *, grace: float = 15.0, wait: float = 1.0):
        self.bot, self.grace, self.wait = bot, grace, wait
        self.bot_id = int(str(bot.token).split(":", 1)[0]) if ":" in str(bot.token) else 0
        self.stats: dict[str, int] = {"edits_skipped": 0, "thread_fallbacks": 0,
                                      "topics_adopted": 0, "duplicates_deleted": 0}

    # -- before the call -------------------------------------------------------------------
    async def prepare(self, reply: Reply, row_id: int | None) -> tuple[Reply, SendResult | None]:
        """The reply as it is to be sent, or the outcome to record instead of sending it."""
        if not (reply.thread_key or reply.edit_message_id or reply.topic):
            return reply, None
        return await asyncio.to_thread(self._plan, reply, row_id)

    def _plan(self, reply: Reply, row_id: int | None) -> tuple[Reply, SendResult | None]:
        if reply.thread_key and reply.thread_id is None:
            reply, outcome = self._resolve(reply, row_id)
            if outcome is not None:
                return reply, outcome
        if row_id is not None and self._unchanged(reply, row_id):
            self.stats["edits_skipped"] += 1
            return reply, SendResult(row_id, reply.edit_message_id)
        if row_id is not None and (reply.topic or {}).get("op") == "create":
            return reply, self._before_create(reply, row_id)
        return reply, None

    def _resolve(self, reply: Reply, row_id: int | None) -> tuple[Reply, SendResult | None]:
        """thread_key -> thread_id: wait for the topic row, or go without a thread."""
        key, reason = reply.thread_key, f"waits for {reply.thread_key}"
        if row_id is not None and outgoing.waiting_before(reply.chat_id, row_id, reason):
            return reply, SendResult(row_id, defer=self.wait, reason=reason)
        status, thread_id = outgoing.key_state(key)
        if status == outgoing.SENT and thread_id:
            return dataclasses.replace(reply, thread_id=thread_id), None
        if status is not None and status != outgoing.DEAD and row_id is not None:
            return reply, SendResult(row_id, defer=self.wait, reason=reason)
        if reply.topic is not None:
            log.info("outgoing row %s: topic %s was never created; %s given up", row_id, key,
                     reply.topic.get("op"))
            return reply, SendResult(row_id, error=f"topic {key} was never created")
        log.warning("outgoing row %s: topic %s is %s: sent to the group %s itself", row_id, key,
                    status or "gone", reply.chat_id)
        self.stats["thread_fallbacks"] += 1
        return reply, None

    def _unchanged(self, reply: Reply, row_id: int) -> bool:
        """An edit in place that would change nothing Telegram shows."""
        if not reply.edit_message_id or reply.keyboard or reply.remove_keyboard \
                or reply.photo is not None or reply.document is not None:
            return False
        last = outgoing.last_content(reply.chat_id, reply.edit_message_id, row_id)
        buttons = [[asdict(b) for b in row] for row in reply.buttons]
        return last is not None and last == (reply.text or "", buttons)

    def _before_create(self, reply: Reply, row_id: int) -> SendResult | None:
        """Adopt the topic an earlier attempt made, wait for its news, or record a new try."""
        name = reply.topic.get("name") or ""
        with write_tx():
            tried = forum.attempt_of(row_id)
            if tried is not None:
                found = forum.adoptable(reply.chat_id, name, self.bot_id, tried)
                if found is not None:
                    forum.own(reply.chat_id, found, row_id, name, self.bot_id)
                    log.info("outgoing row %s: adopted topic %s its earlier attempt created",
                             row_id, found)
                    self.stats["topics_adopted"] += 1
                    return SendResult(row_id, found)
                left = self.grace - (utcnow() - tried).total_seconds()
                if left > 0:                  # look again soon: its news may be on the way
                    return SendResult(row_id, defer=min(left, self.wait),
                                      reason="topic creation unconfirmed")
            forum.record_attempt(row_id, reply.chat_id, name)
        return None

    # -- the call --------------------------------------------------------------------------
    async def send(self, reply: Reply, row_id: int | None, provider_token: str = "") -> int | None:
        """send_reply, with a gone thread's message sent to the group itself."""
        creating = row_id is not None and (reply.topic or {}).get("op") == "create"
        try:
            message_id = await send_reply(self.bot, reply, provider_token=provider_token)
        except (RetryAfter, BadRequest, Forbidden) as e:
            if creating:                      # Telegram refused it: no topic was made
                await asyncio.to_thread(forum.forget_attempt, row_id)
            if creating and thread_gone(e):   # a plain group: the domain learns it from the row
                raise TopicGone(f"chat {reply.chat_id} makes no topic: {e}") from e
            if reply.topic is not None and thread_gone(e) and not creating:
                raise TopicGone(f"topic {reply.thread_id} in chat {reply.chat_id}: {e}") from e
            if reply.topic is None and reply.thread_id is not None and thread_gone(e):
                return await self._without_thread(reply, row_id, e)
            raise
        if creating:
            await asyncio.to_thread(self._created, reply, row_id, message_id)
        return message_id

    async def _without_thread(self, reply: Reply, row_id: int | None, error: Exception) -> int | None:
        log.warning("outgoing row %s: thread %s of chat %s is gone (%s): sent to the group itself",
                    row_id, reply.thread_id, reply.chat_id, error)
        self.stats["thread_fallbacks"] += 1
        return await send_reply(self.bot, dataclasses.replace(reply, thread_id=None))

    def _created(self, reply: Reply, row_id: int, thread_id: int) -> None:
        """Own the new topic; delete the duplicates a lost earlier attempt left."""
        name = reply.topic.get("name") or ""
        with write_tx():
            forum.own(reply.chat_id, thread_id, row_id, name, self.bot_id)
            for orphan in forum.orphans(reply.chat_id, name, self.bot_id, thread_id):
                log.warning("outgoing row %s: topic %s duplicates %s: deleting it", row_id,
                            orphan, thread_id)
                forum.delete_reply(reply.chat_id, orphan)
                self.stats["duplicates_deleted"] += 1
