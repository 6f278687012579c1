"""Periodic jobs (CRM outbox drain, reconcile, retried lookups ...), registered in the one
registry (helpdesk.registry) and run by APScheduler in worker threads of their own (the
executor "jobs"), so a slow CRM never blocks the bot's event loop nor its engine threads.

    @registry.job("sync_outbox", every=lambda s: s.sync.interval_seconds)
    def drain(app): ...

One scheduler per process: the bot adds these jobs to its AsyncIOScheduler (`add_jobs`,
called by helpdesk/ops/bot.py:assemble; the bot starts it with its own jobs: timeouts,
inbox prune and sweep), whose executor "jobs" is a thread pool: on SQLite the event loop's
own executor has one thread, which engine steps need, and a CRM call must not hold it.
`start(app, supervisor)` is for a process without the bot (`run.py api`): a
BackgroundScheduler with the same jobs. A failed
run is the supervisor's (engine.supervisor: logged with its traceback, reported to
notify.bug, shown as `job:<name>` `restarting` in health until a run succeeds; the next
run is the retry). `run_once(app, name)` runs one now (tests, `python run.py sync run`).
Each run gets a database connection of its own thread and closes it after.

Several worker processes (PostgreSQL) each start every job. A scheduled run then first takes
a PostgreSQL advisory lock named after the job (pg_try_advisory_lock, released when the run
closes its connection); a worker that finds it taken skips that run, so a job runs in one
worker at a time (the claims inside the jobs already keep items apart; this also keeps the
CRM's change feed from being pulled twice at once). `everywhere=True` jobs skip the lock:
they act on their own process (the flow watcher reloads that process's flows).
"""
from __future__ import annotations

import logging
import zlib
from datetime import datetime, timezone
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from engine import storage
from engine.supervisor import Supervisor
from helpdesk.registry import Job, registry

__all__ = ["Job", "start", "stop", "add_jobs", "process_scheduler", "run_once"]

log = logging.getLogger(__name__)


LOCK_CLASS = 0x6A6F62                 # advisory lock space (two-int4 keys) of the jobs
EXECUTOR = "jobs"                     # the scheduler's thread pool for these jobs
JOB_THREADS = 4                       # jobs that may run at once (sync, reconcile, ...)


def run_once(app, name: str) -> Any:
    """Run job `name` now in this thread; errors are logged and re-raised."""
    try:
        return registry.jobs[name].fn(app)
    except Exception:  # logged and raised again for the caller
        log.exception("job %s failed", name)
        raise
    finally:
        storage.close()


def _scheduled(app, job: Job) -> None:
    """One scheduled run (under the job's lock on PostgreSQL); a failure propagates to the
    scheduler, whose listener is the supervisor."""
    try:
        if job.everywhere or not storage.is_postgres() or _locked(job.name):
            job.fn(app)
    finally:
        storage.close()


def _safe(app, job: Job) -> None:
    """A scheduled run that never raises (the failure is logged)."""
    try:
        _scheduled(app, job)
    except Exception:  # logged; the scheduler keeps going
        log.exception("job %s failed", job.name)


def _locked(name: str) -> bool:
    """Take the job's lock for this run (held by this thread's connection, which run_once
    closes); False, and the connection closed, when another worker is running it."""
    key = zlib.crc32(name.encode()) & 0x7FFFFFFF
    if storage.db.execute_sql("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, key)).fetchone()[0]:
        return True
    log.debug("job %s: running in another worker; this run is skipped", name)
    storage.close()
    return False


def process_scheduler() -> AsyncIOScheduler:
    """The bot process's one scheduler (not started: the bot starts it on its loop)."""
    return AsyncIOScheduler(timezone="UTC")


def add_jobs(scheduler: BaseScheduler, app) -> None:
    """Every registered job on `scheduler`, run in its thread pool `EXECUTOR`."""
    if EXECUTOR not in getattr(scheduler, "_executors", {}):
        scheduler.add_executor(ThreadPoolExecutor(JOB_THREADS), EXECUTOR)
    for j in registry.jobs.values():
        seconds = j.every(app.settings) if callable(j.every) else j.every
        first = {"next_run_time": datetime.now(timezone.utc)} if j.at_start else {}
        scheduler.add_job(_scheduled, "interval", seconds=seconds, args=(app, j), id=j.name,
                          max_instances=1, coalesce=True, executor=EXECUTOR, **first)
    log.info("jobs scheduled: %s", ", ".join(sorted(registry.jobs)) or "none")


def start(app, supervisor: Supervisor | None = None) -> BackgroundScheduler:
    """Start every registered job under `supervisor` (default: one that logs only), in a
    process without the bot; returns the scheduler (`stop` it at the end)."""
    scheduler = BackgroundScheduler(timezone="UTC")
    add_jobs(scheduler, app)
    (supervisor or Supervisor()).watch(scheduler)
    scheduler.start()
    return scheduler


def stop(scheduler: BaseScheduler) -> None:
    """Shut `scheduler` down if it runs (a bot that failed to start never started it, and
    a bot that stopped has shut it down already)."""
    if scheduler.running:
        scheduler.shutdown(wait=False)
