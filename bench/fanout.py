"""Notification fan-out through the real sending path, against the fake Bot API enforcing
Telegram's limits with 429s (tests/support/fakes/telegram_api.py, RateLimits()).

What is measured: N tickets of N different authors are taken by a technician (TicketService
-> Notifier -> engine.outgoing queue: N notifications to N private chats), and G tickets are
edited by their authors with notify.system.edit_ticket on (G messages to one work group).
Then `engine.telegram.sender.Sender.drain_forever()` sends the queue, as the bot does.

Prints JSON:
  sent_per_s      private notifications per second (first send .. last private delivered)
  ratio_to_limit  sent_per_s / 30 (Telegram's ~30 messages/s overall)
  lost            notifications given up (dead) or marked sent but never received (must be 0)
  undelivered_at_end  still queued when the run stopped (--timeout): durable, not lost
  duplicates      messages the fake server received beyond the queued ones (must be 0)
  group_per_min   group messages per minute from the first group message to the last (the
                  limit is a sliding 20 in 60 s, so a run that starts with a burst of 20 and
                  ends on one shows more than 20: (G-1) / ((G/20 - 1) * 60 s) at best)
  group_max_in_any_60s  the most group messages received within any 60 s (must be <= 20)
  refused_429     requests the fake server refused with 429 (the sender must back off)

    .venv/bin/python bench/fanout.py [--chats 1000] [--group 100]

The group part takes G / 20 minutes (Telegram allows 20 messages a minute in a group).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from engine import outgoing, storage
from engine.telegram.bot import BotConfig, make_bot
from engine.telegram.sender import Limits, Sender
from helpdesk import directory
from helpdesk.app import build_app
from helpdesk.config import load
from tests.support.fakes.telegram_api import FakeTelegramAPI, RateLimits

GROUP = -1009000000001
TECH = 5_000_000
FIRST_USER = 6_000_000
LIMIT_PER_S = 30


def _settings(db_url: str):
    s = load(environ={"DATABASE_URL": db_url})
    s.notify.system.work_group_id = GROUP
    s.notify.system.new_ticket = False          # only the measured messages are queued
    s.notify.system.edit_ticket = True
    s.notify.user.new_ticket = False
    s.tickets.technicians = [TECH]
    s.tickets.types = ["Касса"]
    return s


def _seed(app, chats: int, group: int) -> tuple[list[int], list[int]]:
    """Tickets of `chats` authors; the first `group` of them are edited later."""
    ids = []
    for i in range(chats):
        uid = FIRST_USER + i
        directory.get_or_create_user(uid, None, f"User {i}", "ru")
        directory.set_user_phone(uid, f"+7912{i:07d}", verified=True)
        ticket, _ = app.services.tickets.create(uid, type="Касса", description=f"Касса номер {i} не печатает чеки")
        ids.append(ticket.id)
    outgoing.Outgoing.delete().execute()         # nothing queued before the measured part
    return ids, ids[:group]


def _queue(app, ids: list[int], edited: list[int]) -> None:
    for tid in ids:
        app.services.tickets.take(TECH, "Мастер", tid)    # -> the author: "taken"
    for n, tid in enumerate(edited):
        author = FIRST_USER + ids.index(tid)
        app.services.tickets.edit(author, tid, description=f"Уточнение {n}: касса не печатает чеки совсем")


async def _drain(api_url: str, token: str, timeout: float, limits: Limits) -> dict:
    bot = make_bot(BotConfig(token=token, api_url=api_url))
    await bot.initialize()
    sender = Sender(bot, limits=limits)
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(1))   # SQLite: one thread
    task = asyncio.create_task(sender.drain_forever(interval=0.05))
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        await asyncio.sleep(0.5)
        if await asyncio.to_thread(outgoing.pending_count) == 0 and not sender._tasks:
            break
    task.cancel()
    await bot.shutdown()
    return dict(sender.stats)


def _times(api, chat_filter) -> list[float]:
    return sorted(m.date for m in api.sent if chat_filter(m.chat_id))


def measure(chats: int, group: int, timeout: float, limits: Limits = Limits()) -> dict:
    workdir = tempfile.mkdtemp(prefix="fanout-")
    db_url = f"sqlite:///{workdir}/bench.db"
    app = build_app(_settings(db_url))
    ids, edited = _seed(app, chats, group)
    _queue(app, ids, edited)
    queued = outgoing.Outgoing.select().count()
    with FakeTelegramAPI(rate_limits=RateLimits()) as api:
        stamps: dict[int, list[float]] = collections.defaultdict(list)
        _watch(api, stamps)
        t0 = time.monotonic()
        stats = asyncio.run(_drain(api.url, api.token, timeout, limits))
        return _result(api, stamps, t0, chats, group, queued, stats)


def _watch(api, stamps) -> None:
    """Record the arrival time of every created message (the fake keeps only whole seconds)."""
    original = api._record if hasattr(api, "_record") else None
    if original is None:
        return

    def record(method, chat_id, *a, **kw):
        msg = original(method, chat_id, *a, **kw)       # raises on a 429: not recorded
        stamps[int(chat_id)].append(time.monotonic())
        return msg
    api._record = record


def _queue_state() -> dict:
    rows = outgoing.Outgoing.select(outgoing.Outgoing.chat_id, outgoing.Outgoing.status)
    out: dict = collections.defaultdict(collections.Counter)
    for r in rows:
        out[r.status][int(r.chat_id)] += 1
    return out


def _result(api, stamps, t0, chats, group, queued, stats) -> dict:
    per_chat = collections.Counter(int(m.chat_id) for m in api.sent)
    state = _queue_state()
    marked_sent = state.get(outgoing.SENT, collections.Counter())
    # lost: given up (dead), or marked sent although the server never received it
    lost = sum(state.get(outgoing.DEAD, {}).values())
    lost += sum(max(0, n - per_chat.get(c, 0)) for c, n in marked_sent.items())
    undelivered = sum(state.get(outgoing.PENDING, {}).values()) + sum(state.get(outgoing.SENDING, {}).values())
    dup = sum(max(0, n - marked_sent.get(c, 0) - state.get(outgoing.SENDING, {}).get(c, 0))
              for c, n in per_chat.items())
    private = [c for c in per_chat if c > 0]
    p_times = sorted(t for c in private for t in stamps.get(c, [])) or [t0, t0 + 1]
    g_times = sorted(stamps.get(GROUP, [])) or [t0]
    sent_per_s = len(private) / max(p_times[-1] - t0, 1e-9)
    group_per_min = (len(g_times) - 1) / max(g_times[-1] - g_times[0], 1e-9) * 60 if len(g_times) > 1 else 0.0
    return {"chats": chats, "group_messages": group, "queued": queued,
            "sent_per_s": round(sent_per_s, 2), "ratio_to_limit": round(sent_per_s / LIMIT_PER_S, 3),
            "lost": lost, "undelivered_at_end": undelivered, "duplicates": dup,
            "group_per_min": round(group_per_min, 2), "group_max_in_any_60s": _max_in_window(g_times, 60.0),
            "group_received": per_chat.get(GROUP, 0),
            "refused_429": len(api.refused),
            "refused_by_scope": dict(collections.Counter(r.scope for r in api.refused)),
            "private_seconds": round(p_times[-1] - t0, 2),
            "total_seconds": round(max(p_times[-1], g_times[-1]) - t0, 2), "sender": stats}


def _max_in_window(times: list[float], seconds: float) -> int:
    """The most messages that arrived within any `seconds` (Telegram's group limit: 20/60 s)."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--chats", type=int, default=1000)
    p.add_argument("--group", type=int, default=100)
    p.add_argument("--timeout", type=float, default=420,
                   help="stop sending after this many seconds and report (100 group messages need ~5 min)")
    p.add_argument("--overall", type=float, default=Limits().overall_per_second,
                   help="the sender's overall pace (default: the production Limits())")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(measure(args.chats, args.group, args.timeout, Limits(overall_per_second=args.overall)), ensure_ascii=False, indent=2))
    storage.close()


if __name__ == "__main__":
    main()
