"""Driving webhook workers from outside: posting an update with the secret, waiting until a
port serves, the sample dialog of many users as raw updates, waiting for its end."""
from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.telegram_harness import MENU_SAMPLE

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
        texts = ["/start", MENU_SAMPLE, "Иван", None, "🌅 Утром", "✅ Да"]
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
