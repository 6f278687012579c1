"""The sends of one claimed outbox batch (helpdesk.sync.push): one HTTP call an item, the
CRM's contract, by `sync.senders` threads at once. A batch holds no two items of one
entity (the claim) and no child of an item in it (push._prepare gives those back), so
its items may go in any order, side by side; several senders hide the CRM's latency.

The answers are settled (written back, marked done: `settle()`) whenever SETTLE_SECONDS
have passed since the last settle, and at the end: a drainer that dies leaves no more
than that, and the requests in flight (one a sender), to be sent again under their keys.
A retryable failure (or a settle that fails) stops the batch: no new send starts, the
ones in flight finish and are recorded, the rest is given back untried.
"""
from __future__ import annotations

import collections
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from engine import storage
from engine.errors import BotError, IntegrationError
from engine.storage import is_database_error

__all__ = ["Batch", "Skip", "send_batch", "SETTLE_SECONDS"]

SETTLE_SECONDS = 0.2        # answers are written back at least this often within a batch


class Skip(BotError):
    """Nothing to send for this item (its row is gone, or the CRM has no such call)."""


@dataclass
class Batch:
    """A claimed batch on its way: the items ready to send (item, spec, record), the CRM's
    answers not yet settled, and what is to be recorded after the sends."""
    ready: list = field(default_factory=list)
    delivered: list = field(default_factory=list)     # (item, spec, answer)
    failed: list = field(default_factory=list)        # (item, error)
    skipped: list = field(default_factory=list)       # (item, error)
    untried: list = field(default_factory=list)       # item ids to give back

    def record(self, item, spec, answer, error: BaseException | None) -> bool:
        """One send's outcome; True when it must stop the batch."""
        if error is None:
            self.delivered.append((item, spec, answer))
        elif isinstance(error, Skip):
            self.skipped.append((item, error))
        else:
            self.failed.append((item, error))
        return _stops(error)


def _stops(error: BaseException | None) -> bool:
    """The CRM (or our database) is in trouble: no new send."""
    return error is not None and (is_database_error(error) or (
        isinstance(error, IntegrationError) and error.retryable))


def send_batch(crm, batch: Batch, settle: Callable[[], bool], senders: int = 1) -> bool:
    """Send the batch's ready items, settling on the way; True when the run should stop."""
    if senders <= 1 or len(batch.ready) <= 1:
        return _one_by_one(crm, batch, settle)
    return _side_by_side(crm, batch, settle, min(senders, len(batch.ready)))


def _outcome(crm, item, spec, record) -> tuple:
    try:
        return item, spec, spec.send(crm, record, item.key), None
    except Exception as e:  # noqa: BLE001 - one item's failure is recorded on it
        return item, spec, None, e


def _one_by_one(crm, batch: Batch, settle) -> bool:
    settled_at = time.monotonic()
    for n, (item, spec, record) in enumerate(batch.ready):
        stop = batch.record(*_outcome(crm, item, spec, record))
        if not stop and time.monotonic() - settled_at >= SETTLE_SECONDS:
            stop, settled_at = settle(), time.monotonic()
        if stop:
            batch.untried += [i.id for i, _, _ in batch.ready[n + 1:]]
            return settle() or True
    return settle()


def _side_by_side(crm, batch: Batch, settle, senders: int) -> bool:
    todo, lock = collections.deque(batch.ready), threading.Lock()
    results: queue.Queue = queue.Queue()
    halt = threading.Event()

    def sender() -> None:
        try:
            while not halt.is_set():
                with lock:
                    if not todo:
                        return
                    item, spec, record = todo.popleft()
                outcome = _outcome(crm, item, spec, record)
                if _stops(outcome[3]):
                    halt.set()                  # at once: the other senders start no more
                results.put(outcome)
        finally:
            storage.close()                     # a send may read (1C's references)
            results.put(None)

    threads = [threading.Thread(target=sender, name=f"outbox-send-{n}", daemon=True)
               for n in range(senders)]
    for t in threads:
        t.start()
    stop, alive, settled_at = False, senders, time.monotonic()
    while alive:
        try:
            got = results.get(timeout=SETTLE_SECONDS)
        except queue.Empty:
            got = ()
        if got is None:
            alive -= 1
        elif got and batch.record(*got):
            stop = True
            halt.set()
        if not stop and time.monotonic() - settled_at >= SETTLE_SECONDS:
            stop, settled_at = settle(), time.monotonic()
            if stop:
                halt.set()
    for t in threads:
        t.join()
    batch.untried += [i.id for i, _, _ in todo]
    return settle() or stop
