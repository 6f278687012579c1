"""What happened to each sent message, written down: a row sent (with Telegram's message
id), to be retried later, or given up.

A crash re-sends every row not yet marked sent, so each row is marked as soon as Telegram
answered it (the sender holds the chat's lane meanwhile: the chat's next message waits for
the mark, and a crash repeats at most the one message in flight in each chat). The marks
are written by one dedicated thread (`MarkWriter`), not the engine's executor, so a mark
never queues behind engine steps and the event loop only awaits a future; marks that
arrive while a write is on commit together in the next transaction. The rows themselves
are changed by `engine.outgoing` (their only writer).
"""
from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from dataclasses import dataclass

from .. import outgoing, storage
from ..storage import write_tx

__all__ = ["SendResult", "MarkWriter"]

log = logging.getLogger(__name__)


@dataclass
class SendResult:
    """One send's result (row_id None: a message sent past the queue, nothing to mark)."""
    row_id: int | None
    message_id: int | None = None
    error: str | None = None
    retry_in: float | None = None         # None with an error: give up (dead row)
    lost: bool = False                    # the lease passed to another sender: record nothing
    defer: float | None = None            # not sent yet (waits for its topic): due again in s
    reason: str = ""                      # why it waits (kept in the row's error)

    @property
    def ok(self) -> bool:
        return self.error is None


class MarkWriter:
    """One thread that writes outcomes as they come: it takes every outcome waiting, commits
    them in one transaction and resolves their futures. Its own database connection, so a
    mark never waits for the engine's executor. Started on the first mark."""

    RETRIES = (0.1, 0.5, 2.0)             # seconds between attempts when the database fails

    def __init__(self):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, outcome: SendResult) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outgoing-marks",
                                                daemon=True)
                self._thread.start()
            self._queue.put((outcome, future))
        return future

    def close(self) -> None:
        """Write what is queued, then stop the thread and close its connection."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        try:
            while (batch := self._take()) is not None:
                self._write(batch)
                if None in batch:
                    return
        finally:
            storage.close()                   # this thread's connection

    def _take(self) -> list | None:
        """The next outcome and every one queued behind it (None, the stop, ends a batch)."""
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch
            batch.append(item)
            if item is None:
                return batch

    def _write(self, batch: list) -> None:
        items = [b for b in batch if b is not None]
        for delay in (*self.RETRIES, None):
            try:
                _record([outcome for outcome, _ in items])
                break
            except Exception:  # unmarked rows are re-sent after their lease
                if delay is None:
                    log.exception("outgoing rows %s: marking them failed; they will be sent "
                                  "again when their lease runs out",
                                  [o.row_id for o, _ in items])
                    break
                log.warning("marking %d outgoing row(s) failed; retrying", len(items),
                            exc_info=True)
                time.sleep(delay)
        for _, future in items:
            if not future.done():
                try:
                    future.set_result(None)
                except concurrent.futures.InvalidStateError:   # cancelled meanwhile
                    pass


def _record(outcomes: list[SendResult]) -> None:
    """Mark rows sent or failed, all at once: the sent ones in one statement, and a
    transaction only when there is more than that one to write (a statement alone is
    atomic: the usual mark, one row sent, costs one round trip)."""
    rows = [o for o in outcomes if o.row_id is not None and not o.lost]
    if not rows:
        return
    sent = {o.row_id: o.message_id for o in rows if o.defer is None and o.ok}
    rest = [o for o in rows if o.defer is not None or not o.ok]
    if not rest:
        outgoing.mark_all_sent(sent)
        return
    with write_tx():
        outgoing.mark_all_sent(sent)
        for o in rest:
            if o.defer is not None:
                outgoing.defer(o.row_id, o.defer, o.reason)
            else:
                outgoing.mark_failed(o.row_id, o.error or "", retry_in=o.retry_in)
