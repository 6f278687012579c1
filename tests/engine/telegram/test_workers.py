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
import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

import peewee
import pytest

from engine import outgoing, storage
from engine.events import Reply
from engine.session import Conversation
from engine.telegram.inbox import InboxItem
from helpdesk.app import PROJECT_ROOT
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.telegram_harness import free_port
from tests.support.workers import SECRET, Dialogs, post, wait_finished, wait_serving

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not PG_URL, reason="needs PostgreSQL: set TEST_DATABASE_URL=postgresql://... (several worker "
                       "processes share one database; SQLite allows one writing process)")

GROUP = -100777
CONTROL = 6000
CHATS = [6001 + i for i in range(16)]     # under the 20/min group limit of one worker
NOTES = 4                                  # queued notifications per chat (paced 1/s each)
LEASE = 4                                  # seconds; short, so a dead worker's rows move fast


@pytest.fixture
def scratch_url():
    """A database of its own: the workers' schema, rows and locks touch nobody else's."""
    import psycopg
    name = f"workers_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(PG_URL, autocommit=True)
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        storage.close()
        cur = admin.cursor()
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


class Workers:
    """Worker processes started the operator's way: same settings, one port each."""

    def __init__(self, api: FakeTelegramAPI, db_url: str, tmp_path, count: int):
        self.api, self.db_url, self.tmp = api, db_url, tmp_path
        self.ports = [free_port() for _ in range(count)]
        self.procs: list[subprocess.Popen | None] = [None] * count
        self.dead: set[int] = set()

    def env(self, port: int, log: str) -> dict:
        return {**os.environ, "BOT_TOKEN": self.api.token, "BOT_API_URL": self.api.url,
                "DATABASE_URL": self.db_url, "LOGGING__FILE": str(self.tmp / log),
                "BOT__MODE": "webhook", "BOT__WEBHOOK__URL": f"http://127.0.0.1:{port}/tg",
                "BOT__WEBHOOK__PORT": str(port), "BOT__WEBHOOK__PATH": "/tg",
                "BOT__WEBHOOK__SECRET_TOKEN": SECRET, "BOT__LEASE_SECONDS": str(LEASE),
                "NOTIFY__BUG__USE": "false", "NOTIFY__SYSTEM__WORK_GROUP_ID": str(GROUP),
                "ENGINE__WATCH_SECONDS": "0"}

    def start(self) -> "Workers":
        for i, port in enumerate(self.ports):
            with open(self.tmp / f"w{i}.out", "wb") as out:
                self.procs[i] = subprocess.Popen(
                    [sys.executable, "run.py", "bot"], cwd=PROJECT_ROOT,
                    env=self.env(port, f"w{i}.log"), stdout=out, stderr=subprocess.STDOUT)
        for i, port in enumerate(self.ports):
            wait_serving(port, self.procs[i])
        return self

    def post(self, index: int, update: dict) -> int:
        """Deliver to worker `index`; a dead worker's share goes to the next live one (the
        balancer's and Telegram's retry, in one)."""
        for k in range(len(self.ports)):
            i = (index + k) % len(self.ports)
            if i in self.dead:
                continue
            try:
                return post(self.ports[i], update)
            except (OSError, http.client.HTTPException):
                continue
        raise AssertionError("no worker answered")

    def kill(self, index: int) -> None:
        self.dead.add(index)
        self.procs[index].send_signal(signal.SIGKILL)
        self.procs[index].wait(10)

    def stop(self) -> list[str]:
        """SIGTERM the live ones; each must exit cleanly (code 0). Their output."""
        live = [(i, p) for i, p in enumerate(self.procs) if p and i not in self.dead]
        for _, proc in live:
            proc.send_signal(signal.SIGTERM)
        outputs = []
        for i, proc in live:
            proc.wait(60)
            out = (self.tmp / f"w{i}.out").read_text(encoding="utf-8", errors="replace")
            assert proc.returncode == 0, f"worker {i} exited {proc.returncode}:\n{out[-3000:]}"
            outputs.append(out)
        return outputs


def texts(api, chat: int) -> list[str]:
    """Every send and edit of the dialog in the chat, in order, as text + buttons."""
    with api._cond:
        return [f"{s.plain_text} {s.button_texts}" for s, _ in api._events
                if s.chat_id == chat and not s.plain_text.startswith("note ")]


def queue_notes(db_url: str, chats: list[int]) -> list[str]:
    storage.connect(db_url)
    texts_ = []
    with storage.write_tx():
        for chat in chats:
            for i in range(NOTES):
                texts_.append(f"note {chat}/{i}")
                outgoing.enqueue(Reply(chat, texts_[-1]), key=f"note:{chat}:{i}", priority=5)
    return texts_


def delivered(api, wanted: list[str]) -> collections.Counter:
    with api._cond:
        sent = collections.Counter(m.plain_text for m in api._sent)
    return collections.Counter({t: sent[t] for t in wanted})


def wait_delivered(api, wanted: list[str], timeout: float = 60) -> collections.Counter:
    deadline = time.monotonic() + timeout
    while True:
        got = delivered(api, wanted)
        if all(got[t] for t in wanted) or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def group_posts(api) -> collections.Counter:
    return collections.Counter(re.search(r"Telegram id (\d+)", m.plain_text).group(1)
                               for m in api.messages(GROUP))


def check_database(db_url: str, updates: int) -> None:
    storage.connect(db_url)
    statuses = dict(InboxItem.select(InboxItem.status, peewee.fn.COUNT(InboxItem.id))
                    .group_by(InboxItem.status).tuples())
    assert statuses == {"done": updates}, statuses
    steps = {c.chat_id: (c.flow, c.state, c.step) for c in Conversation.select()}
    assert set(steps.values()) == {steps[CONTROL]}, steps          # no update lost or doubled
    assert steps[CONTROL][:2] == ("menu", "main")
    assert _unsent() == 0


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
        check_database(scratch_url, 6 * (1 + len(CHATS)))
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
            while dialogs.posted < 6 * len(CHATS) // 3:     # a third of the updates are in
                time.sleep(0.001)
            workers.kill(0)
            in_flight = _in_flight()
            print(f"at the kill: {in_flight}")
            walking.join(60)
            wait_finished(api, CHATS, timeout=60)
            got = wait_delivered(api, notes)
            _wait_all_sent(timeout=6 * LEASE)        # the dead worker's leases run out, others send
            got = delivered(api, notes)
        finally:
            workers.stop()
        assert sum(in_flight.values()) > 0, "killed too late to prove a take-over"
        check_database(scratch_url, 6 * (1 + len(CHATS)))
        assert [t for t, n in got.items() if n == 0] == []               # nothing lost
        doubled = sum(n - 1 for n in got.values())
        assert doubled <= in_flight["outgoing sending"], got        # only what was mid-send
        assert set(group_posts(api)) == {str(c) for c in [CONTROL, *CHATS]}


def _unsent() -> int:
    return outgoing.Outgoing.select().where(outgoing.Outgoing.status != outgoing.SENT).count()


def _wait_all_sent(timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _unsent() and time.monotonic() < deadline:
        time.sleep(0.2)


def _in_flight() -> dict[str, int]:
    """Rows nobody had finished when the worker died (any worker's, at that moment)."""
    return {"inbox pending": InboxItem.select().where(InboxItem.status == "pending").count(),
            "outgoing sending": outgoing.Outgoing.select()
            .where(outgoing.Outgoing.status == outgoing.SENDING).count()}


@pytest.mark.timeout(120)
def test_workers_option_forks_workers_on_one_port_and_restarts_a_dead_one(scratch_url, tmp_path):
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
            line = next(x for x in out_path.read_text(encoding="utf-8").splitlines() if "pids" in x)
            pids = [int(p) for p in re.findall(r"\d+", line.split("pids")[1])]
            assert len(pids) == 2
            dialogs = Dialogs(api)
            dialogs.walk_all(w, CHATS[:6])                   # a new connection per update
            wait_finished(api, CHATS[:6])
            os.kill(pids[0], signal.SIGKILL)
            deadline = time.monotonic() + 20
            while "starting it again" not in (tmp_path / "bot.log").read_text(encoding="utf-8"):
                assert time.monotonic() < deadline, "the dead worker was not restarted"
                time.sleep(0.1)
            dialogs.walk_all(w, CHATS[6:10])
            wait_finished(api, CHATS[6:10])
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        assert proc.returncode == 0, out_path.read_text(encoding="utf-8")[-3000:]
        logs = [(tmp_path / f"bot.{i}.log").read_text(encoding="utf-8") for i in (0, 1)]
        assert all("webhook server on" in text for text in logs)
        for pid in pids[1:]:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
