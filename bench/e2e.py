"""End-to-end benchmark of the Telegram transport against the fake Bot API on loopback.

    .venv/bin/python bench/e2e.py [--users 200] [--db URL]

N simulated users each walk the shipped menu -> sample dialog (6 updates: /start, a button,
a name, a shared contact, two buttons) against `python run.py bot` (a subprocess, SQLite in a
temporary folder unless --db). Then the same number of users send 6 texts each to a bare
python-telegram-bot echo bot (`Application` + `MessageHandler`, run_polling) on the same kind
of fake server: once with PTB's defaults (updates one at a time) and once with
`concurrent_updates(True)`. Prints JSON: updates_per_s, p50_ms and p99_ms (user action to the
first bot message answering it), the echo bots' figures, ratio = ours / default echo, and our
bot's event-loop lag while it ran (a blocking call on the loop would show up there).

The fake server and the simulated users share this process; each bot runs in its own.
"""
from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402

MENU_SAMPLE = "📞 Заказать обратный звонок"


# -- the walks -----------------------------------------------------------------------------
def _has(text):
    return lambda m: text in (m.plain_text or "")


def sample_walk(user):
    """(action, is the step complete?) pairs: the sample dialog, as in the tests."""
    return [
        (lambda: user.send("/start"), _has("Главное меню")),
        (lambda: user.press(MENU_SAMPLE), _has("Как к вам обращаться")),
        (lambda: user.send("Иван"), _has("номер телефона")),
        (lambda: user.share_contact(), lambda m: "🌅 Утром" in m.button_texts),
        (lambda: user.press("🌅 Утром"), _has("Всё верно")),
        (lambda: user.press("✅ Да"), _has("Главное меню")),
    ]


def echo_walk(user):
    return [((lambda i=i: user.send(f"echo {user.id} {i}")), (lambda m, i=i: m.text == f"echo {user.id} {i}"))
            for i in range(6)]


class Walker:
    """Drives every user through its steps as fast as the bot answers; one thread, woken by
    the fake server's condition variable on every message the bot sends or edits."""

    def __init__(self, api: FakeTelegramAPI, users: list, walk, think: float = 0.0):
        self.api, self.think = api, think
        self.due: list[tuple[float, int]] = []          # (when, chat): paced next actions
        self.steps = {u.chat_id: walk(u) for u in users}
        self.position = dict.fromkeys(self.steps, 0)
        self.sent_at: dict[int, float] = {}
        self.answered: set[int] = set()
        self.latencies: list[float] = []

    def run(self, timeout: float = 60) -> float:
        """Seconds until every user finished (users whose answer never came are left in
        `stuck()` after `timeout` s of silence: a bot that drops a reply)."""
        api = self.api
        with api._cond:                       # the fake's own lock: we read its event log
            seen = len(api._events)
            started = self.last = time.perf_counter()
            for chat in self.steps:
                if self.think:                      # paced users arrive spread out
                    heapq.heappush(self.due, (time.monotonic() + random.uniform(0, self.think), chat))
                else:
                    self._act(chat)
            active = len(self.steps)
            deadline = time.monotonic() + timeout
            while active:
                wait = min(deadline, self.due[0][0]) if self.due else deadline
                api._cond.wait_for(lambda: len(api._events) > seen, max(0, wait - time.monotonic()))
                if time.monotonic() > deadline:
                    return self.last - started
                new, seen = api._events[seen:], len(api._events)
                if new:
                    self.last, deadline = time.perf_counter(), time.monotonic() + timeout
                now = time.perf_counter()
                for snap, _ in new:
                    active -= self._saw(snap, now)
                while self.due and self.due[0][0] <= time.monotonic():
                    self._act(heapq.heappop(self.due)[1])
            return time.perf_counter() - started

    def _act(self, chat: int) -> None:
        action, _ = self.steps[chat][self.position[chat]]
        self.answered.discard(chat)
        self.sent_at[chat] = time.perf_counter()
        action()

    def _saw(self, snap, now: float) -> int:
        """Account for one bot message; 1 when that user has finished."""
        chat = snap.chat_id
        if chat not in self.steps:
            return 0
        if chat not in self.answered:
            self.answered.add(chat)
            self.latencies.append(now - self.sent_at[chat])
        _, complete = self.steps[chat][self.position[chat]]
        if not complete(snap):
            return 0
        self.position[chat] += 1
        if self.position[chat] == len(self.steps[chat]):
            return 1
        if self.think:
            pause = self.think * random.uniform(0.5, 1.5)
            heapq.heappush(self.due, (time.monotonic() + pause, chat))
        else:
            self._act(chat)
        return 0

    def stuck(self) -> dict[int, int]:
        """Users who never finished: chat -> the step they waited on."""
        return {c: p for c, p in self.position.items() if p < len(self.steps[c])}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(api, users: int, walk, first_id: int, bot_pid: int | None = None,
            think: float = 0.0) -> dict:
    people = [api.user(first_id + i, "Иван") for i in range(users)]
    walker = Walker(api, people, walk, think)
    cpu0, bot0 = time.process_time(), cpu_seconds(bot_pid) if bot_pid else 0.0
    seconds = walker.run()
    cpu = {"fake_and_users_cpu_s": round(time.process_time() - cpu0, 2)}
    if bot_pid:
        cpu["bot_cpu_s"] = round(cpu_seconds(bot_pid) - bot0, 2)
    stuck = walker.stuck()
    updates = sum(len(s) for s in walker.steps.values()) - sum(
        len(walker.steps[c]) - p for c, p in stuck.items())
    lat = sorted(walker.latencies)
    return {"updates": updates, "seconds": round(seconds, 3),
            "updates_per_s": round(updates / seconds, 1),
            "p50_ms": round(statistics.median(lat) * 1000, 2),
            "p99_ms": round(lat[max(0, int(len(lat) * 0.99) - 1)] * 1000, 2),
            "requests_to_api": sum(api.requests.values()), "users_left_without_reply": len(stuck),
            **cpu}


# -- the bots ------------------------------------------------------------------------------
def wait_polling(api, proc, before: int) -> None:
    deadline = time.monotonic() + 30
    while api.requests["getUpdates"] <= before + 1:
        if proc.poll() is not None:
            raise RuntimeError(f"bot exited: {proc.stdout.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError("bot did not start polling")
        time.sleep(0.05)


def stop(proc) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    return out.decode(errors="replace")


def run_ours(users: int, db: str | None, tmp: str, think: float) -> dict:
    log_file = os.path.join(tmp, "bot.log")
    env = {**os.environ, "BOT_TOKEN": "", "DATABASE_URL": db or f"sqlite:///{tmp}/bench.db",
           "LOGGING__FILE": log_file, "BOT__POLL_TIMEOUT": "1", "NOTIFY__BUG__USE": "false",
           "BOT__MODE": "polling"}
    with FakeTelegramAPI() as api:
        env.update(BOT_TOKEN=api.token, BOT_API_URL=api.url)
        proc = subprocess.Popen([sys.executable, "run.py", "bot"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            result = _both_loads(api, proc, users, sample_walk, think)
        finally:
            stop(proc)
    with open(log_file, encoding="utf-8") as f:
        lags = re.findall(r"event loop lag (\{.*\})", f.read())
    result["loop_lag"] = json.loads(lags[-1]) if lags else None
    return result


def _both_loads(api, proc, users: int, walk, think: float) -> dict:
    """Saturation (every user acts as soon as answered) for throughput, then paced users
    (a pause of `think` s, +-50%, between steps) for latency at a realistic load."""
    wait_polling(api, proc, 0)
    measure(api, 5, walk, 9_000_000)                          # warm-up
    saturated = measure(api, users, walk, 10_000_000, proc.pid)
    paced = measure(api, users, walk, 20_000_000, proc.pid, think=think)
    return {"saturated": saturated, "paced": paced}


def run_echo(users: int, concurrent: bool, think: float) -> dict:
    with FakeTelegramAPI() as api:
        args = [sys.executable, __file__, "--echo-bot", api.url, api.token] + ["--concurrent"] * concurrent
        proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            return _both_loads(api, proc, users, echo_walk, think)
        finally:
            stop(proc)


def echo_bot(url: str, token: str, concurrent: bool) -> None:
    """The baseline: the smallest python-telegram-bot echo bot."""
    from telegram import Update
    from telegram.ext import ApplicationBuilder, MessageHandler, filters

    async def echo(update: Update, context) -> None:
        await update.message.reply_text(update.message.text)

    app = (ApplicationBuilder().token(token).base_url(f"{url}/bot").base_file_url(f"{url}/file/bot")
           .concurrent_updates(concurrent).build())
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.run_polling(poll_interval=0, timeout=1, stop_signals=(signal.SIGTERM, signal.SIGINT))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--db", help="database URL for our bot (default: SQLite in a temp folder)")
    p.add_argument("--think", type=float, default=2.0,
                   help="seconds a paced user pauses between steps (latency run)")
    p.add_argument("--echo-bot", nargs=2, metavar=("API_URL", "TOKEN"), help=argparse.SUPPRESS)
    p.add_argument("--concurrent", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.echo_bot:
        return echo_bot(*args.echo_bot, args.concurrent)
    with tempfile.TemporaryDirectory() as tmp:
        ours = run_ours(args.users, args.db, tmp, args.think)
    echo = run_echo(args.users, False, args.think)
    echo_c = run_echo(args.users, True, args.think)
    o, e, ec = ours["saturated"], echo["saturated"], echo_c["saturated"]
    print(json.dumps({
        "users": args.users, "db": (args.db or "sqlite (temp file)").split("@")[-1],
        "updates_per_s": o["updates_per_s"], "echo_updates_per_s": e["updates_per_s"],
        "ratio": round(o["updates_per_s"] / e["updates_per_s"], 2),
        "echo_concurrent_updates_per_s": ec["updates_per_s"],
        "ratio_vs_concurrent_echo": round(o["updates_per_s"] / ec["updates_per_s"], 2),
        "p50_ms": ours["paced"]["p50_ms"], "p99_ms": ours["paced"]["p99_ms"],
        "paced_offered_updates_per_s": ours["paced"]["updates_per_s"],
        "echo_p50_ms": echo["paced"]["p50_ms"], "echo_p99_ms": echo["paced"]["p99_ms"],
        "saturated_p50_ms": o["p50_ms"], "saturated_p99_ms": o["p99_ms"],
        "echo_saturated_p50_ms": e["p50_ms"], "echo_saturated_p99_ms": e["p99_ms"],
        "users_left_without_reply": o["users_left_without_reply"] + ours["paced"]["users_left_without_reply"],
        "echo_users_left_without_reply": e["users_left_without_reply"] + ec["users_left_without_reply"],
        "loop_lag_ms": ours["loop_lag"], "ours": ours, "echo": echo, "echo_concurrent": echo_c,
    }, indent=2))


if __name__ == "__main__":
    main()
