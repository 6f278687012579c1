"""Periodic jobs (CRM outbox drain, reconcile, retried lookups ...), registered by decorator
and run by APScheduler's BackgroundScheduler in worker threads, so a slow CRM never blocks
the bot's event loop.

    @job("sync_outbox", every=lambda s: s.sync.interval_seconds)
    def drain(app): ...

`start(app)` starts them all (the bot and the api commands call it); `run_once(app, name)`
runs one now (tests, `python run.py sync run`). Each run gets a database connection of its
own thread and closes it after.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from apscheduler.schedulers.background import BackgroundScheduler

from engine import storage

__all__ = ["job", "JOBS", "start", "run_once"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    fn: Callable[[Any], Any]
    every: Callable[[Any], float] | float


JOBS: dict[str, Job] = {}


def job(name: str, *, every: Callable[[Any], float] | float):
    def deco(fn):
        if name in JOBS:
            raise ValueError(f"job {name!r} is registered twice")
        JOBS[name] = Job(name, fn, every)
        return fn
    return deco


def run_once(app, name: str) -> Any:
    """Run job `name` now in this thread; errors are logged and re-raised."""
    try:
        return JOBS[name].fn(app)
    except Exception:
        log.exception("job %s failed", name)
        raise
    finally:
        storage.close()


def _safe(app, name: str) -> None:
    try:
        run_once(app, name)
    except Exception:  # noqa: BLE001 - logged in run_once; the scheduler keeps going
        pass


def start(app) -> BackgroundScheduler:
    """Start every registered job; returns the scheduler (call .shutdown() to stop)."""
    scheduler = BackgroundScheduler(timezone="UTC")
    for j in JOBS.values():
        seconds = j.every(app.settings) if callable(j.every) else j.every
        scheduler.add_job(_safe, "interval", seconds=seconds, args=(app, j.name), id=j.name,
                          max_instances=1, coalesce=True)
    scheduler.start()
    log.info("jobs started: %s", ", ".join(sorted(JOBS)) or "none")
    return scheduler
