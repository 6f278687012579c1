"""The dispatcher of several worker processes on one PostgreSQL database.

`submit` only wakes the chat's task, which then takes the chat's advisory lock, reads the
chat's oldest pending row (stored by this worker or any other) and applies it, until no row
waited behind the last one. Whoever holds the lock drains the chat in update_id order; a
worker whose row was taken by another finds nothing and stops.

Chats that wait at the same time share a batch: one thread hop, their locks taken without
waiting in one statement (`inbox.try_hold_chats`, session-level, given back in one at the
batch's end), their heads read in one (`inbox.pending_heads`), then each step in a
transaction of its own (measured: bench/e2e.py, tests/engine/telegram/test_statements.py).
One transaction for the whole batch was cheaper still, but it held each step's row locks
until the last step: another transaction waiting on one of them while holding a row a later
step needs was a deadlock (tests/engine/telegram/test_attack3_batch_locks.py). A chat whose
lock another worker holds is left out of the batch and its task waits for the lock alone, in
a transaction of its own (`_apply_locked`): a batch never waits for a chat's lock while
holding others, so two workers cannot deadlock on chat locks. A batch of one chat takes the
waiting path.

A row stored while another worker drains the chat is not stranded: its own worker wakes
the chat after the row is committed and waits for the lock, so it looks after the other
one's last look. Rows of a worker that died are found by `TelegramBot`'s periodic sweep
(`wake`).

Two quick messages of one user may reach two workers: before sending its replies, a worker
waits a bounded time for the other worker's replies to the chat's earlier update, so the
user sees the answers in order. A row that keeps failing in the transport (not in the
flows) is given up after `MAX_FAILURES` (status failed, reported, the user gets an
apology) so it does not hold its chat back forever. A row a handler puts off (NotYet) is
rolled back (alone: with the chat's lock; in a batch: its own transaction, the lock given
back at the batch's end); the chat's task waits (patience.py) and takes the lock again: the oldest
pending row is still that one, so the chat's order holds. A database error leaves its row
pending (in a batch: that chat's row; the others' steps are committed or failed on their own).
"""
from __future__ import annotations

import asyncio
import collections
import itertools
import logging

import peewee

from .. import outgoing, storage
from ..errors import NotYet
from ..events import Event
from ..storage import is_database_error, write_tx
from . import inbox
from .dispatcher import Dispatcher, UpdateTx
from .group_commit import BATCH, settle
from .sender import Sender

__all__ = ["SharedDispatcher", "MAX_FAILURES", "EARLIER_PATIENCE"]

log = logging.getLogger(__name__)
MAX_FAILURES = 3                    # transport failures before a row is given up
EARLIER_PATIENCE = 3.0              # seconds to let another worker's earlier replies go first
_CONTENDED = object()               # a batch's outcome for a chat another worker had locked


class LocksLost(peewee.OperationalError):
    """A batch's connection was reopened: the chat locks it held went with the old one."""


class SharedDispatcher(Dispatcher):
    """See the module docstring; the arguments are `Dispatcher`'s."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._draining: set[int] = set()              # chats whose task is running
        self._dirty: set[int] = set()                 # chats with news since their last look
        self._failures: collections.Counter = collections.Counter()   # update_id -> failures
        self._waiting: dict[int, asyncio.Future] = {}  # chats for the next batch -> outcome
        self._runners = 0                              # batches being applied

    def submit(self, items: list[inbox.InboxItem]) -> None:
        """Wake the rows' chats (the rows themselves are read back under the chat's lock)."""
        for chat_id in {item.chat_id for item in items}:
            self.wake(chat_id)

    def wake(self, chat_id: int) -> None:
        """Apply whatever the chat has pending (stored by any worker)."""
        self._dirty.add(chat_id)
        if chat_id not in self._draining:
            self._draining.add(chat_id)
            self._spawn(self._drain_chat(chat_id))

    async def _drain_chat(self, chat_id: int) -> None:
        try:
            while chat_id in self._dirty:
                self._dirty.discard(chat_id)
                while await self._apply_next(chat_id):
                    pass
        finally:
            self._draining.discard(chat_id)

    async def _apply_next(self, chat_id: int) -> bool:
        """Apply the chat's oldest pending row under the chat's lock; False when none is
        left (or the database failed: the sweep or the next update looks again)."""
        try:
            outcome = await self._in_batch(chat_id)
            if outcome is _CONTENDED:         # another worker holds it: wait for its lock
                self.stats["contended"] += 1
                async with self._slots:
                    outcome = await asyncio.to_thread(self._apply_locked, chat_id)
            applied, more = outcome
        except _PutOff as e:
            await self._put_off(e.item, e.error)
            return True
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
        return more

    # -- batches: the steps of chats that wait at the same time share a thread hop and a commit
    def _in_batch(self, chat_id: int) -> asyncio.Future:
        """The chat's next step in the next batch: its future gets `_apply_locked`'s
        result, the row's exception, or `_CONTENDED`."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[chat_id] = future
        # up to `concurrency` batches at once, as many as single steps ran before: a step
        # that waits on a slow HTTP call holds up its batch, not every chat of the worker
        if self._runners < self.concurrency:
            self._runners += 1
            self._spawn(self._run_batches())
        return future

    async def _run_batches(self) -> None:
        try:
            while self._waiting:
                chats = list(itertools.islice(self._waiting, BATCH))
                futures = [self._waiting.pop(chat) for chat in chats]
                async with self._slots:
                    try:
                        outcomes = await asyncio.to_thread(self._apply_batch, chats)
                    except Exception as e:  # noqa: BLE001 - the commit failed: every step did
                        outcomes = [e] * len(chats)
                self.stats["batches"] += 1
                settle(futures, outcomes)
        finally:
            self._runners -= 1

    def _apply_batch(self, chats: list[int]) -> list:
        """In a worker thread: the oldest pending row of each chat whose lock nobody holds,
        the locks taken together and kept across the steps (session-level), each step in a
        transaction of its own, so a failing row undoes only itself and no step's row locks
        wait on another chat's step (held to one commit, they made deadlocks). A chat
        another worker holds is `_CONTENDED`: its task waits for the lock alone
        (`_apply_locked`): waiting while holding other chats' locks could deadlock two
        workers. A database error is that chat's outcome: it stays pending."""
        if len(chats) == 1:                   # nothing else held: wait for the lock at once
            try:
                return [self._apply_locked(chats[0])]
            except Exception as e:  # noqa: BLE001 - handed to the chat's task
                return [e]
        locked = inbox.try_hold_chats(chats)
        holder = storage.db.connection()      # the locks are this connection's
        try:
            heads = inbox.pending_heads([chat for chat in chats if chat in locked])
            outcomes: list = []
            broken = None            # a database error: the connection may have been replaced,
            for chat in chats:       # and the locks went with the old one
                if chat not in locked:
                    outcomes.append(_CONTENDED)
                elif broken is not None:
                    outcomes.append(broken)    # no step runs without its lock: it stays pending
                else:
                    outcomes.append(self._apply_held(*heads[chat], holder))
                    if isinstance(outcomes[-1], BaseException) and is_database_error(outcomes[-1]):
                        broken = outcomes[-1]
            return outcomes
        finally:
            self._release(locked)

    def _apply_held(self, item: inbox.InboxItem | None, more: bool, in_flight: list[int], holder):
        """One chat of a batch, its lock held: its step is the engine's transaction (the row
        marked done in it; a failure rolls it back); the row's failure or a database error is
        returned, not raised, so the batch's other chats go on. A step whose connection is no
        longer `holder` (reopened at its BEGIN, outside a transaction) ran without the lock:
        it is undone (LocksLost) and stays pending."""
        def guard() -> None:
            if storage.db.connection() is not holder:
                raise LocksLost(f"chat {item.chat_id}: the connection holding its lock was reopened")
        try:
            return self._apply_head(item, more, in_flight, guard)
        except Exception as e:  # noqa: BLE001 - handed to the chat's task
            return e

    @staticmethod
    def _release(locked: set[int]) -> None:
        try:
            inbox.release_chats(locked)
        except Exception:  # the connection is gone or going: so are its locks
            log.exception("chats %s: their locks could not be given back; closing the "
                          "connection so PostgreSQL does", sorted(locked))
            storage.db.close()

    def _apply_locked(self, chat_id: int):
        """In a worker thread, one transaction: lock the chat, apply its oldest pending row.
        Returns (applied, more): applied is (event, hook, replies), (None, None, None) for an
        update without an event, None when nothing is pending; `more` says whether another
        row was waiting behind it. Stopping when none was saves a transaction per update
        and strands nothing: a row this worker stores later wakes the chat again (`_dirty`),
        and another worker's row is looked after by that worker, which waits for the lock.
        A row that fails (or is put off) rolls the whole transaction back, the lock too."""
        with write_tx():
            inbox.lock_chat(chat_id)
            outcome = self._apply_head(*inbox.pending_head(chat_id))
            if isinstance(outcome, _RowFailed):
                raise outcome
            return outcome

    def _apply_head(self, item: inbox.InboxItem | None, more: bool, in_flight: list[int],
                    guard=None):
        """(applied, more) as `_apply_locked` returns it, or the row's failure (returned, so
        a batch goes on with its other chats); a database error is raised."""
        if item is None:
            return None, False
        try:
            applied = self._apply_row(item, in_flight, guard), more
        except Exception as e:
            if isinstance(e, NotYet):         # rolled back: tried again later
                return _PutOff(item, e)
            if is_database_error(e):
                raise                         # not the row's fault: it stays pending
            return _RowFailed(item, e)
        self.patience.forget(item.update_id)
        return applied

    def _apply_row(self, item: inbox.InboxItem, in_flight: list[int], guard=None):
        """`in_flight`: the chat's replies being sent when the lock was taken (read with the
        head): the earlier replies this one's must not overtake."""
        event = self._event(item)
        if event is None:
            with write_tx():                  # a savepoint: a failure undoes this row only
                self._without_effect(item)
            return None, None, None
        hook = self._hook(item, event, guard)
        replies = self.engine.handle(event, in_tx=hook)      # nests as a savepoint
        hook.earlier = in_flight if hook.own else []
        return event, hook, replies

    async def _wait_for_earlier(self, event: Event, hook: UpdateTx) -> None:
        if hook.earlier and await _earlier_sent(self.sender, event.chat_id, hook.own[0][0],
                                                hook.earlier):
            self.stats["waited_for_earlier"] += 1

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


async def _earlier_sent(sender: Sender, chat_id: int, row_id: int, earlier: list[int],
                        patience: float = EARLIER_PATIENCE) -> bool:
    """Wait (a bounded time) until another worker's replies to this chat's earlier update
    are out. Rows this process sent (or is sending: its chat lane keeps them in order) do
    not count. False when there was nothing to wait for."""
    if not sender.foreign(earlier):
        return False
    deadline = asyncio.get_running_loop().time() + patience
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
        if not sender.foreign(await asyncio.to_thread(outgoing.unsent_before, chat_id, row_id)):
            return True
    log.info("chat %s: earlier replies still unsent after %.0f s; sending the next anyway",
             chat_id, patience)
    return True


class _RowFailed(Exception):
    def __init__(self, item: inbox.InboxItem, error: BaseException):
        super().__init__(str(error))
        self.item, self.error = item, error


class _PutOff(_RowFailed):
    """A handler put the row off (NotYet): not a failure, it is tried again."""
