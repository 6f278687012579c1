"""Applies inbox rows: chats concurrently, one chat strictly in update_id order.

Each chat with work has one task that takes its rows in order; a semaphore bounds how many
engine steps run at once (each in a worker thread: the engine does blocking database and
HTTP work, so it never runs on the event loop thread). A row is applied by `Engine.handle`
with an `in_tx` hook that, in the engine's own transaction, marks the inbox row done and
queues the replies as `Outgoing` rows: the effect, the done mark and the replies commit
together (exactly-once effect; a crash after the commit still sends the replies at restart).
The replies to the update's own chat are then sent at once; replies to other chats (a work
group, say) are left to the sender's queue with its pacing.
"""
from __future__ import annotations

import asyncio
import bisect
import collections
import html
import json
import logging
import re
from datetime import timedelta
from typing import Callable

from telegram import Bot, Update

from .. import notify
from ..events import Event, Reply
from ..runtime import Engine
from ..session import utcnow
from ..storage import write_tx
from . import inbox
from .adapter import to_event
from .sender import Sender

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)       # an interactive reply not confirmed by then is re-sent


class _InTx:
    """The engine's `in_tx` hook for one update (runs in the engine's transaction)."""

    def __init__(self, update_id: int, event: Event, fallback: Callable[[Event], list[Reply]]):
        self.update_id, self.event, self.fallback = update_id, event, fallback
        self.own: list[tuple[int, Reply]] = []
        self.others = 0

    def __call__(self, replies: list[Reply]) -> None:
        if not inbox.mark_done(self.update_id):
            log.warning("update %s was already applied", self.update_id)
        replies.extend(self.fallback(self.event) if not _answered(self.event, replies) else [])
        self.own, self.others = [], 0         # a second call (after a rollback) starts afresh
        for reply in replies:
            row_id = notify.enqueue(reply, priority=0)
            if reply.chat_id == self.event.chat_id:
                self.own.append((row_id, reply))
            else:
                self.others += 1
        if self.own:                          # ours to send now; the queue leaves them alone
            (notify.Outgoing.update(status=notify.SENDING, next_at=utcnow() + LEASE)
             .where(notify.Outgoing.id.in_([r for r, _ in self.own])).execute())


def _answered(event: Event, replies: list[Reply]) -> bool:
    """A pre-checkout query must get an answer within 10 s, whatever the flows did."""
    return event.kind != "pre_checkout" or any(r.pre_checkout for r in replies)


class Dispatcher:
    """Runs inbox rows through the engine; see the module docstring.

    Args:
        engine: the engine (its `handle` runs in a worker thread).
        bot: the PTB bot (to parse updates).
        sender: where replies go.
        concurrency: engine steps running at once (threads).
        on_error: called with (what, exception) when the transport itself fails.
    """

    def __init__(self, engine: Engine, bot: Bot, sender: Sender, *, concurrency: int = 8,
                 on_error: Callable[[str, BaseException], None] | None = None):
        self.engine, self.bot, self.sender, self.on_error = engine, bot, sender, on_error
        self._queues: dict[int, list[inbox.InboxItem]] = {}
        self._known: set[int] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.stats = collections.Counter()

    def submit(self, items: list[inbox.InboxItem]) -> None:
        """Queue stored rows (duplicates of queued or running rows are ignored)."""
        for item in items:
            if item.update_id in self._known:
                continue
            self._known.add(item.update_id)
            queue = self._queues.get(item.chat_id)
            if queue is None:
                self._queues[item.chat_id] = [item]
                self._spawn(self._run_chat(item.chat_id))
            else:
                bisect.insort(queue, item, key=lambda i: i.update_id)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Wait until every submitted row has been applied."""
        await self._idle.wait()

    async def _run_chat(self, chat_id: int) -> None:
        queue = self._queues[chat_id]
        try:
            while queue:
                item = queue.pop(0)
                try:
                    await self._apply(item)
                except Exception as e:  # noqa: BLE001 - one bad update must not stop the chat
                    await self._transport_failed(item, e)
                finally:
                    self._known.discard(item.update_id)
        finally:
            del self._queues[chat_id]

    async def _apply(self, item: inbox.InboxItem) -> None:
        event = to_event(Update.de_json(json.loads(item.raw), self.bot))
        if event is None:
            await asyncio.to_thread(_done_without_effect, item.update_id)
            return
        hook = _InTx(item.update_id, event, self._refuse_payment)
        async with self._slots:
            replies = await asyncio.to_thread(self.engine.handle, event, in_tx=hook)
        self.stats["applied"] += 1
        sending = self.sender.send_rows(hook.own)
        if event.callback_id:        # the spinner's answer needs no order: send both at once
            answer = next((r.callback_answer for r in replies if r.callback_answer), None)
            await asyncio.gather(self.sender.answer_callback(event.callback_id, answer), sending)
        else:
            await sending
        if hook.others:
            self.sender.kick()

    def _refuse_payment(self, event: Event) -> list[Reply]:
        templates = self.engine.flowset.templates
        error = templates.render("common/error", event.language, {})
        return [Reply(event.chat_id, pre_checkout={"id": event.payment["id"], "ok": False,
                                                   "error": _plain(error)[:255]})]

    async def _transport_failed(self, item: inbox.InboxItem, error: BaseException) -> None:
        """Our own failure (not the flows'): log, report, apologise; the row stays pending
        and is replayed at the next start."""
        where = f"telegram update {item.update_id} chat {item.chat_id}"
        log.error("%s failed in the transport: %s\nupdate: %s", where, error, item.raw,
                  exc_info=(type(error), error, error.__traceback__))
        self.stats["failed"] += 1
        if self.on_error:
            self.on_error(where, error)
        if item.chat_id:
            text = self.engine.flowset.templates.render("common/error", None, {})
            await self.sender.send(Reply(item.chat_id, text))


def _done_without_effect(update_id: int) -> None:
    with write_tx():
        inbox.mark_done(update_id)


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))
