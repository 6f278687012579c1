"""The garbage collector's view of a long-running process.

A process that has imported and built everything (the web framework's routes and schemas,
validators, templates, flows) holds ~100k objects that live until it exits. CPython's full
(generation 2) collection walks all of them, in whichever thread happens to allocate, holding
the GIL: measured 60-115 ms per collection while the API wrote a 2,000-item bundle, each one a
stall of the event loop. `gc.freeze()` moves them to a permanent generation the collector
skips; the same collections then take 5-15 ms (`bench/api.py`, `healthz_max_gap_ms`).
"""
from __future__ import annotations

import gc

__all__ = ["freeze_startup"]


def freeze_startup() -> int:
    """Call once the process has built everything it keeps, before it serves: collect what
    start-up left behind, then exempt the survivors from later collections. Returns how many
    objects were frozen (for the start-up log)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
