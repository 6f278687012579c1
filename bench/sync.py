#!/usr/bin/env python3
"""How fast the outbox drains to a loopback CRM (tests/support/fakes/crm_rest_stub.py), and how the
time grows with the queue length. Prints JSON.

    .venv/bin/python bench/sync.py                      # 1k, 10k, 50k (see "sizes")
    .venv/bin/python bench/sync.py --sizes 1000,10000,100000
    DATABASE_URL=postgresql://... .venv/bin/python bench/sync.py --sizes 1000,10000

Each size: a fresh SQLite file (or the PostgreSQL database, emptied), N counterparty outbox
items queued (each its own entity, as after an outage), then one `sync.drain(app)` timed
end to end: claim, freeze the body, HTTP POST with an idempotency key, write back the CRM
id, mark done. The stub is a single-process threaded http.server: it is part of the
measured time. Linearity: seconds per 1,000 items at each size should stay flat.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pydantic import SecretStr

from engine import storage
from engine.storage import write_tx
from helpdesk import config, sync
from helpdesk.app import build_app
from helpdesk.directory.tables import Counterparty
from helpdesk.ops import schema
from helpdesk.sync import outbox
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


def measure(n: int, pg_url: str | None, folder: str) -> dict:
    with RestCrmStub(token=TOKEN) as stub:
        url = _fresh_db(pg_url, folder, n)
        schema.load_models()
        storage.create_schema()
        _fill(n)
        app = build_app(_settings(url, stub.url), connect=False)
        started = time.perf_counter()
        report = sync.drain(app)
        seconds = time.perf_counter() - started
        delivered = len(stub.items)
        storage.close()
    assert report.sent == n == delivered, (report.as_dict(), delivered)
    return {"items": n, "seconds": round(seconds, 2), "items_per_second": round(n / seconds),
            "seconds_per_1000": round(seconds / n * 1000, 3)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000,50000")
    args = p.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    pg_url = os.environ.get("DATABASE_URL", "") if os.environ.get(
        "DATABASE_URL", "").startswith("postgres") else None
    import logging
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        runs = [measure(n, pg_url, folder) for n in sizes]
    per_k = [r["seconds_per_1000"] for r in runs]
    result = {
        "benchmark": "outbox drain to a loopback REST CRM stub",
        "database": "postgresql" if pg_url else "sqlite (WAL)",
        "machine": f"{platform.machine()}, {os.cpu_count()} cpu, Python {platform.python_version()}",
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
