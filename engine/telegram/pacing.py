"""Telegram's limits as the sender counts them: the limits, a chat's lane, sliding windows.

Kept apart from engine/telegram/sender.py (which paces with them) so that one stays about
sending; see its docstring for why the windows count from the answer, not the departure.
"""
from __future__ import annotations

import asyncio
import collections
import warnings
from dataclasses import dataclass, field
from datetime import timedelta

from telegram.error import RetryAfter

__all__ = ["Limits", "Lane", "prune", "window_wait", "retry_seconds"]


@dataclass(frozen=True)
class Limits:
    overall_per_second: float = 30        # all chats together (bulk waits for it)
    private_interval: float = 1.0         # seconds between bulk messages to one private chat
    group_per_minute: int = 20            # any message to a group (negative chat id)
    network_retries: int = 4              # in-process retries on network errors
    max_retry_after: float = 3600         # a longer 429 goes back to the queue instead


@dataclass
class Lane:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    blocked_until: float = 0.0            # monotonic; set by a 429 for this chat
    last_sent: float = 0.0
    recent: collections.deque = field(default_factory=collections.deque)   # group window
    used: float = 0.0


def prune(events: collections.deque, seconds: float, now: float) -> None:
    while events and events[0] <= now - seconds:
        events.popleft()


def window_wait(events: collections.deque, limit: float, seconds: float, now: float) -> float:
    """Seconds until one more event fits in a sliding window of `limit` per `seconds`."""
    prune(events, seconds, now)
    if len(events) < max(1, int(limit)):
        return 0.0
    return events[0] + seconds - now


def retry_seconds(e: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # PTB 22 warns that the type will change
        value = e.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
