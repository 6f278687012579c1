"""`run.py bot --workers N` under uvicorn's supervisor (issue 15, point 6).

What the parent refuses before it starts any worker (a bad token, the REST API without
tokens: exit code 2), what it does when every worker fails at start (stops, exit code 1,
no restart loop), and, on PostgreSQL, a worker killed by SIGKILL mid-run: uvicorn starts it
again and nothing is lost or doubled.
"""
from __future__ import annotations

import collections
import http.client
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from helpdesk.app import PROJECT_ROOT
from helpdesk.ops.workers import claim_number
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.telegram_harness import free_port
from tests.support.workers import (
    CHATS,
    CONTROL,
    GROUP,
    LEASE,
    Dialogs,
    Workers,
    check_database,
    delivered,
    group_posts,
    post,
    queue_notes,
    rows_in_flight,
    serving_pids,
    texts,
    wait_all_sent,
    wait_delivered,
    wait_finished,
    wait_serving,
)

NOWHERE = "postgresql://nobody@127.0.0.1:1/none"     # refused at once: nothing listens on port 1


def _env(api: FakeTelegramAPI, tmp_path, db_url: str, port: int) -> dict:
    return Workers(api, db_url, tmp_path, 1).env(port, "bot.log")


def _run(env: dict, workers: int = 2, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", "bot", "--workers", str(workers)],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_a_bad_token_is_refused_before_any_worker_starts(tmp_path):
    with FakeTelegramAPI() as api:
        env = {**_env(api, tmp_path, NOWHERE, free_port()), "BOT_TOKEN": "123456:wrong"}
        done = _run(env)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "refused the token" in done.stderr
    assert not (tmp_path / "bot.0.log").exists()            # no worker was started


def test_the_rest_api_without_tokens_is_refused_before_any_worker_starts(tmp_path):
    with FakeTelegramAPI() as api:
        env = {**_env(api, tmp_path, NOWHERE, free_port()), "BOT__WEBHOOK__SERVE_API": "true"}
        done = _run(env)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "api.tokens" in done.stderr
    assert not (tmp_path / "bot.0.log").exists()


@pytest.mark.timeout(180)
def test_workers_that_cannot_start_stop_the_supervisor_instead_of_restarting(tmp_path):
    """The database refuses every worker's start: uvicorn's supervisor sees exit code 3
    (startup failure), stops the others and returns; the exit code says it failed. A
    restart loop would never return (the test's timeout)."""
    with FakeTelegramAPI() as api:
        done = _run(_env(api, tmp_path, NOWHERE, free_port()))
    assert done.returncode == 1, done.stderr[-2000:]
    assert "failed to start" in done.stderr
    supervisor_log = (tmp_path / "bot.log").read_text(encoding="utf-8")
    assert "failed to start, stopping the parent process" in supervisor_log
    assert "died" not in supervisor_log                     # no worker was started again
    assert "Application startup failed" in (tmp_path / "bot.0.log").read_text(encoding="utf-8")


def test_a_worker_takes_the_lowest_number_no_live_worker_holds(tmp_path):
    """bot.log -> bot.0.log, bot.1.log: a number is held by its lock for the worker's life,
    so the worker that replaces a dead one writes the dead one's log file."""
    log = str(tmp_path / "logs" / "bot.log")
    first, first_lock = claim_number(log)
    second, second_lock = claim_number(log)
    assert (first, second) == (0, 1)
    first_lock.close()                                       # worker 0 died
    again, again_lock = claim_number(log)
    assert again == 0
    assert claim_number("") == (0, None)                     # no log file: nothing to share
    for lock in (second_lock, again_lock):
        lock.close()


PG_URL = os.environ.get("TEST_DATABASE_URL", "")


class Supervised:
    """`run.py bot --workers N`: one port, the kernel picks the worker of each connection."""

    def __init__(self, api: FakeTelegramAPI, db_url: str, tmp_path, count: int):
        self.tmp, self.count, self.port = tmp_path, count, free_port()
        self.env = Workers(api, db_url, tmp_path, 1).env(self.port, "bot.log")
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Supervised":
        with open(self.tmp / "supervisor.out", "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "run.py", "bot", "--workers", str(self.count)],
                                         cwd=PROJECT_ROOT, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)
        wait_serving(self.port, self.proc)
        for i in range(self.count):
            serving_pids(self.tmp / f"bot.{i}.log")
        return self

    def post(self, index: int, update: dict) -> int:
        """Telegram's retry: a connection the killed worker had taken is posted again."""
        for _ in range(50):
            try:
                return post(self.port, update)
            except (OSError, http.client.HTTPException):
                time.sleep(0.1)
        raise AssertionError("no worker answered")

    def kill(self, number: int) -> int:
        pid = serving_pids(self.tmp / f"bot.{number}.log")[-1]
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(90)
        out = (self.tmp / "supervisor.out").read_text(encoding="utf-8", errors="replace")
        assert self.proc.returncode == 0, out[-3000:]
        return out


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set TEST_DATABASE_URL=postgresql://...")
@pytest.mark.timeout(240)
def test_a_supervised_worker_killed_mid_run_is_restarted_and_loses_nothing(scratch_url, tmp_path):
    with FakeTelegramAPI() as api:
        api.group(GROUP, "Работа")
        workers = Supervised(api, scratch_url, tmp_path, 3).start()
        try:
            dialogs = Dialogs(api)
            dialogs.walk(workers, CONTROL)                  # alone: what every dialog must show
            wait_finished(api, [CONTROL])
            # its group post too: sent before the kill, it must then never be sent again (one
            # still in flight at the kill could be, like any reply mid-send)
            deadline = time.monotonic() + 60
            while str(CONTROL) not in group_posts(api):
                assert time.monotonic() < deadline, "the control dialog's group post never came"
                time.sleep(0.05)
            notes = queue_notes(scratch_url, CHATS)
            walking = threading.Thread(target=dialogs.walk_all, args=(workers, CHATS))
            walking.start()
            while dialogs.posted < 7 * len(CHATS) // 3:    # a third of the updates are in
                time.sleep(0.001)
            killed = workers.kill(0)
            in_flight = rows_in_flight()
            print(f"at the kill: {in_flight}")
            walking.join(90)
            restarted = serving_pids(tmp_path / "bot.0.log", count=2)[-1]
            wait_finished(api, CHATS, timeout=90)
            wait_delivered(api, notes)
            wait_all_sent(timeout=6 * LEASE)       # the dead worker's leases run out, others send
            got = delivered(api, notes)
        finally:
            workers.stop()
        assert restarted != killed
        assert f"Child process [{killed}] died" in (tmp_path / "bot.log").read_text(encoding="utf-8")
        assert sum(in_flight.values()) > 0, "killed too late to prove a take-over"
        check_database(scratch_url, 7 * (1 + len(CHATS)))          # each update applied once
        assert [t for t, n in got.items() if n == 0] == []           # nothing lost
        doubled = sum(n - 1 for n in got.values())
        assert doubled <= in_flight["outgoing sending"], got     # only what was mid-send
        # Every answer of the undisturbed dialog reached every chat. Not their order: a chat
        # whose replies the killed worker held waits at most 3 s for them (docs/deploy.md),
        # then its next replies go first (order is tested without a kill, test_workers.py).
        control = collections.Counter(texts(api, CONTROL))
        for chat in CHATS:
            assert control - collections.Counter(texts(api, chat)) == collections.Counter(), chat
        assert set(group_posts(api)) == {str(c) for c in [CONTROL, *CHATS]}
        assert collections.Counter(group_posts(api))[str(CONTROL)] == 1
