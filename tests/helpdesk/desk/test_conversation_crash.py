"""`python run.py bot` killed with SIGKILL while a technician's messages on a ticket are being
applied and relayed: after a restart each message is one ticket event, each reaches the
client, in the order written, at most the one in flight twice (nothing lost or doubled)."""
from __future__ import annotations

import collections
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from helpdesk.app import PROJECT_ROOT
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.privacy import AGREE

GROUP, CLIENT, TECH = -100777, 7600, 7700
TEXTS = [f"Сообщение мастера {i:02d}" for i in range(10)]


def _start(api, db_path, log_path):
    env = {**os.environ, "BOT_TOKEN": api.token, "BOT_API_URL": api.url,
           "DATABASE_URL": f"sqlite:///{db_path}", "LOGGING__FILE": str(log_path),
           "BOT__POLL_TIMEOUT": "1", "NOTIFY__BUG__USE": "false", "BOT__MODE": "polling",
           "NOTIFY__SYSTEM__WORK_GROUP_ID": str(GROUP), "TICKETS__TECHNICIANS": f"[{TECH}]"}
    before = api.requests["getUpdates"]
    proc = subprocess.Popen([sys.executable, "run.py", "bot"], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120      # a liveness bound: 20-30 s on a loaded machine
    while api.requests["getUpdates"] <= before:
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline, "the bot did not start polling"
        time.sleep(0.02)
    return proc


def _rows(db_path, sql):
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as con:
            return con.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []


def _until(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def _file_ticket(client) -> None:
    """The whole ticket dialog, sent at once (typed button labels)."""
    for text in ("/start", "📝 Создать заявку", AGREE["ru"]):
        client.send(text)
    client.share_contact()
    for text in ("Анна", "Касса", "Касса не включается с утра", "✅ Готово", "📨 Отправить"):
        client.send(text)


def _messages(db_path) -> list:
    return _rows(db_path, "select count(*) from ticket_event where what = 'message'")


@pytest.mark.timeout(400)
def test_sigkill_while_staff_messages_are_relayed_loses_and_doubles_nothing(tmp_path):
    db_path, log_path = tmp_path / "bot.db", tmp_path / "bot.log"
    with FakeTelegramAPI() as api:
        group = api.group(GROUP)
        tech = group.member(TECH, "Пётр")   # in the group already: the start's refresh asks Telegram
        proc = _start(api, db_path, log_path)
        try:
            client = api.user(CLIENT, "Анна")
            _file_ticket(client)
            card = api.wait_for(GROUP, contains="#1", since=0, timeout=120)
            _until(lambda: _rows(db_path, "select status from outgoing where key = 't1:post'") == [("sent",)],
                   "the card was not marked sent")
            reply_to = {"message_id": card.message_id, "date": card.date, "chat": group.chat}
            for text in TEXTS:
                tech._message(text=text, reply_to_message=reply_to)
            _until(lambda: (_messages(db_path) or [(0,)])[0][0] >= 1, "no message applied")
            proc.send_signal(signal.SIGKILL)
            proc.wait(5)
            print(f"applied at kill: {_messages(db_path)}")
            proc = _start(api, db_path, log_path)
            _until(lambda: {m.plain_text.split("\n")[1] for m in api.messages(CLIENT)
                            if "Поддержка" in (m.plain_text or "")} >= set(TEXTS),
                   "not every message reached the client")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0, proc.stdout.read().decode()[-3000:]
        relayed = [m.plain_text.split("\n")[1] for m in api.messages(CLIENT)
                   if "Поддержка" in (m.plain_text or "")]
    assert _messages(db_path) == [(len(TEXTS),)]                          # one event each
    assert list(dict.fromkeys(relayed)) == TEXTS                          # in the order written
    assert sum(n - 1 for n in collections.Counter(relayed).values()) <= 1, relayed
