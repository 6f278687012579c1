"""Driving webhook workers from outside: posting an update with the secret, waiting until a
port serves, the sample dialog of many users as raw updates, waiting for its end; the
worker processes themselves (`Workers`) and what the tests check of their database."""
from __future__ import annotations

import collections
import http.client
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import peewee

from engine import outgoing, storage
from engine.events import Reply
from engine.session import Conversation
from engine.telegram.inbox import InboxItem
from helpdesk.app import PROJECT_ROOT
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.privacy import AGREE
from tests.support.telegram_harness import MENU_SAMPLE, free_port

SECRET = "workers-S3cret"
FINAL = "Спасибо, Иван"


def post(port: int, update: dict, secret: str = SECRET) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("POST", "/tg", json.dumps(update, ensure_ascii=False).encode(),
                     {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret})
        return conn.getresponse().status
    finally:
        conn.close()


def wait_serving(port: int, proc, timeout: float = 120) -> None:
    # a liveness bound, not a speed check: a worker starts in ~3 s, but 20-30 s on a
    # 2-core machine under load 15-20 (seen with several test runs at once)
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the worker exited with {proc.returncode}")
        try:
            if post(port, {"update_id": 1}, secret="wrong") == 403:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"nothing serves port {port}"
        time.sleep(0.1)


class Dialogs:
    """The menu -> sample dialog of many users, as raw updates with increasing update_ids."""

    def __init__(self, api: FakeTelegramAPI, first_update_id: int = 1000):
        self.api = api
        self._ids = itertools.count(first_update_id)
        self._lock = threading.Lock()
        self.posted = 0

    def updates(self, chat: int) -> list:
        user = self.api.user(chat, "Иван", phone_number="+79990000000")   # same answers for all
        texts = ["/start", MENU_SAMPLE, AGREE["ru"], "Иван", None, "🌅 Утром", "✅ Да"]   # consent: 152-ФЗ
        return [self._message(user, text) for text in texts]

    def _message(self, user, text: str | None):
        def build() -> dict:
            if text is None:
                content = {"contact": {"phone_number": user.phone_number, "first_name": "Иван",
                                       "user_id": user.id}}
            else:
                content = {"text": text}
                if text.startswith("/"):
                    content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
            message = self.api._new_user_message(user.user, user.chat, **content)
            with self._lock:               # ids increase in the order the updates are posted
                return {"update_id": next(self._ids), "message": message}
        return build

    def walk(self, workers, chat: int, shift: int = 0) -> None:
        """Post the chat's updates one after another (each once stored: 200), every one to
        the next worker; the bot's answers are not waited for."""
        for k, build in enumerate(self.updates(chat)):
            assert workers.post(chat + k + shift, build()) == 200
            with self._lock:
                self.posted += 1

    def walk_all(self, workers, chats: list[int]) -> None:
        with ThreadPoolExecutor(len(chats)) as pool:
            list(pool.map(lambda c: self.walk(workers, c), chats))


def wait_finished(api, chats: list[int], timeout: float = 60) -> None:
    """Each chat got the last step's thanks and, after it, the menu again."""
    for chat in chats:
        api.wait_for(chat, contains=FINAL, since=0, timeout=timeout)
        with api._cond:
            at = next(i for i, (s, _) in enumerate(api._events)
                      if s.chat_id == chat and FINAL in s.plain_text)
        api.wait_for(chat, contains="Главное меню", since=at + 1, timeout=timeout)


GROUP = -100777


CONTROL = 6000


CHATS = [6001 + i for i in range(16)]     # under the 20/min group limit of one worker


NOTES = 4                                  # queued notifications per chat (paced 1/s each)


LEASE = 4                                  # seconds; short, so a dead worker's rows move fast


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
    return collections.Counter(re.search(r"(?:Telegram id|пользователь Telegram) (\d+)", m.plain_text).group(1)
                               for m in api.messages(GROUP))


def check_database(db_url: str, updates: int) -> None:
    storage.connect(db_url)
    statuses = dict(InboxItem.select(InboxItem.status, peewee.fn.COUNT(InboxItem.id))
                    .group_by(InboxItem.status).tuples())
    assert statuses == {"done": updates}, statuses
    steps = {c.chat_id: (c.flow, c.state, c.step) for c in Conversation.select()}
    assert set(steps.values()) == {steps[CONTROL]}, steps          # no update lost or doubled
    assert steps[CONTROL][:2] == ("menu", "main")
    assert unsent() == 0


def unsent() -> int:
    return outgoing.Outgoing.select().where(outgoing.Outgoing.status != outgoing.SENT).count()


def wait_all_sent(timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while unsent() and time.monotonic() < deadline:
        time.sleep(0.2)


def rows_in_flight() -> dict[str, int]:
    """Rows nobody had finished when the worker died (any worker's, at that moment)."""
    return {"inbox pending": InboxItem.select().where(InboxItem.status == "pending").count(),
            "outgoing sending": outgoing.Outgoing.select()
            .where(outgoing.Outgoing.status == outgoing.SENDING).count()}


def healthz(port: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", "/healthz")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def serving_pids(log_path, count: int = 1, timeout: float = 120) -> list[int]:
    """The pids a worker's own log file names as serving, once `count` are there (a
    liveness bound, like wait_serving's)."""
    deadline = time.monotonic() + timeout
    while True:
        text = log_path.read_text(encoding="utf-8") if log_path.exists() else ""
        pids = [int(p) for p in re.findall(r"worker \d+ \(pid (\d+)\) serving", text)]
        if len(pids) >= count:
            return pids
        assert time.monotonic() < deadline, f"{log_path.name} names {len(pids)} serving pid(s)"
        time.sleep(0.1)
