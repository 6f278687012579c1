"""Applies inbox rows: chats concurrently, one chat strictly in update_id order.

Each chat with work has one task that takes its rows in order; a semaphore bounds how many
engine steps run at once (each in a worker thread: the engine does blocking database and
HTTP work, so it never runs on the event loop thread). A row is applied by `Engine.handle`
with an `in_tx` hook that, in the engine's own transaction, marks the inbox row done and
queues the replies as `Outgoing` rows: the effect, the done mark and the replies commit
together (exactly-once effect; a crash after the commit still sends the replies at restart).
The replies to the update's own chat are then sent at once; replies to other chats (a work
group, say) are left to the sender's queue with its pacing.

Two modes:
* local (SQLite: one process): the rows handed to `submit` are queued per chat in memory;
* shared (PostgreSQL: any number of worker processes on one database): `submit` only wakes
  the chat's task, which then, one transaction per row, takes the chat's advisory lock
  (`inbox.lock_chat`), reads the chat's oldest pending row (stored by this worker or any
  other) and applies it, until none is left. Whoever holds the lock drains the chat in
  update_id order; a worker whose row was taken by another finds nothing and stops. A row
  stored while another worker drains the chat is not stranded: its own worker wakes the chat
  after the row is committed and waits for the lock, so it looks after the other one's last
  look. Rows of a worker that died are found by `TelegramBot`'s periodic sweep. A row that
  keeps failing in the transport (not in the flows) is given up after `MAX_FAILURES`
  (status failed, reported) so it does not hold its chat back forever.

A database error (`storage.is_database_error`: locked, disk full, connection lost) is not a
row's failure: the chat stops where it is (that row and the chat's later ones stay
pending, in order) and `run`, the dispatcher's supervised task, fails with the error. The
supervisor logs and reports it and restarts `run` after its backoff; the restart hands
every pending row to the chats again, so what arrived while the database was away is
answered as soon as it is back.
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
from ..storage import db, is_database_error, is_sqlite, write_tx
from . import inbox
from .adapter import to_event
from .sender import Sender

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)       # an interactive reply not confirmed by then is re-sent
BATCH = 32                          # SQLite: steps of different chats committed together
MAX_FAILURES = 3                    # shared mode: transport failures before a row is given up
EARLIER_PATIENCE = 3.0              # shared: seconds to let another worker's earlier replies go first


class _InTx:
    """The engine's `in_tx` hook for one update (runs in the engine's transaction)."""

    def __init__(self, update_id: int, event: Event, fallback: Callable[[Event], list[Reply]],
                 lease: timedelta = LEASE, shared: bool = False):
        self.update_id, self.event, self.fallback, self.lease = update_id, event, fallback, lease
        self.shared = shared
        self.own: list[tuple[int, Reply]] = []
        self.others = 0
        self.earlier: list[int] = []   # rows of this chat's earlier replies still being sent

    def __call__(self, replies: list[Reply]) -> None:
        if not inbox.mark_done(self.update_id):
            log.warning("update %s was already applied", self.update_id)
        replies.extend(self.fallback(self.event) if not _answered(self.event, replies) else [])
        self.own, self.others = [], 0         # a second call (after a rollback) starts afresh
        for reply in replies:
            if reply.answer_only:             # rides on answerCallbackQuery, not a message
                continue
            row_id = notify.enqueue(reply, priority=0)
            if reply.chat_id == self.event.chat_id:
                self.own.append((row_id, reply))
            else:
                self.others += 1
        if self.own:                          # ours to send now; the queue leaves them alone
            (notify.Outgoing.update(status=notify.SENDING, next_at=utcnow() + self.lease)
             .where(notify.Outgoing.id.in_([r for r, _ in self.own])).execute())
            self.earlier = _unsent_before(self.event.chat_id, self.own[0][0]) if self.shared else []


def _unsent_before(chat_id: int, row_id: int) -> list[int]:
    """Rows of replies to an earlier update of this chat that are still being sent."""
    O = notify.Outgoing
    return [r for (r,) in O.select(O.id).where(
        (O.chat_id == chat_id) & (O.status == notify.SENDING) & (O.priority == 0)
        & (O.id < row_id)).limit(20).tuples()]


async def _earlier_sent(sender: Sender, chat_id: int, row_id: int, earlier: list[int],
                        patience: float = EARLIER_PATIENCE) -> bool:
    """Wait (a bounded time) until another worker's replies to this chat's earlier update
    are out, so a user whose two quick messages reached two workers sees the answers in
    order. Rows this process sent (or is sending: its chat lane keeps them in order) do not
    count. False when there was nothing to wait for."""
    if not sender.foreign(earlier):
        return False
    deadline = asyncio.get_running_loop().time() + patience
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
        if not sender.foreign(await asyncio.to_thread(_unsent_before, chat_id, row_id)):
            return True
    log.info("chat %s: earlier replies still unsent after %.0f s; sending the next anyway",
             chat_id, patience)
    return True


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
        shared: several workers share the database (see the module docstring).
        lease: how long the replies being sent now are kept from other senders.
    """

    def __init__(self, engine: Engine, bot: Bot, sender: Sender, *, concurrency: int = 8,
                 on_error: Callable[[str, BaseException], None] | None = None,
                 shared: bool = False, lease: timedelta = LEASE):
        self.engine, self.bot, self.sender, self.on_error = engine, bot, sender, on_error
        self.shared, self.lease = shared, lease
        self._queues: dict[int, list[inbox.InboxItem]] = {}
        self._known: set[int] = set()
        self._dirty: set[int] = set()                 # shared: chats with news since last look
        self._failures: collections.Counter = collections.Counter()   # shared: update_id -> n
        self._slots = asyncio.Semaphore(concurrency)
        self._batch: list[tuple[Event, _InTx, asyncio.Future]] = []   # local SQLite: steps to run
        self._batching = False
        self._tasks: set[asyncio.Task] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stalls = 0                              # database errors that stopped a chat
        self._resubmitted = 0                         # stalls whose rows were handed out again
        self._stall_error: BaseException | None = None
        self._stalled = asyncio.Event()
        self._held: set[int] = set()                  # local: stalled chats; new rows wait for `run`
        self._held_items: list[inbox.InboxItem] = []
        self.stats = collections.Counter()

    async def run(self) -> None:
        """The supervised task: after a database error stopped chats, hand every pending
        row out again; then wait for the next such error and fail with it (the supervisor
        logs, reports and restarts this after its backoff). A failed read fails the same way."""
        if self._resubmitted < self._stalls:
            seen = self._stalls
            rows = await asyncio.to_thread(inbox.pending)
            held, self._held_items = self._held_items, []
            self._held.clear()
            self.submit(rows + held)                  # queued in update_id order per chat
            self._resubmitted = seen
            log.info("database back: %d pending update(s) handed to their chats again", len(rows))
        while self._resubmitted == self._stalls:
            self._stalled.clear()
            await self._stalled.wait()
        raise self._stall_error

    def _stall(self, chat_id: int, error: BaseException) -> None:
        """A chat stopped on a database error; its rows stay pending for `run`."""
        log.warning("chat %s: database unavailable, its pending updates wait: %s", chat_id, error)
        self.stats["stalled"] += 1
        if not self.shared:
            self._held.add(chat_id)
        self._stalls += 1
        self._stall_error = error
        self._stalled.set()

    def submit(self, items: list[inbox.InboxItem]) -> None:
        """Queue stored rows (duplicates of queued or running rows are ignored); in shared
        mode, wake their chats."""
        if self.shared:
            for chat_id in {item.chat_id for item in items}:
                self.wake(chat_id)
            return
        for item in items:
            if item.update_id in self._known:
                continue
            if item.chat_id in self._held:            # behind a stalled row: `run` submits it
                self._held_items.append(item)
                continue
            self._known.add(item.update_id)
            queue = self._queues.get(item.chat_id)
            if queue is None:
                self._queues[item.chat_id] = [item]
                self._spawn(self._run_chat(item.chat_id))
            else:
                bisect.insort(queue, item, key=lambda i: i.update_id)

    def wake(self, chat_id: int) -> None:
        """Shared mode: apply whatever the chat has pending (stored by any worker)."""
        self._dirty.add(chat_id)
        if chat_id not in self._queues:
            self._queues[chat_id] = []                # marks the chat's task as running
            self._spawn(self._drain_chat(chat_id))

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
                    if is_database_error(e):
                        self._known.difference_update(i.update_id for i in queue)
                        queue.clear()                 # later rows wait behind this one
                        self._stall(chat_id, e)
                    else:
                        await self._transport_failed(item, e)
                finally:
                    self._known.discard(item.update_id)
        finally:
            del self._queues[chat_id]

    async def _apply(self, item: inbox.InboxItem) -> None:
        event = self._event(item)
        if event is None:
            await asyncio.to_thread(_done_without_effect, item.update_id)
            return
        hook = self._hook(item, event)
        if is_sqlite():
            replies = await self._in_batch(event, hook)
        else:
            async with self._slots:
                replies = await asyncio.to_thread(self.engine.handle, event, in_tx=hook)
        await self._deliver(event, hook, replies)

    # -- group commit (local mode on SQLite) -----------------------------------------------
    def _in_batch(self, event: Event, hook: _InTx) -> asyncio.Future:
        """Run the step with whatever steps of other chats are waiting, in one thread hop and
        one transaction (each step in its own savepoint). SQLite runs one writer at a time on
        one thread anyway; this saves a commit and two thread switches per update. A chat has
        at most one step in a batch (its task waits for the result), so order is kept; the
        replies go out only after the batch committed, so effect + done mark + replies still
        commit together (a failed commit fails every step of the batch: all stay pending)."""
        future = asyncio.get_running_loop().create_future()
        self._batch.append((event, hook, future))
        if not self._batching:
            self._batching = True
            self._spawn(self._run_batches())
        return future

    async def _run_batches(self) -> None:
        try:
            while self._batch:
                batch, self._batch = self._batch[:BATCH], self._batch[BATCH:]
                try:
                    results = await asyncio.to_thread(self._handle_all, batch)
                except Exception as e:  # noqa: BLE001 - the commit failed: every step did
                    results = [e] * len(batch)
                self.stats["batches"] += 1
                for (_, _, future), result in zip(batch, results, strict=True):   # one result a step
                    if future.done():                # cancelled at shutdown
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._batching = False

    def _handle_all(self, batch: list) -> list:
        """In the worker thread: every step of the batch, one transaction."""
        results: list = []
        with write_tx():
            for event, hook, _ in batch:
                try:
                    with db.atomic():            # a savepoint: a failure undoes this step only
                        results.append(self.engine.handle(event, in_tx=hook))
                except Exception as e:  # noqa: BLE001 - handed to that chat's task
                    results.append(e)
        return results

    def _event(self, item: inbox.InboxItem) -> Event | None:
        return to_event(Update.de_json(json.loads(item.raw), self.bot))

    def _hook(self, item: inbox.InboxItem, event: Event) -> _InTx:
        return _InTx(item.update_id, event, self._refuse_payment, self.lease, self.shared)

    async def _deliver(self, event: Event, hook: _InTx, replies: list[Reply]) -> None:
        """After the commit: send the replies to the update's own chat, answer the button."""
        self.stats["applied"] += 1
        if hook.earlier and await _earlier_sent(self.sender, event.chat_id, hook.own[0][0],
                                                hook.earlier):
            self.stats["waited_for_earlier"] += 1
        sending = self.sender.send_rows(hook.own)
        if event.callback_id:        # the spinner's answer needs no order: send both at once
            answer = next((r.callback_answer for r in replies if r.callback_answer), None)
            await asyncio.gather(self.sender.answer_callback(event.callback_id, answer), sending)
        else:
            await sending
        if hook.others:
            self.sender.kick()

    # -- shared mode -----------------------------------------------------------------------
    async def _drain_chat(self, chat_id: int) -> None:
        try:
            while chat_id in self._dirty:
                self._dirty.discard(chat_id)
                while await self._apply_next(chat_id):
                    pass
        finally:
            del self._queues[chat_id]

    async def _apply_next(self, chat_id: int) -> bool:
        """Apply the chat's oldest pending row under the chat's lock; False when none is
        left (or the database failed: the sweep or the next update looks again)."""
        try:
            async with self._slots:
                applied = await asyncio.to_thread(self._apply_locked, chat_id)
        except _RowFailed as e:
            return await self._row_failed(e.item, e.error)
        except Exception as e:  # noqa: BLE001 - the database: leave the rows pending
            self._stall(chat_id, e)
            return False
        if applied is None:
            return False
        if applied[0] is not None:
            await self._deliver(*applied)
        else:
            self.stats["applied"] += 1
        return True

    def _apply_locked(self, chat_id: int):
        """In a worker thread, one transaction: lock the chat, apply its oldest pending row.
        (event, hook, replies); (None, None, None) for an update without an event; None
        when nothing is pending."""
        with write_tx():
            inbox.lock_chat(chat_id)
            item = inbox.next_pending(chat_id)
            if item is None:
                return None
            try:
                return self._apply_row(item)
            except Exception as e:
                if is_database_error(e):
                    raise                     # not the row's fault: it stays pending
                raise _RowFailed(item, e) from e

    def _apply_row(self, item: inbox.InboxItem):
        event = self._event(item)
        if event is None:
            inbox.mark_done(item.update_id)
            return None, None, None
        hook = self._hook(item, event)
        return event, hook, self.engine.handle(event, in_tx=hook)   # nests as a savepoint

    async def _row_failed(self, item: inbox.InboxItem, error: BaseException) -> bool:
        """A row failed in the transport: try it again, and after MAX_FAILURES give it up
        (failed, reported, the user gets an apology) so the chat's later rows go on."""
        self._failures[item.update_id] += 1
        if self._failures[item.update_id] < MAX_FAILURES:
            log.warning("update %s (chat %s) failed in the transport, retrying: %s",
                        item.update_id, item.chat_id, error)
            await asyncio.sleep(0.2 * self._failures[item.update_id])
            return True
        del self._failures[item.update_id]
        try:
            await asyncio.to_thread(inbox.mark_failed, item.update_id)
        except Exception:  # still pending: the sweep tries it again later
            log.exception("update %s could not be marked failed", item.update_id)
            return False
        await self._transport_failed(item, error)
        return True

    def _refuse_payment(self, event: Event) -> list[Reply]:
        templates = self.engine.flowset.templates
        error = templates.render("common/error", event.language, {})
        return [Reply(event.chat_id, pre_checkout={"id": event.payment["id"], "ok": False,
                                                   "error": _plain(error)[:255]})]

    async def _transport_failed(self, item: inbox.InboxItem, error: BaseException) -> None:
        """Our own failure (not the flows'): log, report, apologise. Local mode: the row
        stays pending and is replayed at the next start; shared mode: it was given up."""
        where = f"telegram update {item.update_id} chat {item.chat_id}"
        log.error("%s failed in the transport: %s\nupdate: %s", where, error, item.raw,
                  exc_info=(type(error), error, error.__traceback__))
        self.stats["failed"] += 1
        if self.on_error:
            self.on_error(where, error)
        if item.chat_id:
            text = self.engine.flowset.templates.render("common/error", None, {})
            await self.sender.send(Reply(item.chat_id, text))


class _RowFailed(Exception):
    def __init__(self, item: inbox.InboxItem, error: BaseException):
        super().__init__(str(error))
        self.item, self.error = item, error


def _done_without_effect(update_id: int) -> None:
    with write_tx():
        inbox.mark_done(update_id)


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))
