"""The dispatcher of one process (SQLite, or a single worker that is told it is alone).

The rows handed to `submit` are queued per chat in memory, sorted by update_id; each chat
with work has one task that applies its rows one after another, and exits when the queue
is empty (nothing grows with the number of chats ever seen). On SQLite the steps of
different chats share commits (group_commit.py); elsewhere each step runs in a worker
thread, at most `concurrency` at once.

A row that fails in the transport (not in the flows) stays pending and is replayed at the
next start; a database error holds the chat back (its later rows too, even ones stored
meanwhile) until the supervised `run` hands every pending row out again. A row a handler
puts off (NotYet) goes back to the head of its chat's queue and the chat's task waits
(patience.py); the other chats' tasks go on.
"""
from __future__ import annotations

import asyncio
import bisect

from ..errors import NotYet
from ..events import Event, Reply
from ..storage import is_database_error, is_sqlite, write_tx
from . import inbox
from .dispatcher import Dispatcher, UpdateTx
from .group_commit import GroupCommit

__all__ = ["LocalDispatcher"]


class LocalDispatcher(Dispatcher):
    """See the module docstring; the arguments are `Dispatcher`'s."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._queues: dict[int, list[inbox.InboxItem]] = {}
        self._known: set[int] = set()                 # update ids queued or running
        self._held: set[int] = set()                  # stalled chats; new rows wait for `run`
        self._held_items: list[inbox.InboxItem] = []
        # how one step runs, decided once: SQLite shares commits, other databases use threads
        self._step = GroupCommit(self.engine, self.stats, self._spawn) if is_sqlite() else self._in_thread

    def submit(self, items: list[inbox.InboxItem]) -> None:
        """Queue stored rows (duplicates of queued or running rows are ignored)."""
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

    def _resubmit(self, rows: list[inbox.InboxItem]) -> None:
        held, self._held_items = self._held_items, []
        self._held.clear()
        self.submit(rows + held)                      # queued in update_id order per chat

    def _stall(self, chat_id: int, error: BaseException) -> None:
        self._held.add(chat_id)
        super()._stall(chat_id, error)

    async def _run_chat(self, chat_id: int) -> None:
        queue = self._queues[chat_id]
        try:
            while queue:
                item = queue.pop(0)
                again = False
                try:
                    await self._apply(item)
                except NotYet as e:               # still pending: first in line again
                    bisect.insort(queue, item, key=lambda i: i.update_id)
                    again = True
                    await self._put_off(item, e)
                except Exception as e:  # noqa: BLE001 - one bad update must not stop the chat
                    if is_database_error(e):
                        self._known.difference_update(i.update_id for i in queue)
                        queue.clear()                 # later rows wait behind this one
                        self._stall(chat_id, e)
                    else:
                        await self._transport_failed(item, e)
                finally:
                    if not again:
                        self._known.discard(item.update_id)
                        self.patience.forget(item.update_id)
        finally:
            del self._queues[chat_id]

    async def _apply(self, item: inbox.InboxItem) -> None:
        event = self._event(item)
        if event is None:
            await asyncio.to_thread(self._done_without_effect, item)
            return
        hook = self._hook(item, event)
        replies = await self._step(event, hook)
        await self._deliver(event, hook, replies)

    async def _in_thread(self, event: Event, hook: UpdateTx) -> list[Reply]:
        async with self._slots:
            return await asyncio.to_thread(self.engine.handle, event, in_tx=hook)

    def _done_without_effect(self, item: inbox.InboxItem) -> None:
        with write_tx():
            self._without_effect(item)
