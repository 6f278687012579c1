"""Event-loop lag: how late a periodic tick wakes up. A blocking call on the loop thread
shows up here as lag for every chat; the bot logs the figures at stop and warns on spikes."""
from __future__ import annotations

import asyncio
import collections
import logging
import statistics
import time

__all__ = ["LagMonitor"]

log = logging.getLogger(__name__)


class LagMonitor:
    def __init__(self, interval: float = 0.01, warn_ms: float = 200, keep: int = 100_000):
        self.interval, self.warn_ms = interval, warn_ms
        self.samples: collections.deque = collections.deque(maxlen=keep)

    async def run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(self.interval)
            lag_ms = (time.perf_counter() - start - self.interval) * 1000
            self.samples.append(lag_ms)
            if lag_ms > self.warn_ms:
                log.warning("event loop was blocked for %.0f ms", lag_ms)

    def summary(self) -> dict:
        """{"samples", "p50_ms", "p99_ms", "max_ms"} over the samples kept."""
        data = sorted(self.samples)
        if not data:
            return {"samples": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
        return {"samples": len(data), "p50_ms": round(statistics.median(data), 2),
                "p99_ms": round(data[int(len(data) * 0.99) - 1 if len(data) > 1 else 0], 2),
                "max_ms": round(data[-1], 2)}
