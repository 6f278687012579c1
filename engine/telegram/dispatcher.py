"""Applies inbox rows: chats concurrently, one chat strictly in update_id order. This module
is the interface and what both strategies share; each strategy is a class of its own,
chosen once when the transport is wired (`TelegramBot.start`):

* `LocalDispatcher` (local_dispatcher.py): one process (SQLite). The rows handed to
  `submit` are queued per chat in memory; on SQLite, steps of different chats share a
  commit (group_commit.py).
* `SharedDispatcher` (shared_dispatcher.py): any number of worker processes on one
  PostgreSQL database. A chat's rows are applied under the chat's advisory lock, whichever
  worker stored them; chats that wait at the same time share a thread hop and their locks.

Both apply a row the same way: `Engine.handle` runs in a worker thread (the engine does
blocking database and HTTP work, so it never runs on the event loop thread) with an `in_tx`
hook (`UpdateTx`) that, in the engine's own transaction, marks the inbox row done and
queues the replies in the outgoing queue: the effect, the done mark and the replies commit
together (exactly-once effect; a crash after the commit still sends the replies at
restart). The replies to the update's own chat are then sent at once; replies to other
chats (a work group, say) are left to the sender's queue with its pacing.

A database error (`storage.is_database_error`: locked, disk full, connection lost) is not a
row's failure: the chat stops where it is (that row and the chat's later ones stay
pending, in order) and `run`, the dispatcher's supervised task, fails with the error. The
supervisor logs and reports it and restarts `run` after its backoff; the restart hands
every pending row to the chats again, so what arrived while the database was away is
answered as soon as it is back.

A handler may put an update off (`engine.errors.NotYet`: what it needs is on its way, see
patience.py): the step is rolled back, the row stays pending and is tried again after a
short wait, the chat's later rows behind it; the last try's Event says `may_wait=False`.
"""
from __future__ import annotations

import abc
import asyncio
import collections
import json
import logging
from datetime import timedelta
from typing import Callable

from telegram import Bot

from .. import outgoing
from ..events import Event, Reply
from ..runtime import Engine
from . import forum, inbox
from .incoming import to_event
from .patience import PATIENCE, Patience
from .sender import Sender

__all__ = ["Dispatcher", "UpdateTx", "LEASE"]

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)       # an interactive reply not confirmed by then is re-sent


class UpdateTx:
    """The engine's `in_tx` hook for one update (runs in the engine's transaction)."""

    def __init__(self, update_id: int, event: Event, unanswered: Callable[[Event], list[Reply]],
                 lease: timedelta = LEASE, guard: Callable[[], None] | None = None):
        self.update_id, self.event, self.unanswered, self.lease = update_id, event, unanswered, lease
        self.guard = guard                         # raises to undo the step (shared_dispatcher)
        self.own: list[tuple[int, Reply]] = []    # (row id, reply) to the update's own chat
        self.others = 0                            # replies queued for other chats
        self.earlier: list[int] = []               # shared: earlier replies of the chat not out yet

    def __call__(self, replies: list[Reply]) -> None:
        if self.guard is not None:
            self.guard()
        if not inbox.mark_done(self.update_id):
            log.warning("update %s was already applied", self.update_id)
        replies.extend(self.unanswered(self.event) if not _answered(self.event, replies) else [])
        # answer_only rides on answerCallbackQuery, not a message; the replies to the
        # update's own chat are ours to send now: leased at once, the queue leaves them alone
        queued = [r for r in replies if not r.answer_only]
        ids = outgoing.enqueue_many(queued, priority=0, held_chat=self.event.chat_id,
                                    lease=self.lease)
        # a second call (after a rollback) starts afresh
        self.own = [(i, r) for i, r in zip(ids, queued, strict=True)
                    if r.chat_id == self.event.chat_id]
        self.others = len(queued) - len(self.own)


def _answered(event: Event, replies: list[Reply]) -> bool:
    """Telegram waits 10 s for the answer to a pre-checkout query, then fails it: the
    transport makes sure one is given, whatever the flows did."""
    return event.kind != "pre_checkout" or any(r.pre_checkout for r in replies)


class Dispatcher(abc.ABC):
    """Runs inbox rows through the engine; see the module docstring.

    Args:
        engine: the engine (its `handle` runs in a worker thread).
        bot: the PTB bot (to parse updates).
        sender: where replies go.
        concurrency: engine steps running at once (threads).
        on_error: called with (what, exception) when the transport itself fails.
        lease: how long the replies being sent now are kept from other senders.
        patience: seconds an update a handler puts off (NotYet) is tried again at most.
    """

    def __init__(self, engine: Engine, bot: Bot, sender: Sender, *, concurrency: int = 8,
                 on_error: Callable[[str, BaseException], None] | None = None,
                 lease: timedelta = LEASE, patience: float = PATIENCE):
        self.engine, self.bot, self.sender, self.on_error = engine, bot, sender, on_error
        self.lease = lease
        self.patience = Patience(patience)
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stalls = 0                              # database errors that stopped a chat
        self._resubmitted = 0                         # stalls whose rows were handed out again
        self._stall_error: BaseException | None = None
        self._stalled = asyncio.Event()
        self.stats = collections.Counter()

    # -- the interface -----------------------------------------------------------------------
    @abc.abstractmethod
    def submit(self, items: list[inbox.InboxItem]) -> None:
        """Stored rows to apply (rows already queued or running are ignored)."""

    async def run(self) -> None:
        """The supervised task: after a database error stopped chats, hand every pending
        row out again; then wait for the next such error and fail with it (the supervisor
        logs, reports and restarts this after its backoff). A failed read fails the same way."""
        if self._resubmitted < self._stalls:
            seen = self._stalls
            rows = await asyncio.to_thread(inbox.pending)
            self._resubmit(rows)
            self._resubmitted = seen
            log.info("database back: %d pending update(s) handed to their chats again", len(rows))
        while self._resubmitted == self._stalls:
            self._stalled.clear()
            await self._stalled.wait()
        raise self._stall_error

    async def wait_idle(self) -> None:
        """Wait until every submitted row has been applied."""
        await self._idle.wait()

    # -- for the strategies ------------------------------------------------------------------
    def _resubmit(self, rows: list[inbox.InboxItem]) -> None:
        """After a stall: the pending rows go to their chats again."""
        self.submit(rows)

    def _stall(self, chat_id: int, error: BaseException) -> None:
        """A chat stopped on a database error; its rows stay pending for `run`."""
        log.warning("chat %s: database unavailable, its pending updates wait: %s", chat_id, error)
        self.stats["stalled"] += 1
        self._stalls += 1
        self._stall_error = error
        self._stalled.set()

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self._idle.set()

    def _event(self, item: inbox.InboxItem) -> Event | None:
        """The update's event; None when no user is behind it, or the bot itself is (the
        service message of a topic it created: news for the transport, not for the flows)."""
        event = to_event(json.loads(item.raw), self._username())
        if event is None or event.user_id == self._bot_id():
            return None
        event.may_wait = self.patience.may_wait(item.update_id)
        return event

    async def _put_off(self, item: inbox.InboxItem, error: BaseException) -> None:
        """A handler put the row off (NotYet, rolled back): wait before its next try. Only
        the chat's own task waits: no slot, no transaction is held meanwhile."""
        wait = self.patience.put_off(item.update_id)
        self.stats["put_off"] += 1
        log.debug("update %s (chat %s) put off for %.2f s: %s", item.update_id, item.chat_id,
                  wait, error)
        await asyncio.sleep(wait)

    def _username(self) -> str | None:
        """Our bot's username (whom `/cmd@name` addresses); None before getMe answered."""
        try:
            return self.bot.username
        except RuntimeError:         # a Bot never initialized: every command is taken as ours
            return None

    def _bot_id(self) -> int:
        head = str(self.bot.token).split(":", 1)[0]
        return int(head) if head.isdigit() else 0

    def _without_effect(self, item: inbox.InboxItem) -> None:
        """Done, in the caller's transaction, with no step run; the bot's own topic
        creation is recorded for the exactly-once protocol (engine/telegram/forum.py)."""
        inbox.mark_done(item.update_id)
        event = to_event(json.loads(item.raw), self._username())
        topic = event.topic if event is not None else None
        if topic and topic.get("op") == "created" and event.thread_id:
            if forum.seen(event.chat_id, event.thread_id, topic.get("name") or "",
                          event.user_id, self._bot_id()):
                log.warning("chat %s: topic %s duplicates one already created: deleting it",
                            event.chat_id, event.thread_id)

    def _hook(self, item: inbox.InboxItem, event: Event, guard: Callable[[], None] | None = None) -> UpdateTx:
        return UpdateTx(item.update_id, event, self._unanswered, self.lease, guard)

    def _unanswered(self, event: Event) -> list[Reply]:
        """The answer the project registered for an event its handler left unanswered (it
        failed, say): the project decides what to say (`Registry.fallback`)."""
        fallback = self.engine.registry.fallbacks.get(event.kind)
        if fallback is None:
            log.warning("chat %s: a %s event got no answer and none is registered for it",
                        event.chat_id, event.kind)
            return []
        return fallback(event, self.engine.flowset.templates)

    async def _wait_for_earlier(self, event: Event, hook: UpdateTx) -> None:
        """Before the replies go out (the shared strategy waits for other workers' replies
        to this chat's earlier update)."""
        return                       # a process alone sends its chats' replies in order

    async def _deliver(self, event: Event, hook: UpdateTx, replies: list[Reply]) -> None:
        """After the commit: send the replies to the update's own chat, answer the button."""
        self.stats["applied"] += 1
        await self._wait_for_earlier(event, hook)
        sending = self.sender.send_rows(hook.own)
        if event.callback_id:        # the spinner's answer needs no order: send both at once
            answer = next((r.callback_answer for r in replies if r.callback_answer), None)
            await asyncio.gather(self.sender.answer_callback(event.callback_id, answer), sending)
        else:
            await sending
        if hook.others:
            self.sender.kick()

    async def _transport_failed(self, item: inbox.InboxItem, error: BaseException) -> None:
        """Our own failure (not the flows'): log, report, apologise. Local: the row stays
        pending and is replayed at the next start; shared: it was given up."""
        where = f"telegram update {item.update_id} chat {item.chat_id}"
        log.error("%s failed in the transport: %s\nupdate: %s", where, error, item.raw,
                  exc_info=(type(error), error, error.__traceback__))
        self.stats["failed"] += 1
        if self.on_error:
            self.on_error(where, error)
        if item.chat_id:
            text = self.engine.flowset.templates.render("common/error", None, {})
            await self.sender.send(Reply(item.chat_id, text))
