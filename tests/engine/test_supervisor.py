"""engine.supervisor with real asyncio tasks and tiny backoffs: a task that raises is
logged, reported once per rate window and restarted with a doubling, capped backoff;
health shows it; a fatal error stops it; scheduler jobs are watched. And the webhook
answers 500 while the inbox cannot be written (Telegram retries), /healthz says why, and
the update is answered once the table is back."""
from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
import urllib.error
import urllib.request

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from engine import storage
from engine.supervisor import Supervisor
from engine.telegram.inbox import InboxItem
from helpdesk.app import build_app
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.telegram_harness import free_port, running_bot


class Flaky:
    """Fails `failures` times, then runs until cancelled."""

    def __init__(self, failures: int):
        self.failures, self.starts = failures, 0
        self.running = asyncio.Event()

    async def __call__(self) -> None:
        self.starts += 1
        if self.starts <= self.failures:
            raise RuntimeError(f"boom {self.starts}")
        self.running.set()
        await asyncio.Event().wait()


async def _until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)


def _delays(caplog) -> list[str]:
    return re.findall(r"restart in ([0-9.]+) s", caplog.text)


def test_a_failing_task_is_restarted_with_a_doubling_capped_backoff_and_reported_once(caplog):
    reports: list[tuple[str, str]] = []
    caplog.set_level(logging.ERROR, logger="engine.supervisor")

    async def main():
        sup = Supervisor(on_error=lambda where, e: reports.append((where, str(e))),
                         backoff=0.001, backoff_max=0.004, report_interval=3600)
        task = Flaky(failures=5)
        sup.spawn("worker", task)
        await asyncio.wait_for(task.running.wait(), 10)
        state = sup.tasks()["worker"]
        await sup.stop()
        return task, state, sup.tasks()["worker"]

    task, state, stopped = asyncio.run(main())
    assert task.starts == 6
    assert _delays(caplog) == ["0.001", "0.002", "0.004", "0.004", "0.004"]
    assert "task worker failed" in caplog.text and "Traceback" in caplog.text
    assert "RuntimeError: boom 1" in caplog.text
    assert reports == [("task worker (failure 1)", "boom 1")]      # one per rate window
    assert state["state"] == "running" and state["restarts"] == 5
    assert state["last_error"] == "RuntimeError: boom 5"
    assert stopped["state"] == "stopped"


def test_the_next_report_after_the_window_counts_the_ones_not_sent():
    reports: list[str] = []
    now = [0.0]

    async def main():
        sup = Supervisor(on_error=lambda where, e: reports.append(where), backoff=0.001,
                         backoff_max=0.001, report_interval=60, clock=lambda: now[0])
        for _ in range(3):
            sup.failed("job:sync", RuntimeError("down"))
        now[0] = 61
        sup.failed("job:sync", RuntimeError("down"))
        sup.failed("job:other", RuntimeError("down"))           # its own window
        return sup.tasks()

    tasks = asyncio.run(main())
    assert reports == ["task job:sync (failure 1)", "task job:sync (failure 4, 2 more not reported)",
                       "task job:other (failure 1)"]
    assert tasks["job:sync"]["state"] == "restarting" and tasks["job:sync"]["restarts"] == 4


def test_health_shows_restarting_then_running_and_a_fatal_error_stops_the_task():
    class Revoked(Exception):
        pass

    async def main():
        sup = Supervisor(backoff=0.05, backoff_max=0.05)
        gate = asyncio.Event()

        async def waits_for_the_database():
            if not gate.is_set():
                raise ConnectionError("database is locked")
            await asyncio.Event().wait()
        sup.spawn("poller", waits_for_the_database)
        await _until(lambda: sup.tasks()["poller"]["state"] == "restarting")
        seen = sup.tasks()["poller"]
        healthy_then = sup.healthy()
        gate.set()
        await _until(lambda: sup.tasks()["poller"]["state"] == "running")

        async def revoked():
            raise Revoked("token revoked")
        sup.spawn("intake", revoked, fatal=(Revoked,))
        await _until(lambda: sup.tasks()["intake"]["state"] == "failed")
        await asyncio.sleep(0.2)                                  # not restarted
        result = sup.tasks(), sup.healthy(), healthy_then, seen
        await sup.stop()
        return result

    tasks, healthy, healthy_then, seen = asyncio.run(main())
    assert seen["last_error"] == "ConnectionError: database is locked" and not healthy_then
    assert tasks["poller"]["state"] == "running" and tasks["poller"]["restarts"] >= 1
    assert tasks["intake"]["state"] == "failed" and tasks["intake"]["restarts"] == 1
    assert not healthy


def test_a_task_that_returns_has_finished_and_is_not_restarted():
    async def main():
        sup = Supervisor(backoff=0.001, backoff_max=0.001)
        runs = []

        async def once():
            runs.append(1)
        await sup.spawn("server", once)
        return runs, sup.tasks()["server"]["state"], sup.healthy()

    assert asyncio.run(main()) == ([1], "stopped", True)


def test_scheduler_job_failures_are_recorded_and_a_good_run_clears_them():
    reports: list[str] = []
    sup = Supervisor(on_error=lambda where, e: reports.append(where))
    outcomes = iter([RuntimeError("crm down"), None])
    ran = threading.Event()

    def job():
        outcome = next(outcomes, None)
        if outcome is not None:
            raise outcome
        ran.set()
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(job, "interval", seconds=0.05, id="sync_outbox")
    sup.watch(scheduler)
    assert sup.tasks()["job:sync_outbox"]["state"] == "running"       # shown before its first run
    scheduler.start()
    try:
        assert ran.wait(10)
        deadline = time.monotonic() + 10
        while sup.tasks()["job:sync_outbox"]["state"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        scheduler.shutdown(wait=True)
    state = sup.tasks()["job:sync_outbox"]
    assert state["restarts"] == 1 and state["last_error"] == "RuntimeError: crm down"
    assert reports == ["task job:sync_outbox (failure 1)"]


# -- the webhook: 500 while the inbox cannot be written, /healthz says so ------------------
SECRET = "s3cret-token"


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture
def engine(database, settings):
    return build_app(settings, connect=False).engine


def test_webhook_answers_500_while_the_inbox_is_unwritable_and_the_update_is_answered_after(engine):
    port = free_port()
    with FakeTelegramAPI(webhook_retry_delay=0.2) as api, \
            running_bot(engine, api, mode="webhook", webhook_url=f"http://127.0.0.1:{port}/tg",
                        port=port, path="/tg", secret_token=SECRET):
        healthz = f"http://127.0.0.1:{port}/healthz"
        assert _get(healthz)[0] == 200
        InboxItem.drop_table()                      # a real database failure, outside the bot
        try:
            user = api.user(7301)
            user.send("/start")
            deadline = time.monotonic() + 30
            while not any(d["error"] for d in api.webhook_deliveries):
                assert time.monotonic() < deadline, api.webhook_deliveries
                time.sleep(0.05)
            status, body = _get(healthz)
            error = "OperationalError" if storage.is_sqlite() else "ProgrammingError"   # no such table
            assert status == 503 and '"webhook server"' in body and error in body
            assert "telegram_inbox" not in body         # the error's text is not for anybody
        finally:
            InboxItem.create_table()
        user.wait_for(contains="Главное меню", timeout=30)    # Telegram retried: answered
        deadline = time.monotonic() + 30
        while _get(healthz)[0] != 200:                         # a stored update clears it
            assert time.monotonic() < deadline, _get(healthz)
            time.sleep(0.1)
