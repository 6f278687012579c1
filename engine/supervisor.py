"""One supervisor for every long-running task of a process: nothing dies silently.

    supervisor = Supervisor(on_error=report, backoff=0.5, backoff_max=10)
    supervisor.spawn("poller", poller.run)          # a coroutine function, called per start
    supervisor.watch(scheduler)                     # APScheduler jobs: every run's outcome
    supervisor.tasks()                              # name -> state, for health checks

A spawned task that raises is logged with its name and traceback, reported to `on_error`
(at most once per `report_interval` per task; the count of the others goes in the next
report's text) and started again after a backoff that doubles from `backoff` up to
`backoff_max`. A task that then runs for `backoff_max` without failing starts afresh at
`backoff`. The errors named in `fatal` (a revoked token, say) stop the task for good:
restarting cannot help, an operator must. A task that returns has finished (a server
asked to stop): it is not restarted.

A scheduler job is not restarted by us (its next run is the retry): a failed run is logged
and reported the same way and the job shows `restarting` until a run succeeds.
`failed(name, error)` records a failure of anything else that keeps going by itself (a
request answered 500 because the database is down).

States (`tasks()`): running; restarting (failed, runs again after the backoff or at its
next run); failed (gave up: a fatal error); stopped. Thread-safe: jobs report from their
threads.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Awaitable, Callable

__all__ = ["Supervisor", "TaskState", "RUNNING", "RESTARTING", "FAILED", "STOPPED"]

log = logging.getLogger(__name__)
RUNNING, RESTARTING, FAILED, STOPPED = "running", "restarting", "failed", "stopped"
Report = Callable[[str, BaseException], None]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class TaskState:
    """What a health check shows of one task."""
    state: str = RUNNING
    restarts: int = 0                   # failures since the process started
    last_error: str | None = None       # "Type: message" of the latest failure
    since: str = ""                     # when the task entered `state` (UTC, ISO 8601)
    last_failure_at: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class Supervisor:
    """Runs, watches and restarts a process's long-running tasks; see the module docstring.

    Args:
        on_error: called with (where, exception) for a reported failure; must not raise.
        backoff: seconds before the first restart; doubled per failure in a row.
        backoff_max: the cap of the backoff.
        report_interval: at most one report per task per this many seconds.
        clock: monotonic seconds (tests).
    """

    def __init__(self, *, on_error: Report | None = None, backoff: float = 0.5,
                 backoff_max: float = 10.0, report_interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        if backoff <= 0 or backoff_max < backoff:
            raise ValueError("the backoff must be positive and at most backoff_max")
        self.on_error, self.backoff, self.backoff_max = on_error, backoff, backoff_max
        self.report_interval, self.clock = report_interval, clock
        self._lock = threading.Lock()
        self._states: dict[str, TaskState] = {}
        self._reported: dict[str, tuple[float, int]] = {}   # name -> (last report, suppressed)
        self._tasks: dict[str, asyncio.Task] = {}

    # -- tasks ---------------------------------------------------------------------------
    def spawn(self, name: str, factory: Callable[[], Awaitable[object]], *,
              fatal: tuple[type[BaseException], ...] = ()) -> asyncio.Task:
        """Run `factory()` as task `name` under supervision (on the running loop)."""
        if name in self._tasks and not self._tasks[name].done():
            raise ValueError(f"task {name!r} is already running")
        self._set(name, RUNNING)
        task = asyncio.ensure_future(self._run(name, factory, fatal))
        self._tasks[name] = task
        return task

    async def _run(self, name: str, factory, fatal) -> None:
        delay = self.backoff
        while True:
            started = self.clock()
            try:
                await factory()
            except asyncio.CancelledError:
                self._set(name, STOPPED)
                raise
            except fatal as e:
                self._failure(name, e, None)
                return
            except Exception as e:  # noqa: BLE001 - the reason this class exists
                if self.clock() - started >= self.backoff_max:
                    delay = self.backoff            # it had recovered before this failure
                self._failure(name, e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)
                self._set(name, RUNNING)
                continue
            self._set(name, STOPPED)
            return

    async def stop(self) -> None:
        """Cancel every spawned task that is still running and wait for them."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- failures that are not restarted here ----------------------------------------------
    def failed(self, name: str, error: BaseException) -> None:
        """`name` failed and will run again by itself (a job, a request): log and report."""
        self._failure(name, error, 0.0)

    def succeeded(self, name: str) -> None:
        """`name` ran fine (a job's run): it is running again if it was restarting."""
        with self._lock:
            state = self._states.setdefault(name, TaskState(since=_now()))
            if state.state != RUNNING:
                state.state, state.since = RUNNING, _now()

    def register(self, name: str) -> None:
        """Show `name` (a scheduled job) as running before its first run."""
        with self._lock:
            self._states.setdefault(name, TaskState(since=_now()))

    def watch(self, scheduler, prefix: str = "job:") -> None:
        """Record the outcome of every run of an APScheduler 3 scheduler's jobs (as
        `prefix + job id`); its own logging of a failed run is then redundant."""
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED

        def listener(event) -> None:
            name = prefix + event.job_id
            if event.exception is not None:
                self._failure(name, event.exception, 0.0, event.traceback)
            else:
                self.succeeded(name)
        scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        for job in scheduler.get_jobs():
            self.register(prefix + job.id)

    # -- state -----------------------------------------------------------------------------
    def tasks(self) -> dict[str, dict]:
        """name -> {state, restarts, last_error, since, last_failure_at}."""
        with self._lock:
            return {name: s.to_dict() for name, s in sorted(self._states.items())}

    def healthy(self) -> bool:
        """Every task is running (or was stopped on purpose)."""
        return all(s["state"] in (RUNNING, STOPPED) for s in self.tasks().values())

    def _set(self, name: str, state: str) -> None:
        with self._lock:
            current = self._states.setdefault(name, TaskState(state=state, since=_now()))
            if current.state != state:
                current.state, current.since = state, _now()

    def _failure(self, name: str, error: BaseException, retry_in: float | None,
                 traceback_text: str | None = None) -> None:
        """Record, log and (rate-limited) report one failure of `name`."""
        with self._lock:
            s = self._states.setdefault(name, TaskState(since=_now()))
            s.restarts += 1
            s.last_error = f"{type(error).__name__}: {error}"[:1000]
            s.last_failure_at = _now()
            state = FAILED if retry_in is None else RESTARTING
            if s.state != state:
                s.state, s.since = state, _now()
            restarts = s.restarts
        log.error("task %s failed (%s, failure %d): %s%s", name, _next(retry_in), restarts,
                  s.last_error, f"\n{traceback_text}" if traceback_text else "",
                  exc_info=None if traceback_text else (type(error), error, error.__traceback__))
        self._report(name, error, restarts)

    def _report(self, name: str, error: BaseException, restarts: int) -> None:
        if self.on_error is None:
            return
        with self._lock:
            last, suppressed = self._reported.get(name, (None, 0))
            now = self.clock()
            if last is not None and now - last < self.report_interval:
                self._reported[name] = (last, suppressed + 1)
                return
            self._reported[name] = (now, 0)
        where = f"task {name} (failure {restarts}" + (
            f", {suppressed} more not reported)" if suppressed else ")")
        try:
            self.on_error(where, error)
        except Exception:  # reporting must not take the supervisor down
            log.exception("reporting the failure of task %s failed", name)


def _next(retry_in: float | None) -> str:
    if retry_in is None:
        return "not restarted: this error needs an operator"
    if retry_in == 0:
        return "runs again at its next turn"
    return f"restart in {retry_in:.3g} s"
