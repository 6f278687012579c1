"""Several `python run.py bot` webhook workers on one PostgreSQL database (issue 9).

Real worker processes, a scratch database, the fake Bot API. The fake's own webhook delivery
is sequential, so the test plays Telegram delivering in parallel: it posts raw updates with
the secret header straight to the workers, each chat's successive updates to different
workers (without waiting for the bot's answer), all chats at once. Then: every dialog ends
where an undisturbed one ends, every update applied once, every reply in order, the work
group's notifications and queued notifications sent once; and with one worker killed by
SIGKILL mid-run, nothing is lost (its stored updates and leased messages are taken over).
"""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from helpdesk.app import PROJECT_ROOT
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
    healthz,
    queue_notes,
    rows_in_flight,
    serving_pids,
    texts,
    wait_all_sent,
    wait_delivered,
    wait_finished,
    wait_serving,
)

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not PG_URL, reason="needs PostgreSQL: set TEST_DATABASE_URL=postgresql://... (several worker "
                       "processes share one database; SQLite allows one writing process)")


@pytest.mark.timeout(180)
def test_three_workers_apply_one_chat_in_order_and_send_everything_once(scratch_url, tmp_path):
    with FakeTelegramAPI() as api:
        api.group(GROUP, "Работа")
        workers = Workers(api, scratch_url, tmp_path, 3).start()
        try:
            dialogs = Dialogs(api)
            dialogs.walk(workers, CONTROL)                   # alone: what every dialog must show
            wait_finished(api, [CONTROL])
            notes = queue_notes(scratch_url, CHATS)
            dialogs.walk_all(workers, CHATS)
            wait_finished(api, CHATS)
            got = wait_delivered(api, notes)
            time.sleep(LEASE + 1)                            # a doubled send would show by now
            got = delivered(api, notes)
        finally:
            workers.stop()
        check_database(scratch_url, 7 * (1 + len(CHATS)))
        assert {t: n for t, n in got.items() if n != 1} == {}          # each once
        for chat in CHATS:                                   # same answers, same order, once each
            assert texts(api, chat)[:len(texts(api, CONTROL))] == texts(api, CONTROL), chat
        assert group_posts(api) == collections.Counter({str(c): 1 for c in [CONTROL, *CHATS]})


@pytest.mark.timeout(180)
def test_a_worker_killed_mid_run_loses_nothing(scratch_url, tmp_path):
    with FakeTelegramAPI() as api:
        api.group(GROUP, "Работа")
        workers = Workers(api, scratch_url, tmp_path, 3).start()
        try:
            dialogs = Dialogs(api)
            dialogs.walk(workers, CONTROL)
            wait_finished(api, [CONTROL])
            notes = queue_notes(scratch_url, CHATS)
            walking = threading.Thread(target=dialogs.walk_all, args=(workers, CHATS))
            walking.start()
            while dialogs.posted < 7 * len(CHATS) // 3:     # a third of the updates are in
                time.sleep(0.001)
            workers.kill(0)
            in_flight = rows_in_flight()
            print(f"at the kill: {in_flight}")
            walking.join(60)
            wait_finished(api, CHATS, timeout=60)
            got = wait_delivered(api, notes)
            wait_all_sent(timeout=6 * LEASE)        # the dead worker's leases run out, others send
            got = delivered(api, notes)
        finally:
            workers.stop()
        assert sum(in_flight.values()) > 0, "killed too late to prove a take-over"
        check_database(scratch_url, 7 * (1 + len(CHATS)))
        assert [t for t, n in got.items() if n == 0] == []               # nothing lost
        doubled = sum(n - 1 for n in got.values())
        assert doubled <= in_flight["outgoing sending"], got        # only what was mid-send
        assert set(group_posts(api)) == {str(c) for c in [CONTROL, *CHATS]}


@pytest.mark.timeout(180)
def test_workers_option_runs_workers_on_one_port_and_restarts_a_dead_one(scratch_url, tmp_path):
    """`--workers 2`: uvicorn's supervisor runs two workers on one port, each logging to its
    own file; a worker killed by SIGKILL is started again under its number (same log file)."""
    with FakeTelegramAPI() as api:
        port = free_port()
        w = Workers(api, scratch_url, tmp_path, 1)
        w.ports = [port]
        out_path = tmp_path / "supervisor.out"
        with open(out_path, "wb") as out:
            proc = subprocess.Popen([sys.executable, "run.py", "bot", "--workers", "2"],
                                    cwd=PROJECT_ROOT, env=w.env(port, "bot.log"), stdout=out,
                                    stderr=subprocess.STDOUT)
        try:
            wait_serving(port, proc)
            first, second = (serving_pids(tmp_path / f"bot.{i}.log")[0] for i in (0, 1))
            health = healthz(port)
            assert health["status"] == "ok", health
            dialogs = Dialogs(api)
            dialogs.walk_all(w, CHATS[:6])                   # a new connection per update
            wait_finished(api, CHATS[:6])
            os.kill(first, signal.SIGKILL)
            restarted = serving_pids(tmp_path / "bot.0.log", count=2)[1]
            assert f"Child process [{first}] died" in (tmp_path / "bot.log").read_text(encoding="utf-8")
            dialogs.walk_all(w, CHATS[6:10])
            wait_finished(api, CHATS[6:10])
            control = texts(api, CHATS[0])
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        assert proc.returncode == 0, out_path.read_text(encoding="utf-8")[-3000:]
        for chat in CHATS[1:10]:              # one chat's answers in order, before and after
            assert texts(api, chat)[:len(control)] == control, chat
        assert restarted not in (first, second)
        assert serving_pids(tmp_path / "bot.1.log") == [second]      # the other one untouched
        for i in (0, 1):                        # each worker's bot shut down (not just killed)
            assert "stopped; event loop lag" in (tmp_path / f"bot.{i}.log").read_text(encoding="utf-8")
        for pid in (restarted, second):
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
