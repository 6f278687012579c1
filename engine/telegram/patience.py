"""How long an update a handler put off (`engine.errors.NotYet`) is tried again.

A handler puts an update off when what it needs is on its way: a client answers a message
the bot sent a moment ago, and the id Telegram gave that message is not written down yet
(marks.py writes it as soon as Telegram answers, but the client may be quicker). The step
was rolled back, so the inbox row is still pending; the dispatcher waits, then applies it
again, the chat's later rows queued behind it (per-chat order kept). Other chats go on:
only the put-off chat's task waits, holding no slot and no transaction.

The waits start at `FIRST` and double up to `LONGEST`; once the next wait would pass the
patience, the try after it is the last: its Event says `may_wait=False`, and the handler
decides with what it has (its normal answer for an unknown message).
"""
from __future__ import annotations

import time
from typing import Callable

__all__ = ["Patience", "FIRST", "LONGEST", "PATIENCE"]

FIRST = 0.02                 # a mark is usually written within a few milliseconds
LONGEST = 0.5                # ...and under load within a fraction of a second
PATIENCE = 3.0               # seconds an update is put off at most (BotConfig.patience)


class Patience:
    """The put-off updates of one dispatcher, by update_id.

    Args:
        patience: seconds an update may be put off in all.
        clock: monotonic seconds (a test's own clock).
    """

    def __init__(self, patience: float = PATIENCE, clock: Callable[[], float] = time.monotonic):
        self.patience, self.clock = patience, clock
        self._first: dict[int, float] = {}        # update_id -> when it was first put off
        self._waits: dict[int, float] = {}        # update_id -> the last wait
        self._last: set[int] = set()              # the next try is the last

    def may_wait(self, update_id: int | None) -> bool:
        """Whether the next try of the update may be put off again."""
        return update_id is not None and update_id not in self._last

    def put_off(self, update_id: int) -> float:
        """The update was put off: the seconds to wait before trying it again."""
        now = self.clock()
        first = self._first.setdefault(update_id, now)
        wait = min(LONGEST, self._waits.get(update_id, FIRST / 2) * 2)
        self._waits[update_id] = wait
        if now + wait - first >= self.patience:
            self._last.add(update_id)
        return wait

    def forget(self, update_id: int | None) -> None:
        """The update was applied (or given up): nothing more to count."""
        self._first.pop(update_id, None)
        self._waits.pop(update_id, None)
        self._last.discard(update_id)

    def __len__(self) -> int:
        return len(self._first)
