#!/usr/bin/env python3
"""How fast the outbox drains to a loopback CRM (tests/support/fakes/crm_rest_stub.py), and how the
time grows with the queue length. Prints JSON.

    .venv/bin/python bench/sync.py                      # 1k, 10k, 50k (see "sizes")
    .venv/bin/python bench/sync.py --sizes 1000,10000,100000 --db sqlite
    .venv/bin/python bench/sync.py --sizes 1000,10000,100000 --db postgresql://u@host/bench_outbox
    DATABASE_URL=postgresql://... .venv/bin/python bench/sync.py   # the same as --db

Each size: a fresh SQLite file (or the PostgreSQL database, emptied), N counterparty outbox
items queued (each its own entity, as after an outage), then one `sync.drain(app)` timed
end to end: claim, freeze the body, HTTP POST with an idempotency key, write back the CRM
id, mark done. `--prune`: then the done rows are aged past `sync.retention_days` and
pruned as the sync_prune job does, timed, with `sync status`'s retention line before/after. The CRM stub (a threaded http.server) runs in its own process, as a CRM
does: its CPU is not the drainer's (`--stub-in-process`: in the drainer's process, as
before, where the stub's work takes the drainer's GIL). Printed per run: items/s, seconds
per 1,000 (linearity: flat from 1k to 100k), the drainer's CPU per item and the CRM stub's
(its own process: when the stub's CPU per item nears the drainer's, the stub is the cap).

    .venv/bin/python bench/sync.py --onec               # 10,000 tickets to a flapping 1C
    .venv/bin/python bench/sync.py --onec --sizes 1000 --down-share 0.3 --pull-every 3

`--onec`: the 1C-shaped run (docs/sync.md, "One task per ticket"). N tickets of a company
1C knows are queued; the drain runs again and again (as the job does) against the 1C stub
(tests/support/fakes/crm_1c_stub.py) while its HTTP service flaps: down `--down-share` of every
`--flap-seconds` cycle (connections refused, in-flight answers cut). Meanwhile "1C" pulls
`GET /api/tasks?nonSync=true` from the bot's real API (loopback uvicorn) every
`--pull-every` seconds, accepts each ticket under the guid shown and confirms it with
`PUT /api/task {guid, code}`. The run ends when no ticket item waits and `nonSync` is
empty. Printed: tasks in 1C (must equal tickets), duplicates (a ticket under a second
guid: must be 0), tickets whose guid or code differ from 1C's, dead items, items/s.
The sync settings are the product's defaults (settings.yaml), except the drain interval.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pydantic import SecretStr

from engine import storage
from engine.session import utcnow
from engine.storage import write_tx
from helpdesk import config, sync
from helpdesk.app import build_app
from helpdesk.directory.tables import Counterparty
from helpdesk.ops import schema
from helpdesk.sync import outbox
from helpdesk.sync.outbox import OutboxItem
from tests.support.fakes.crm_rest_stub import RestCrmStub

TOKEN = "bench-token"


def _settings(url: str, crm_url: str):
    s = config.load(environ={})
    s.database.url = url
    s.crm.kind, s.crm.url, s.crm.token, s.crm.retries = "rest", crm_url, SecretStr(TOKEN), 0
    s.notify.bug.use = False
    s.logging.file = ""
    return s


def _fill(n: int) -> None:
    """N counterparties, each with its outbox item, in batches of 1,000 rows."""
    for start in range(0, n, 1000):
        rows = [{"inn": f"{7700000000 + i:010d}", "name": f"Фирма {i}"}
                for i in range(start, min(n, start + 1000))]
        with write_tx():
            Counterparty.insert_many(rows).execute()
            ids = [c.id for c in Counterparty.select(Counterparty.id)
                   .where(Counterparty.inn.in_([r["inn"] for r in rows]))]
            for cid in ids:
                outbox.push("counterparty", cid)


def _fresh_db(url: str | None, folder: str, n: int) -> str:
    if url:
        storage.connect(url)
        storage.db.drop_tables(storage.ALL_MODELS, safe=True, cascade=True)
        return url
    path = f"sqlite:///{folder}/bench-{n}.db"
    storage.connect(path)
    return path


def _serve_stub(conn) -> None:
    """The CRM stub's own process: its URL out, then on request the count of applied items
    and the CPU seconds the process used so far (all its threads): is the stub the cap?"""
    with RestCrmStub(token=TOKEN) as stub:
        conn.send(stub.url)
        while conn.recv() == "count":
            conn.send((len(stub.items), time.process_time()))


@contextmanager
def crm_stub(in_process: bool):
    """(url, applied(): (how many items the CRM applied, the stub's CPU seconds so far, or
    None in the drainer's process))."""
    if in_process:
        with RestCrmStub(token=TOKEN) as stub:
            yield stub.url, lambda: (len(stub.items), None)
        return
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=_serve_stub, args=(theirs,), daemon=True)
    proc.start()
    try:
        url = ours.recv()

        def applied() -> int:
            ours.send("count")
            return ours.recv()
        yield url, applied
    finally:
        ours.send("stop")
        proc.join(10)


def measure(n: int, pg_url: str | None, folder: str, in_process: bool = False,
            senders: int | None = None, prune: bool = False) -> dict:
    with crm_stub(in_process) as (crm_url, applied):
        url = _fresh_db(pg_url, folder, n)
        schema.load_models()
        storage.create_schema()
        _fill(n)
        settings = _settings(url, crm_url)
        if senders:
            settings.sync.senders = senders
        app = build_app(settings, connect=False)
        _, stub_cpu = applied()
        started, cpu = time.perf_counter(), time.process_time()
        report = sync.drain(app)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        delivered, stub_after = applied()
        pruned = _prune(app.settings.sync.retention_days, n) if prune else None
        storage.close()
    assert report.sent == n == delivered, (report.as_dict(), delivered)
    run = {"items": n, "senders": app.settings.sync.senders, "seconds": round(seconds, 2),
           "items_per_second": round(n / seconds),
           "seconds_per_1000": round(seconds / n * 1000, 3),
           "drainer_cpu_us_per_item": round(cpu / n * 1e6)}
    if stub_after is not None:
        run["crm_stub_cpu_us_per_item"] = round((stub_after - stub_cpu) / n * 1e6)
    if pruned:
        run["prune"] = pruned
    return run


def _prune(retention_days: float, n: int) -> dict:
    """The drained rows aged past the retention, then pruned as the sync_prune job prunes
    (retention.prune: PRUNE_BATCH rows a transaction); what `sync status` says before and
    after. Every done row must go, nothing else."""
    from helpdesk.sync import cli, retention
    with write_tx():
        OutboxItem.update(done_at=utcnow() - timedelta(days=retention_days + 1)).execute()
    before = cli.queue_status("rest", retention_days)["retention"]
    started = time.perf_counter()
    deleted = retention.prune(retention_days)
    seconds = time.perf_counter() - started
    after = cli.queue_status("rest", retention_days)["retention"]
    assert deleted == n == before["done_past_retention"] and after["done_kept"] == 0, (before, after)
    return {"deleted": deleted, "seconds": round(seconds, 2),
            "batches": -(-n // retention.PRUNE_BATCH),
            "sync_status_before": cli._retention_line(before),
            "sync_status_after": cli._retention_line(after)}


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cpu, Python {platform.python_version()}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=None, help="default 1000,10000,50000; --onec: 10000")
    p.add_argument("--onec", action="store_true", help="tickets to a flapping 1C, nonSync pulled")
    p.add_argument("--down-share", type=float, default=0.3, help="--onec: share of time 1C is down")
    p.add_argument("--flap-seconds", type=float, default=2.0, help="--onec: one down+up cycle")
    p.add_argument("--pull-every", type=float, default=3.0, help="--onec: seconds between nonSync pulls")
    p.add_argument("--db", default=os.environ.get("DATABASE_URL") or "sqlite",
                   help="sqlite (a fresh file per size) or a postgresql:// URL (emptied)")
    p.add_argument("--senders", type=int, default=None,
                   help="sync.senders (default: the product's, settings.yaml)")
    p.add_argument("--stub-in-process", action="store_true",
                   help="run the CRM stub in the drainer's process (its CPU counted)")
    p.add_argument("--prune", action="store_true",
                   help="after each drain, age the done rows past sync.retention_days and time "
                        "their pruning (printed with the `sync status` retention line)")
    args = p.parse_args()
    sizes = [int(x) for x in (args.sizes or ("10000" if args.onec else "1000,10000,50000")).split(",")]
    pg_url = args.db if args.db.startswith("postgres") else None
    import logging
    logging.disable(logging.WARNING)
    if args.onec:
        from bench.sync_onec import measure_onec
        with tempfile.TemporaryDirectory() as folder:
            runs = [measure_onec(n, pg_url, folder, args) for n in sizes]
        print(json.dumps({"benchmark": "tickets to a flapping 1C stub, nonSync pulled meanwhile",
                          "database": "postgresql" if pg_url else "sqlite (WAL)",
                          "machine": _machine(), "runs": runs}, ensure_ascii=False, indent=2))
        return 0 if all(r["ok"] for r in runs) else 1
    with tempfile.TemporaryDirectory() as folder:
        runs = [measure(n, pg_url, folder, args.stub_in_process, args.senders, args.prune)
                for n in sizes]
    per_k = [r["seconds_per_1000"] for r in runs]
    result = {
        "benchmark": "outbox drain to a loopback REST CRM stub",
        "database": "postgresql" if pg_url else "sqlite (WAL)",
        "crm_stub": "in the drainer's process" if args.stub_in_process else "its own process",
        "machine": _machine(),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "runs": runs,
        "growth": {"seconds_per_1000_min": min(per_k), "seconds_per_1000_max": max(per_k),
                   "max_over_min": round(max(per_k) / min(per_k), 2)},
    }
    largest = max(sizes)
    if largest < 100_000:
        rate = runs[-1]["seconds_per_1000"]
        result["extrapolated_100000"] = {
            "seconds": round(rate * 100, 1),
            "note": f"not measured: {largest} items was the largest run; 100,000 at the "
                    f"per-item time of that run (linear growth assumed from the runs above)"}
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
