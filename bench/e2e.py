"""End-to-end benchmark of the Telegram transport against the fake Bot API on loopback.

    .venv/bin/python bench/e2e.py [--users 200] [--db URL] [--aiogram-python PYTHON]
    .venv/bin/python bench/e2e.py --ours-only --profile /tmp/bot.prof   # then python -m pstats
    .venv/bin/python bench/e2e.py --db postgresql://... --workers 1,2,4 [--users 200]

N simulated users each walk the shipped menu -> sample dialog (7 updates: /start, a button,
the personal-data consent, a name, a shared contact, two buttons) against `python run.py bot`
(a subprocess, SQLite in a temporary file unless --db a URL; `--db sqlite` is that too). Then the same number of users send 6 texts each to a bare
python-telegram-bot echo bot (`Application` + `MessageHandler`, run_polling) on the same kind
of fake server: once with PTB's defaults (updates one at a time) and once with
`concurrent_updates(True)`; then the baseline users would pick instead, a bare aiogram 3 echo
bot (bench/aiogram_echo.py) on the same mix, sequential and in its default concurrent mode.
Prints JSON: updates_per_s, p50_ms and p99_ms (user action to the first bot message
answering it), bot CPU ms per update, the echo bots' figures, `ratios` (ours / each echo
bot; ratio = ours / PTB's default echo), and our bot's event-loop lag while it ran (a
blocking call on the loop would show up there). `calls_per_update`: the Bot API methods
each bot called per update (ours makes a few more: keyboard edits).

`--profile FILE` runs our bot under cProfile in every thread (the event loop's and the engine
thread's), timed in CPU seconds (threads wait on the GIL: wall time would blame whoever waits),
with start-up and the warm-up subtracted (this process sends SIGUSR1 after the warm-up); the
profiler slows the bot ~3x, so read shares, not the figures.

aiogram is a bench-only dependency (`pip install '.[bench]'`); `--aiogram-python` runs its
bot with another interpreter (a venv of its own: aiogram pins pydantic below our newest).

The fake server and the simulated users share this process; each bot runs in its own.

`--workers 1,2,4` (PostgreSQL): for each count, `python run.py bot --workers N` in webhook
mode on one port (N > 1: uvicorn's supervisor, one listening socket), and this process plays Telegram's side of the webhook: the
users' updates are posted over 32 parallel keep-alive connections (Telegram's default
max_connections is 40), the secret header set. No echo bot then; the JSON has per worker
count: updates/s at saturation, p50/p99 of paced users, the CPU seconds of the workers, of
PostgreSQL's processes and of this process (fake server + users + relay), and how busy the
machine's CPUs were. Each count gets its own range of user ids in the one database.
"""
from __future__ import annotations

import argparse
import contextlib
import heapq
import http.client
import itertools
import json
import os
import queue
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.privacy import AGREE

MENU_SAMPLE = "📞 Заказать обратный звонок"


# -- the walks -----------------------------------------------------------------------------
def _has(text):
    return lambda m: text in (m.plain_text or "")


def sample_walk(user):
    """(action, is the step complete?) pairs: the sample dialog, as in the tests."""
    return [
        (lambda: user.send("/start"), _has("Главное меню")),
        (lambda: user.press(MENU_SAMPLE), _has("Согласие на обработку персональных данных")),
        (lambda: user.press(AGREE["ru"]), _has("Как к вам обращаться")),   # 152-ФЗ consent
        (lambda: user.send("Иван"), _has("номер телефона")),
        (lambda: user.share_contact(), lambda m: "🌅 Утром" in m.button_texts),
        (lambda: user.press("🌅 Утром"), _has("Всё верно")),
        (lambda: user.press("✅ Да"), _has("Главное меню")),
    ]


def echo_text_walk(user):
    """The old, unfair baseline: six texts, each echoed (no button, no contact)."""
    return [((lambda i=i: user.send(f"echo {user.id} {i}")), (lambda m, i=i: m.text == f"echo {user.id} {i}"))
            for i in range(6)]


def echo_walk(user):
    """The same update mix as `sample_walk` (text, button, text, contact, button, button),
    answered as any minimal bot must: a button press gets answerCallbackQuery and a message;
    every message the bot sends carries an inline button, so the next press has one."""
    def said(text):
        return lambda m: m.text == text
    return [
        (lambda: user.send(f"echo {user.id} 0"), said(f"echo {user.id} 0")),
        (lambda: user.press(ECHO_BUTTON), said("pressed")),
        (lambda: user.send(f"echo {user.id} 2"), said(f"echo {user.id} 2")),
        (lambda: user.share_contact(), said("contact")),
        (lambda: user.press(ECHO_BUTTON), said("pressed")),
        (lambda: user.press(ECHO_BUTTON), said("pressed")),
    ]


ECHO_BUTTON = "▶"
ECHO_WALKS = {"mixed": echo_walk, "text": echo_text_walk}


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
                api._cond.wait_for(lambda seen=seen: len(api._events) > seen, max(0, wait - time.monotonic()))
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


def _cpu(pids) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:            # gone
            pass
    return total


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of each PostgreSQL server process (backends come and go: a worker thread
    connects on first use, so they are listed at both ends of a run)."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/comm") as f:
                    if f.read().strip() in ("postgres", "postmaster"):
                        out[int(name)] = cpu_seconds(int(name))
            except OSError:
                pass
    return out


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs so far (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def measure(api, users: int, walk, first_id: int, bot_pid=None, think: float = 0.0,
            postgres: bool = False) -> dict:
    people = [api.user(first_id + i, "Иван") for i in range(users)]
    walker = Walker(api, people, walk, think)
    pids = [bot_pid] if isinstance(bot_pid, int) else list(bot_pid or [])
    calls0 = api.requests.copy()
    cpu0, bot0, m0 = time.process_time(), _cpu(pids), machine_busy()
    db0 = postgres_cpu() if postgres else {}
    seconds = walker.run()
    cpu = {"fake_and_users_cpu_s": round(time.process_time() - cpu0, 2)}
    if pids:
        cpu["bot_cpu_s"] = round(_cpu(pids) - bot0, 2)
    if postgres:
        db1 = postgres_cpu()
        cpu["postgres_cpu_s"] = round(sum(t - db0.get(pid, 0.0) for pid, t in db1.items()), 2)
        m1 = machine_busy()
        cpu["machine_cpu_busy_pct"] = round(100 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1]), 1)
    stuck = walker.stuck()
    updates = sum(len(s) for s in walker.steps.values()) - sum(
        len(walker.steps[c]) - p for c, p in stuck.items())
    lat = sorted(walker.latencies)
    return {"updates": updates, "seconds": round(seconds, 3),
            "updates_per_s": round(updates / seconds, 1),
            "p50_ms": round(statistics.median(lat) * 1000, 2),
            "p99_ms": round(lat[max(0, int(len(lat) * 0.99) - 1)] * 1000, 2),
            "requests_to_api": sum(api.requests.values()), "users_left_without_reply": len(stuck),
            "calls_per_update": {m: round(n / max(1, updates), 2)
                                 for m, n in sorted((api.requests - calls0).items())},
            **cpu}


# -- the bots ------------------------------------------------------------------------------
def wait_polling(api, proc, before: int) -> None:
    deadline = time.monotonic() + 120        # a profiled start on a busy 2-core machine: ~60 s
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


@contextlib.contextmanager
def scratch(db: str):
    """A PostgreSQL URL: a fresh database next to it for one bot run, dropped after. Every
    fake server numbers its updates from 1, so a database a run has used already holds
    those update_ids: the inbox would drop the next run's updates as re-deliveries."""
    if not db.startswith(("postgres://", "postgresql://")):
        yield db
        return
    import psycopg
    base, _, name = db.partition("?")[0].rpartition("/")
    own = f"{name}_bench_{os.getpid()}_{next(_SCRATCH)}"
    with psycopg.connect(db, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{own}"')
    try:
        yield f"{base}/{own}"
    finally:
        with psycopg.connect(db, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (own,))
            admin.execute(f'DROP DATABASE IF EXISTS "{own}"')


_SCRATCH = itertools.count(1)


def run_ours(users: int, db: str | None, tmp: str, think: float, profile: str | None = None) -> dict:
    if not db or db.strip() in ("sqlite", "sqlite://", "sqlite:///"):
        db = f"sqlite:///{tmp}/bench.db"         # "--db sqlite" would be a file ./sqlite
    with scratch(db) as url:
        return _run_ours(users, url, tmp, think, profile)


def profiled_bot(out: str, argv: list[str]) -> None:
    """`run.py ARGV` under cProfile in every thread (the event loop's and the engine's: a
    profile of the main thread alone misses the engine steps); at exit one merged pstats
    file `out` (read it with `python -m pstats OUT`)."""
    import cProfile
    import marshal
    import runpy
    profiles = [cProfile.Profile(time.thread_time)]   # CPU, not wall: threads wait on the GIL
    start: dict = {}

    def each_thread(*_):                 # the thread's first event: its own profiler takes over
        profiles.append(cProfile.Profile(time.thread_time))
        profiles[-1].enable()

    # SIGUSR1 (sent after the warm-up) marks where the measured part begins: start-up
    # (flow checks, template compilation) is subtracted from the written profile
    signal.signal(signal.SIGUSR1, lambda *_: start.update(_merged(profiles)))
    threading.setprofile(each_thread)
    sys.argv = ["run.py", *argv]
    profiles[0].enable()
    try:
        runpy.run_path(os.path.join(ROOT, "run.py"), run_name="__main__")
    except SystemExit:
        pass
    finally:
        profiles[0].disable()
        with open(out, "wb") as f:
            marshal.dump(_since(_merged(profiles), start), f)


def _merged(profiles) -> dict:
    """pstats' raw dict summed over the threads' profilers."""
    merged: dict = {}
    for prof in profiles:
        prof.snapshot_stats()            # not create_stats: that would disable this thread's
        for key, (cc, nc, tt, ct, callers) in prof.stats.items():
            old = merged.get(key)
            if old:
                cc, nc, tt, ct = cc + old[0], nc + old[1], tt + old[2], ct + old[3]
                callers = _summed(old[4], callers)
            merged[key] = (cc, nc, tt, ct, callers)
    return merged


def _since(end: dict, start: dict) -> dict:
    out = {}
    for key, (cc, nc, tt, ct, callers) in end.items():
        b = start.get(key, (0, 0, 0.0, 0.0, {}))
        if nc > b[1]:
            out[key] = (cc - b[0], nc - b[1], tt - b[2], ct - b[3], _summed(callers, b[4], -1))
    return out


def _summed(a: dict, b: dict, sign: int = 1) -> dict:
    """Callers' (cc, nc, tt, ct) tuples added (or subtracted) key by key."""
    out = dict(a)
    for k, v in b.items():
        old = out.get(k, (0, 0, 0.0, 0.0))
        out[k] = tuple(x + sign * y for x, y in zip(old, v, strict=True))
    return {k: v for k, v in out.items() if v[1] > 0}


def _run_ours(users: int, db: str, tmp: str, think: float, profile: str | None = None) -> dict:
    log_file = os.path.join(tmp, "bot.log")
    env = {**os.environ, "BOT_TOKEN": "", "DATABASE_URL": db,
           "LOGGING__FILE": log_file, "BOT__POLL_TIMEOUT": "1", "NOTIFY__BUG__USE": "false",
           "BOT__MODE": "polling",
           "NOTIFY__SYSTEM__WORK_GROUP_ID": "-100777"}    # the call-back is offered only then
    with FakeTelegramAPI() as api:
        env.update(BOT_TOKEN=api.token, BOT_API_URL=api.url)
        command = ([__file__, "--profiled-bot", profile] if profile else ["run.py"]) + ["bot"]
        proc = subprocess.Popen([sys.executable, *command], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            result = _both_loads(api, proc, users, sample_walk, think, profiled=bool(profile))
        finally:
            stop(proc)
    with open(log_file, encoding="utf-8") as f:
        lags = re.findall(r"event loop lag (\{.*\})", f.read())
    result["loop_lag"] = json.loads(lags[-1]) if lags else None
    return result


def _both_loads(api, proc, users: int, walk, think: float, profiled: bool = False) -> dict:
    """Saturation (every user acts as soon as answered) for throughput, then paced users
    (a pause of `think` s, +-50%, between steps) for latency at a realistic load."""
    wait_polling(api, proc, 0)
    measure(api, 5, walk, 9_000_000)                          # warm-up
    if profiled:
        proc.send_signal(signal.SIGUSR1)                      # the profile starts here
    saturated = measure(api, users, walk, 10_000_000, proc.pid)
    paced = measure(api, users, walk, 20_000_000, proc.pid, think=think)
    return {"saturated": saturated, "paced": paced}


def run_echo(users: int, concurrent: bool, think: float, mix: str = "mixed") -> dict:
    with FakeTelegramAPI() as api:
        args = [sys.executable, __file__, "--echo-bot", api.url, api.token] + ["--concurrent"] * concurrent
        proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            return _both_loads(api, proc, users, ECHO_WALKS[mix], think)
        finally:
            stop(proc)


def run_aiogram(users: int, python: str, concurrent: bool, think: float) -> dict:
    script = os.path.join(ROOT, "bench", "aiogram_echo.py")
    with FakeTelegramAPI() as api:
        args = [python, script, api.url, api.token] + ["--sequential"] * (not concurrent)
        proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            return _both_loads(api, proc, users, echo_walk, think)
        finally:
            stop(proc)


AIOGRAM_MISSING = """aiogram is not installed for {python}: the baseline bot needs it.
  pip install '.[bench]'                      (aiogram>=3.13,<4, into this environment)
or, where aiogram's pydantic pin clashes with this environment's, a venv of its own:
  python3 -m venv /tmp/aiogram-venv && /tmp/aiogram-venv/bin/pip install 'aiogram>=3.13,<4'
  python bench/e2e.py --aiogram-python /tmp/aiogram-venv/bin/python ...
(--ours-only skips every baseline)"""


def check_aiogram(python: str) -> None:
    """Say how to install aiogram before the long runs, not after them."""
    found = subprocess.run([python, "-c", "import aiogram"], capture_output=True).returncode == 0
    if not found:
        sys.exit(AIOGRAM_MISSING.format(python=python))


def cpu_ms_per_update(run: dict) -> float:
    return round(1000 * run["bot_cpu_s"] / max(1, run["updates"]), 2)


def echo_bot(url: str, token: str, concurrent: bool) -> None:
    """The baseline: the smallest python-telegram-bot bot that answers our update mix: texts
    are echoed, a contact is acknowledged, a button press is answered (answerCallbackQuery,
    which every bot must do) and gets a message; every message has an inline button."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
    from telegram.ext import ApplicationBuilder, CallbackQueryHandler, MessageHandler, filters

    markup = InlineKeyboardMarkup([[InlineKeyboardButton(ECHO_BUTTON, callback_data="next")]])

    async def echo(update: Update, context) -> None:
        await update.message.reply_text(update.message.text, reply_markup=markup)

    async def contact(update: Update, context) -> None:
        await update.message.reply_text("contact", reply_markup=markup)

    async def pressed(update: Update, context) -> None:
        await update.callback_query.answer()
        await context.bot.send_message(update.effective_chat.id, "pressed", reply_markup=markup)

    app = (ApplicationBuilder().token(token).base_url(f"{url}/bot").base_file_url(f"{url}/file/bot")
           .concurrent_updates(concurrent).build())
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.add_handler(MessageHandler(filters.CONTACT, contact))
    app.add_handler(CallbackQueryHandler(pressed))
    app.run_polling(poll_interval=0, timeout=1, stop_signals=(signal.SIGTERM, signal.SIGINT))


# -- several webhook workers ----------------------------------------------------------------
SECRET = "bench-secret"


class Relay:
    """Telegram's side of a webhook: every update a simulated user makes is posted to the
    workers' port over `connections` parallel keep-alive connections (so the kernel spreads
    them over the workers), 200 awaited, retried on a broken connection."""

    def __init__(self, api, port: int, connections: int = 32):
        self.port, self._queue = port, queue.Queue()
        self._ids = itertools.count(time.time_ns() // 1000)   # new ids on every run: the inbox keeps old ones
        api.push_update = self.push            # the fake's users now deliver through us
        self._threads = [threading.Thread(target=self._post_forever, daemon=True)
                         for _ in range(connections)]
        for t in self._threads:
            t.start()

    def push(self, update: dict) -> int:
        update = dict(update, update_id=next(self._ids))
        self._queue.put(update)
        return update["update_id"]

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)

    def _post_forever(self) -> None:
        conn = None
        while (update := self._queue.get()) is not None:
            body = json.dumps(update, ensure_ascii=False).encode()
            for _ in range(50):
                try:
                    conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                    conn.request("POST", "/tg", body, {"Content-Type": "application/json",
                                                       "X-Telegram-Bot-Api-Secret-Token": SECRET})
                    response = conn.getresponse()
                    response.read()
                    if response.status == 200:
                        break
                except (OSError, http.client.HTTPException):
                    conn = None
                time.sleep(0.1)


def wait_port(port: int, proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bot exited: {proc.stdout.read().decode()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("POST", "/tg", b"{}", {"X-Telegram-Bot-Api-Secret-Token": "x"})
            if conn.getresponse().status == 403:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the webhook did not come up")


def worker_pids(proc, workers: int, tmp: str, timeout: float = 60) -> list[int]:
    """The bot's pid, or each worker's as its own log file (bot.N.log) names it."""
    if workers == 1:
        return [proc.pid]
    deadline = time.monotonic() + timeout
    pids: list[int] = []
    for n in range(workers):
        path = os.path.join(tmp, f"bot.{n}.log")
        while not (found := _serving_pid(path)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {n} did not say it serves ({path})")
            time.sleep(0.1)
        pids.append(found)
    return pids


def _serving_pid(path: str) -> int | None:
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        found = re.findall(r"worker \d+ \(pid (\d+)\) serving", f.read())
    return int(found[-1]) if found else None


def run_workers(users: int, db: str, workers: int, think: float, first_id: int) -> dict:
    from tests.support.telegram_harness import free_port
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, FakeTelegramAPI() as api:
        env = {**os.environ, "BOT_TOKEN": api.token, "BOT_API_URL": api.url, "DATABASE_URL": db,
               "LOGGING__FILE": os.path.join(tmp, "bot.log"), "NOTIFY__BUG__USE": "false",
               "BOT__MODE": "webhook", "BOT__WEBHOOK__URL": f"http://127.0.0.1:{port}/tg",
               "BOT__WEBHOOK__PORT": str(port), "BOT__WEBHOOK__PATH": "/tg",
               "BOT__WEBHOOK__SECRET_TOKEN": SECRET, "ENGINE__WATCH_SECONDS": "0",
               "NOTIFY__SYSTEM__WORK_GROUP_ID": "-100777"}    # the call-back is offered only then
        with open(os.path.join(tmp, "supervisor.out"), "wb") as out:
            proc = subprocess.Popen([sys.executable, "run.py", "bot", "--workers", str(workers)],
                                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        relay = None
        try:
            wait_port(port, proc)
            relay = Relay(api, port)
            pids = worker_pids(proc, workers, tmp)
            measure(api, 5, sample_walk, first_id)                                  # warm-up
            saturated = measure(api, users, sample_walk, first_id + 1000, pids, postgres=True)
            paced = measure(api, users, sample_walk, first_id + 2000 + users, pids, think=think,
                            postgres=True)
        finally:
            if relay:
                relay.stop()
            proc.send_signal(signal.SIGTERM)
            proc.wait(120)
    return {"updates_per_s": saturated["updates_per_s"], "p50_ms": paced["p50_ms"],
            "p99_ms": paced["p99_ms"], "saturated_p50_ms": saturated["p50_ms"],
            "saturated_p99_ms": saturated["p99_ms"],
            "users_left_without_reply": saturated["users_left_without_reply"]
            + paced["users_left_without_reply"], "saturated": saturated, "paced": paced}


def main_workers(args) -> None:
    if not (args.db or "").startswith("postgres"):
        sys.exit("--workers needs --db postgresql://... (several processes share one database)")
    counts = [int(n) for n in args.workers.split(",")]
    results = {}
    for k, n in enumerate(counts):
        with scratch(args.db) as url:
            results[str(n)] = run_workers(args.users, url, n, args.think, 30_000_000 * (k + 1))
    base = results[str(counts[0])]["updates_per_s"]
    print(json.dumps({
        "users": args.users, "db": args.db.split("@")[-1], "cpus": os.cpu_count(),
        "updates_per_s": {n: r["updates_per_s"] for n, r in results.items()},
        "speedup": {n: round(r["updates_per_s"] / base, 2) for n, r in results.items()},
        "p50_ms": {n: r["p50_ms"] for n, r in results.items()},
        "p99_ms": {n: r["p99_ms"] for n, r in results.items()},
        "workers": results}, indent=2))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--db", help="database URL for our bot (default: SQLite in a temp folder)")
    p.add_argument("--think", type=float, default=2.0,
                   help="seconds a paced user pauses between steps (latency run)")
    p.add_argument("--workers", help="comma-separated worker counts, e.g. 1,2,4 (webhook, PostgreSQL)")
    p.add_argument("--ours-only", action="store_true",
                   help="skip the echo bots (quick iterations on our bot's figures)")
    p.add_argument("--aiogram-python", default=sys.executable,
                   help="the interpreter that runs the aiogram echo bot (default: this one)")
    p.add_argument("--profile", metavar="FILE",
                   help="run our bot under cProfile (every thread), pstats written to FILE")
    p.add_argument("--profiled-bot", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.add_argument("--echo-bot", nargs=2, metavar=("API_URL", "TOKEN"), help=argparse.SUPPRESS)
    p.add_argument("--concurrent", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.echo_bot:
        return echo_bot(*args.echo_bot, args.concurrent)
    if args.profiled_bot:
        return profiled_bot(args.profiled_bot[0], args.profiled_bot[1:])
    if args.workers:
        return main_workers(args)
    if not args.ours_only:
        check_aiogram(args.aiogram_python)
    with tempfile.TemporaryDirectory() as tmp:
        ours = run_ours(args.users, args.db, tmp, args.think, args.profile and os.path.abspath(args.profile))
    if args.ours_only:
        return print(json.dumps({k: ours["saturated"][k] for k in ("updates_per_s", "bot_cpu_s", "updates")}
                                | {"bot_cpu_ms_per_update": cpu_ms_per_update(ours["saturated"]),
                                   "p50_ms": ours["paced"]["p50_ms"], "p99_ms": ours["paced"]["p99_ms"],
                                   "loop_lag_ms": ours["loop_lag"]}, indent=2))
    echo = run_echo(args.users, False, args.think)
    echo_c = run_echo(args.users, True, args.think)
    echo_t = run_echo(args.users, False, args.think, "text")
    aio = run_aiogram(args.users, args.aiogram_python, False, args.think)
    aio_c = run_aiogram(args.users, args.aiogram_python, True, args.think)
    o, e, ec, et = ours["saturated"], echo["saturated"], echo_c["saturated"], echo_t["saturated"]
    ac, a = aio_c["saturated"], aio["saturated"]
    rate = {"ours": o, "ptb_echo": e, "ptb_echo_concurrent": ec, "aiogram_echo": a,
            "aiogram_echo_concurrent": ac}
    print(json.dumps({
        "users": args.users, "db": (args.db or "sqlite (temp file)").split("@")[-1],
        "baseline": "echo bot gets the same update mix as ours (per user: text, button press, "
                    "text, shared contact, two button presses); it answers each press with "
                    "answerCallbackQuery + a message. *_text_only: the old baseline, six texts",
        "updates_per_s": o["updates_per_s"], "echo_updates_per_s": e["updates_per_s"],
        "ratio": round(o["updates_per_s"] / e["updates_per_s"], 2),
        "echo_concurrent_updates_per_s": ec["updates_per_s"],
        "ratio_vs_concurrent_echo": round(o["updates_per_s"] / ec["updates_per_s"], 2),
        "echo_text_only_updates_per_s": et["updates_per_s"],
        "ratio_vs_text_only_echo": round(o["updates_per_s"] / et["updates_per_s"], 2),
        "aiogram_updates_per_s": a["updates_per_s"],
        "aiogram_concurrent_updates_per_s": ac["updates_per_s"],
        "ratios": {f"ours/{name}": round(o["updates_per_s"] / r["updates_per_s"], 2)
                   for name, r in rate.items() if name != "ours"}
        | {"aiogram_echo_concurrent/ptb_echo": round(ac["updates_per_s"] / e["updates_per_s"], 2),
           "aiogram_echo_concurrent/ptb_echo_concurrent":
               round(ac["updates_per_s"] / ec["updates_per_s"], 2)},
        "bot_cpu_ms_per_update": {name: cpu_ms_per_update(r) for name, r in rate.items()},
        "p50_ms": ours["paced"]["p50_ms"], "p99_ms": ours["paced"]["p99_ms"],
        "paced_offered_updates_per_s": ours["paced"]["updates_per_s"],
        "echo_p50_ms": echo["paced"]["p50_ms"], "echo_p99_ms": echo["paced"]["p99_ms"],
        "saturated_p50_ms": o["p50_ms"], "saturated_p99_ms": o["p99_ms"],
        "echo_saturated_p50_ms": e["p50_ms"], "echo_saturated_p99_ms": e["p99_ms"],
        "users_left_without_reply": o["users_left_without_reply"] + ours["paced"]["users_left_without_reply"],
        "echo_users_left_without_reply": e["users_left_without_reply"] + ec["users_left_without_reply"]
        + et["users_left_without_reply"] + a["users_left_without_reply"] + ac["users_left_without_reply"],
        "loop_lag_ms": ours["loop_lag"], "ours": ours, "echo": echo, "echo_concurrent": echo_c,
        "echo_text_only": echo_t, "aiogram": aio, "aiogram_concurrent": aio_c,
    }, indent=2))


if __name__ == "__main__":
    main()
