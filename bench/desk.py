#!/usr/bin/env python3
"""The support desk's figures (issue 16, "Measure"). Prints JSON.

    .venv/bin/python bench/desk.py --part relay --tickets 200 --messages 10 --scale 100
    .venv/bin/python bench/desk.py --part sla --timers 10000
    .venv/bin/python bench/desk.py --part sla --timers 10000 --interval 1 --spread 10   # a burst
    DATABASE_URL=postgresql://... .venv/bin/python bench/desk.py --part sla --timers 10000

`--part relay`: 200 conversations of 10 messages between clients and staff through the fake
Bot API at Telegram's limits (scaled): relay latency p50/p99, lost, doubled, order kept
(bench/desk_relay.py says how).

`--part sla`: SLA timers (helpdesk/desk/sla.py). A fresh SQLite file (or the PostgreSQL
database, emptied); N tickets, each with its two timers started the way a new ticket
starts them (`sla.start`: working-time arithmetic, one row per target) - the CPU of that
is `start_cpu_ms_per_timer`. Then every ticket's first-response timer is made due at a
moment spread evenly over the next `--spread` seconds (its warning counted as sent, so
each fires one stage: the breach, with a line into the ticket's thread and a private
message to each of two dispatchers), and the job is run as the scheduler runs it, every
`--interval` seconds (settings sla.check_seconds; 30 by default, so lateness there is up
to 30 s plus the work), until every timer fired. Printed: lateness of firing (fired at
minus due at) p50/p99/max, CPU and wall time per fired timer, messages queued, and
`fired_twice` (must be 0) / `unfired` (must be 0).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from engine import outgoing, storage
from engine.storage import write_tx
from helpdesk import config, directory
from helpdesk.app import build_app
from helpdesk.desk import sla, staff
from helpdesk.desk.tables import SlaTimer
from helpdesk.directory.tables import utcnow
from helpdesk.ops import schema
from helpdesk.tickets.tables import Ticket

GROUP, AUTHOR, DISPATCHERS = -100777, 5001, (7001, 7002)
CHUNK = 500


def _settings(url: str):
    s = config.load(environ={})
    s.database.url, s.logging.file = url, ""
    s.notify.system.work_group_id, s.notify.bug.use = GROUP, False
    s.sla.first_response_hours, s.sla.resolution_hours = 2, 8
    return s


def _database(url: str | None) -> str:
    if url:
        storage.connect(url)
        storage.db.drop_tables(storage.ALL_MODELS, safe=True, cascade=True)
        storage.close()
        return url
    return f"sqlite:///{tempfile.mkdtemp(prefix='bench-desk-')}/bench.db"


def _tickets(n: int) -> list[Ticket]:
    directory.get_or_create_user(AUTHOR, "client", "Клиент", "ru")
    for user_id in DISPATCHERS:
        staff.grant(user_id, staff.DISPATCHER, first_name="Диспетчер", last_name=str(user_id))
    rows = [{"number": i + 1, "author": AUTHOR, "type": "Касса",
             "description": f"Касса №{i} не печатает чеки"} for i in range(n)]
    with write_tx():
        for at in range(0, n, CHUNK):
            Ticket.insert_many(rows[at:at + CHUNK]).execute()
    return list(Ticket.select().order_by(Ticket.id))


def _start(tickets: list[Ticket], settings) -> float:
    """CPU seconds of starting every ticket's timers."""
    now, cpu = utcnow(), time.process_time()
    for at in range(0, len(tickets), CHUNK):
        with write_tx():
            for ticket in tickets[at:at + CHUNK]:
                sla.start(ticket, settings, now)
    return time.process_time() - cpu


def _make_due(spread: float) -> int:
    """Each first-response timer due over the next `spread` seconds (its warning sent)."""
    ids = [i for (i,) in SlaTimer.select(SlaTimer.id).where(SlaTimer.kind == sla.FIRST_RESPONSE)
           .order_by(SlaTimer.id).tuples()]
    base = utcnow() + timedelta(seconds=1)
    with write_tx():
        for i, timer_id in enumerate(ids):
            due = base + timedelta(seconds=spread * i / max(1, len(ids)))
            (SlaTimer.update(due_at=due, next_at=due, warned_at=base)
             .where(SlaTimer.id == timer_id).execute())
    return len(ids)


def _run_job(app, expected: int, interval: float, limit_seconds: float) -> dict:
    """Run the job every `interval` s until `expected` stages fired (or time is up)."""
    fired, cpu, busy, started = 0, 0.0, 0.0, time.monotonic()
    templates = app.engine.flowset.templates
    while fired < expected and time.monotonic() - started < limit_seconds:
        t0, c0 = time.monotonic(), time.process_time()
        fired += sla.fire_due(app.settings, templates, utcnow())
        cpu, busy = cpu + time.process_time() - c0, busy + time.monotonic() - t0
        time.sleep(max(0.0, interval - (time.monotonic() - t0)))
    return {"fired": fired, "cpu": cpu, "busy": busy}


def _lateness() -> list[float]:
    rows = (SlaTimer.select(SlaTimer.due_at, SlaTimer.breached_at)
            .where(SlaTimer.breached_at.is_null(False)).tuples())
    return sorted((fired - due).total_seconds() for due, fired in rows)


def _pct(values: list[float], p: float) -> float:
    return round(values[min(len(values) - 1, int(p * len(values)))], 3) if values else 0.0


def bench_sla(url: str, timers: int, interval: float, spread: float) -> dict:
    settings = _settings(url)
    app = build_app(settings, connect=False)
    storage.connect(url)
    schema.init()
    tickets = _tickets(timers)
    start_cpu = _start(tickets, settings)
    due = _make_due(spread)
    run = _run_job(app, due, interval, limit_seconds=spread + 600)
    late = _lateness()
    keys = outgoing.Outgoing.select().where(outgoing.Outgoing.key.contains(":sla:")).count()
    return {
        "part": "sla", "timers": timers, "database": "postgresql" if storage.is_postgres() else "sqlite",
        "python": platform.python_version(), "interval_s": interval, "spread_s": spread,
        "start_cpu_ms_per_timer": round(1000 * start_cpu / max(1, 2 * timers), 3),
        "lateness_s": {"p50": _pct(late, 0.5), "p99": _pct(late, 0.99), "max": _pct(late, 1.0)},
        "fire_cpu_ms_per_timer": round(1000 * run["cpu"] / max(1, run["fired"]), 3),
        "fire_wall_ms_per_timer": round(1000 * run["busy"] / max(1, run["fired"]), 3),
        "messages_queued": keys, "messages_per_timer": 1 + len(DISPATCHERS),
        "fired_twice": max(0, run["fired"] - len(late)), "unfired": due - len(late),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=["sla", "relay"], default="sla")
    p.add_argument("--tickets", type=int, default=200, help="relay: conversations")
    p.add_argument("--messages", type=int, default=10, help="relay: messages per conversation")
    p.add_argument("--scale", type=float, default=100.0,
                   help="relay: Telegram's limits times this (1 = Telegram's own)")
    p.add_argument("--timers", type=int, default=10_000)
    p.add_argument("--interval", type=float, default=1.0, help="seconds between job runs")
    p.add_argument("--spread", type=float, default=60.0, help="due times spread over this many seconds")
    args = p.parse_args(argv)
    url = _database(os.environ.get("DATABASE_URL"))
    if args.part == "relay":
        from bench.desk_relay import bench_relay
        result = bench_relay(url, args.tickets, args.messages, args.scale)
    else:
        result = bench_sla(url, args.timers, args.interval, args.spread)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
