"""Group commit (SQLite): engine steps of different chats that wait at the same time run in
one thread hop and one transaction, each in its own savepoint (the engine's: `Engine.handle`
nests its transaction as one).

SQLite runs one writer at a time on one thread anyway; sharing a commit saves a commit and
two thread switches per update. A chat has at most one step in a batch (its task waits for
the result), so order is kept; the replies go out only after the batch committed, so
effect + done mark + replies still commit together (a failed commit fails every step of
the batch: all stay pending). A failing step undoes only its own savepoint.
"""
from __future__ import annotations

import asyncio
import collections
from typing import Callable

from ..events import Event, Reply
from ..runtime import Engine
from ..storage import write_tx

__all__ = ["GroupCommit", "BATCH", "settle"]

BATCH = 32                          # steps committed together at most


class GroupCommit:
    """`await group_commit(event, hook)` runs `engine.handle(event, in_tx=hook)` in the next
    shared transaction and returns its replies (or raises its error).

    Args:
        engine: the engine.
        stats: counts "batches" (the dispatcher's counters).
        spawn: starts the batch runner as a task its owner waits for at shutdown.
    """

    def __init__(self, engine: Engine, stats: collections.Counter, spawn: Callable):
        self.engine, self.stats, self.spawn = engine, stats, spawn
        self._batch: list[tuple[Event, Callable, asyncio.Future]] = []
        self._running = False

    def __call__(self, event: Event, hook: Callable[[list[Reply]], None]) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._batch.append((event, hook, future))
        if not self._running:
            self._running = True
            self.spawn(self._run_batches())
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
                settle([future for _, _, future in batch], results)
        finally:
            self._running = False

    def _handle_all(self, batch: list) -> list:
        """In the worker thread: every step of the batch, one transaction."""
        results: list = []
        with write_tx():
            for event, hook, _ in batch:
                try:
                    # no savepoint of our own: everything `handle` writes is inside its own
                    # (write_tx nests as one), so a failure already undoes this step only
                    results.append(self.engine.handle(event, in_tx=hook))
                except Exception as e:  # noqa: BLE001 - handed to that chat's task
                    results.append(e)
        return results


def settle(futures: list[asyncio.Future], outcomes: list) -> None:
    """Hand each step of a batch its outcome: an exception is raised in that chat's task."""
    for future, outcome in zip(futures, outcomes, strict=True):   # one outcome a step
        if future.done():                    # cancelled at shutdown
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
