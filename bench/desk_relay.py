"""`bench/desk.py --part relay`: the conversation between clients and staff through the fake
Bot API, at Telegram's limits (scaled by `--scale`, 1 = Telegram's own).

N tickets are filed in a forum work group (a topic each, opened by its card); then, for every
ticket at once, a conversation of M messages alternates: a technician writes in the ticket's
topic, the client answers by replying to what support sent them. Each message waits for the
previous one of its ticket to arrive (a conversation is a dialogue). Measured per message:
the relay latency (the user's message into the fake -> the copy out in the other chat);
then `lost` (never arrived), `doubled` (arrived more than once) and `order_broken` (tickets
whose messages arrived out of order), all three must be 0.

Telegram lets a group take 20 messages a minute, so 200 conversations of 10 messages put
~1,400 messages into the work group: 70 minutes at Telegram's pace. `--scale 100` multiplies
every limit of the fake *and* of our sender by 100 (the pacing logic is the same, only the
numbers change); `--scale 1` runs at Telegram's own limits. RELAY_TIMEOUT (seconds, default
600) is how long a message is waited for before it counts as lost; RELAY_PATIENCE (default
3, BotConfig.patience) how long the bot puts off a reply to a message it has not marked yet
(`put_off` counts the tries put off).
"""
from __future__ import annotations

import collections
import os
import re
import threading
import time

from engine import storage
from engine.telegram.sender import Limits
from helpdesk import config, directory
from helpdesk.app import build_app
from helpdesk.desk import staff
from helpdesk.ops import schema
from tests.support.fakes.telegram_api import FakeTelegramAPI, RateLimits
from tests.support.telegram_harness import running_bot

GROUP, TECH, FIRST_CLIENT = -100888, 9001, 610000
TIMEOUT = float(os.environ.get("RELAY_TIMEOUT", 600))   # a message not arrived by then is lost


def _settings(url: str):
    s = config.load(environ={})
    s.database.url, s.logging.file = url, ""
    s.notify.system.work_group_id, s.notify.bug.use = GROUP, False
    s.desk.topics = True
    s.ratings.use = False
    return s


def _people(n: int):
    company, _ = directory.upsert_counterparty(inn="7707083893", name="ООО Ромашка")
    staff.grant(TECH, staff.TECHNICIAN, first_name="Пётр", last_name="Иванов")
    for i in range(n):
        uid = FIRST_CLIENT + i
        directory.get_or_create_user(uid, f"c{i}", f"Клиент{i}", "ru")
        directory.set_user_phone(uid, f"+7913{i:07d}", verified=True)
        directory.link_user(uid, company, "USER")
    return company


class _Watch:
    """The one reader of the fake's log: it follows the log once and wakes whoever waits for
    a marker (`t<ticket>m<k>`) or a ticket's topic. 200 conversations each scanning every
    message the fake holds, every 20 ms, took the CPU the bot needed (the relay looked slow
    and late messages were counted lost)."""

    def __init__(self, api, tickets: int):
        self.api, self.tickets, self._cond = api, tickets, threading.Condition()
        self.arrived: dict[str, object] = {}                   # marker -> its first copy
        self.copies: dict[int, list[str]] = collections.defaultdict(list)   # ticket -> markers
        self.threads: dict[int, int] = {}                      # ticket -> its topic
        self._seen: set[tuple] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relay-watch", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        position = 0
        while not self._stop.is_set():
            news, position = self.api.log_since(position, timeout=0.05)
            topics = {} if len(self.threads) >= self.tickets else _topic_ids(self.api)
            with self._cond:
                for msg in news:
                    self._note(msg)
                self.threads.update(topics)
                if news or topics:
                    self._cond.notify_all()

    def _note(self, msg) -> None:
        if (msg.chat_id, msg.message_id) in self._seen:
            return                                   # an edit of a message already seen
        self._seen.add((msg.chat_id, msg.message_id))
        for marker, ticket in _MARKER.findall(msg.plain_text or ""):
            self.copies[int(ticket)].append(marker)
            self.arrived.setdefault(marker, msg)

    def wait(self, value, timeout: float = TIMEOUT):
        """value() under the watch's lock, once it is true (None after `timeout`)."""
        with self._cond:
            return self._cond.wait_for(value, timeout) or None


_MARKER = re.compile(r"\b(t([0-9]+)m[0-9]+)\b")


def _topic_ids(api) -> dict[int, int]:
    found = {}
    for t in api.topics(GROUP):
        m = re.search(r"#([0-9]+)\b", t.name)
        if m:
            found[int(m.group(1))] = t.thread_id
    return found


class _Conversation:
    """One ticket's dialogue: who says what next, and when each message arrived."""

    def __init__(self, api, watch: _Watch, group, ticket, client_id: int, messages: int):
        self.api, self.watch, self.ticket, self.client_id = api, watch, ticket, client_id
        self.group, self.messages, self.latencies, self.lost = group, messages, [], 0
        self.client = api.user(client_id, f"Клиент{client_id}")
        self.thread_id = None

    def run(self) -> None:
        self.thread_id = self.watch.wait(lambda: self.watch.threads.get(self.ticket.id))
        tech = self.group.member(TECH, "Пётр", last_name="Иванов").in_topic(self.thread_id)
        last_support = None
        for k in range(self.messages):
            marker = f"t{self.ticket.id}m{k}"
            started = time.monotonic()
            if k % 2 == 0:
                tech.send(marker)
            else:
                self.client.send(marker, reply_to=last_support.message_id if last_support else None)
            arrived = self.watch.wait(lambda m=marker: self.watch.arrived.get(m))
            if arrived is None:
                self.lost += 1
                continue
            if k % 2 == 0:
                last_support = arrived
            self.latencies.append((k % 2, arrived.received - started))   # the fake's clock

    def copies(self) -> list[str]:
        """Every relayed marker of this ticket, in the order the other side got them."""
        return list(self.watch.copies.get(self.ticket.id, []))


def _order_broken(conv: _Conversation) -> bool:
    numbers = [int(m.rpartition("m")[2]) for m in conv.copies()]
    to_client = [n for n in numbers if n % 2 == 0]
    to_topic = [n for n in numbers if n % 2 == 1]
    return to_client != sorted(to_client) or to_topic != sorted(to_topic)


def _doubled(conv: _Conversation) -> int:
    seen = collections.Counter(conv.copies())
    return sum(n - 1 for n in seen.values() if n > 1)


def bench_relay(url: str, tickets: int, messages: int, scale: float) -> dict:
    settings = _settings(url)
    app = build_app(settings, connect=False)
    storage.connect(url)
    schema.init()
    company = _people(tickets)
    fake_limits = RateLimits(overall_per_second=30 * scale, private_per_second=1 * scale,
                             private_burst=3, group_per_minute=20 * scale)
    our_limits = Limits(overall_per_second=30 * scale, private_interval=1.0 / scale,
                        group_per_minute=int(20 * scale))
    with FakeTelegramAPI(rate_limits=fake_limits) as api, \
            running_bot(app.engine, api, limits=our_limits,
                        patience=float(os.environ.get("RELAY_PATIENCE", 3))) as bot:
        group = api.group(GROUP, "Заявки", forum=True)
        started = time.monotonic()
        made = [app.services.tickets.create(FIRST_CLIENT + i, type="Касса",
                                            description=f"Касса №{i} не печатает чеки",
                                            counterparty_id=company.id)[0] for i in range(tickets)]
        with _Watch(api, tickets) as watch:
            convs = [_Conversation(api, watch, group, t, FIRST_CLIENT + i, messages)
                     for i, t in enumerate(made)]
            threads = [threading.Thread(target=c.run, daemon=True) for c in convs]
            for t in threads:
                t.start()
            for t in threads:
                t.join(TIMEOUT * messages)
            wall = time.monotonic() - started
        topics = len(api.topics(GROUP))
        refused = api.stats()["refused"]
        put_off = bot.dispatcher.stats["put_off"]
    latencies = sorted(x for c in convs for _, x in c.latencies)
    to_client = sorted(x for c in convs for way, x in c.latencies if way == 0)
    to_topic = sorted(x for c in convs for way, x in c.latencies if way == 1)
    return {
        "part": "relay", "tickets": tickets, "messages_per_ticket": messages, "scale": scale,
        "database": "postgresql" if storage.is_postgres() else "sqlite",
        "relay_latency_s": {"p50": _pct(latencies, 0.5), "p99": _pct(latencies, 0.99),
                            "max": _pct(latencies, 1.0)},
        "staff_to_client_s": {"p50": _pct(to_client, 0.5), "p99": _pct(to_client, 0.99)},
        "client_to_topic_s": {"p50": _pct(to_topic, 0.5), "p99": _pct(to_topic, 0.99)},
        "relayed": len(latencies), "lost": sum(c.lost for c in convs),
        "doubled": sum(_doubled(c) for c in convs),
        "order_broken": sum(_order_broken(c) for c in convs),
        "topics": topics, "topics_expected": tickets, "wall_s": round(wall, 1),
        "fake_refusals": refused, "put_off": put_off,
    }


def _pct(values: list[float], p: float) -> float:
    return round(values[min(len(values) - 1, int(p * len(values)))], 3) if values else 0.0
