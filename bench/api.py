#!/usr/bin/env python3
"""The REST API under a bulk write: `PUT /api/partner` bundles of 1, 100 and 2,000 contracts
(the seed's 1C path) against a live loopback server, on SQLite and on PostgreSQL, and how
long `GET /healthz` goes unanswered while a 2,000-contract bundle is written. Prints JSON.

    .venv/bin/python bench/api.py                                   # SQLite only
    .venv/bin/python bench/api.py --pg postgresql://postgres@127.0.0.1:5432/test_payapi
    TEST_DATABASE_URL=postgresql://... .venv/bin/python bench/api.py

For each database: a fresh schema, the app with an API token, uvicorn on a free port in a
process of its own (as `python run.py api` runs it: the bench's client threads must not compete
with the server for the same GIL, or the gap measures the bench, not the server). Each size is sent `repeats` times with the same guids
(the first inserts, the rest update: 1C re-sends its partners); `p50_ms` is per request,
`per_item_us` = p50 / contracts. Baselines measured in the same run:
  * `healthz_p50_ms`: an empty request on the same server, same client (HTTP + JSON cost);
  * `per_item_unbatched_us`: the same 2,000 contracts stored one statement pair per item
    (`legacy.upsert` per contract in one transaction, the code path before batching),
    called directly without HTTP; `batched_speedup` = that / the batched API's per-item.
`healthz_max_gap_ms`: a thread calls GET /healthz back to back while a 2,000-contract
bundle is written; the longest time between two answers (the event loop's stall), the worst
of `GAP_RUNS` bundles (one bundle is one sample of a noisy quantity; `healthz_gaps_ms` lists
each run's longest gap).
Targets (issue 17): 2,000 contracts under 500 ms on SQLite; no gap over 100 ms.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pydantic import SecretStr

from engine import heap, storage
from engine.storage import write_tx
from helpdesk import config
from helpdesk.api import legacy
from helpdesk.api.server import make_server
from helpdesk.app import build_app
from helpdesk.ops import schema

TOKEN = "bench-api-token"
SIZES = {1: 50, 100: 20, 2000: 7}            # contracts -> requests sent
GAP_RUNS = 5


def _app(url: str):
    s = config.load(environ={})
    s.database.url = url
    s.api.tokens = [SecretStr(TOKEN)]
    s.notify.bug.use = False
    s.logging.file = ""
    return build_app(s, connect=False)


def _serve(url: str, ports, stop) -> None:
    """The server process: its own connection and app, uvicorn until `stop` is set."""
    import logging
    logging.disable(logging.WARNING)
    storage.connect(url)
    server = make_server(_app(url), host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    heap.freeze_startup()                    # as `run.py api` does before it serves
    ports.put(server.servers[0].sockets[0].getsockname()[1])
    stop.wait()
    server.should_exit = True
    thread.join(10)
    storage.close()


class _Server:
    def __init__(self, url: str):
        ctx = multiprocessing.get_context("spawn")
        self.ports, self.stop = ctx.Queue(), ctx.Event()
        self.process = ctx.Process(target=_serve, args=(url, self.ports, self.stop), daemon=True)

    def __enter__(self):
        self.process.start()
        self.port = self.ports.get(timeout=60)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.process.join(15)
        if self.process.is_alive():
            self.process.kill()


def _bundle(n: int, tag: str) -> bytes:
    partner = {"guid": f"p-{tag}", "name": "ООО Ромашка", "inn": "7707083893"}
    contracts = [{"guid": f"k-{tag}-{i}", "name": f"Договор {i}", "guidPartner": partner["guid"],
                  "date": "2024-01-01T00:00:00", "isBilling": True, "standardHourlyRate": 1500}
                 for i in range(n)]
    return json.dumps({"partners": [partner], "contracts": contracts}, ensure_ascii=False).encode()


def _request(conn, method: str, path: str, body: bytes | None = None) -> float:
    headers = {"token": TOKEN, "Content-Type": "application/json"}
    t0 = time.perf_counter()
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    took = time.perf_counter() - t0
    if response.status != 200:
        raise SystemExit(f"{method} {path}: {response.status} {data[:200]!r}")
    return took


def _p50_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 2)


def _sizes(port: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    out = {"healthz_p50_ms": _p50_ms([_request(conn, "GET", "/healthz") for _ in range(50)])}
    for n, repeats in SIZES.items():
        body = _bundle(n, f"s{n}")
        times = [_request(conn, "PUT", "/api/partner", body) for _ in range(repeats)]
        out[str(n)] = {"requests": repeats, "p50_ms": _p50_ms(times),
                       "per_item_us": round(statistics.median(times) / n * 1e6, 1),
                       "bytes": len(body)}
    conn.close()
    return out


def _gap(port: int) -> dict:
    """The longest pause between /healthz answers while one 2,000-contract bundle is written."""
    body, stamps, done = _bundle(2000, "gap"), [], threading.Event()

    def probe():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while not done.is_set():
            _request(conn, "GET", "/healthz")
            stamps.append(time.perf_counter())
        conn.close()

    bulk = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    _request(bulk, "PUT", "/api/partner", body)                  # rows exist: the update path
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    time.sleep(0.2)
    start = time.perf_counter()
    took = _request(bulk, "PUT", "/api/partner", body)
    end = time.perf_counter()
    time.sleep(0.05)
    done.set()
    thread.join(30)
    during = [t for t in stamps if start <= t]
    points = [start] + [t for t in during if t <= end + 0.05] + [end]
    gaps = [b - a for a, b in zip(points, points[1:], strict=False)]
    return {"bulk_ms": round(took * 1000, 2), "healthz_answers_during": len(during),
            "healthz_max_gap_ms": round(max(gaps) * 1000, 2)}


def _unbatched(app) -> float:
    """Seconds per contract the old way: one upsert (two statements) per item, one transaction."""
    items = [legacy.OneCObject.model_validate({"guid": f"u-{i}", "name": f"Договор {i}"})
             for i in range(2000)]
    for _ in range(2):                                             # insert, then update
        t0 = time.perf_counter()
        with write_tx():
            for obj in items:
                legacy.upsert(app, "contract", obj)
        took = time.perf_counter() - t0
    return took / len(items)


def run(url: str) -> dict:
    storage.connect(url)
    if storage.is_postgres():
        storage.db.drop_tables(storage.ALL_MODELS, safe=True, cascade=True)
    schema.init()
    app = _app(url)
    try:
        with _Server(url) as server:
            out = _sizes(server.port)
            runs = [_gap(server.port) for _ in range(GAP_RUNS)]
            out["bulk_ms"] = statistics.median(r["bulk_ms"] for r in runs)
            out["healthz_answers_during"] = statistics.median(r["healthz_answers_during"]
                                                              for r in runs)
            out["healthz_gaps_ms"] = [r["healthz_max_gap_ms"] for r in runs]
            out["healthz_max_gap_ms"] = max(out["healthz_gaps_ms"])
        unbatched = _unbatched(app)
    finally:
        storage.close()
    out["per_item_unbatched_us"] = round(unbatched * 1e6, 1)
    out["batched_speedup"] = round(unbatched * 1e6 / out["2000"]["per_item_us"], 1)
    out["target_2000_under_500ms"] = out["2000"]["p50_ms"] < 500
    out["target_gap_under_100ms"] = out["healthz_max_gap_ms"] < 100
    return out


def _pg_answers(url: str) -> bool:
    try:
        import psycopg
        psycopg.connect(url, connect_timeout=3).close()
        return True
    except Exception:  # noqa: BLE001 - any failure means "skip PostgreSQL"
        return False


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL", ""),
                   help="PostgreSQL URL (default $TEST_DATABASE_URL); skipped when it does not answer")
    args = p.parse_args()
    import logging
    logging.disable(logging.WARNING)
    result = {"python": platform.python_version(), "machine": platform.machine(),
              "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        result["sqlite"] = run(f"sqlite:///{tmp}/bench.db")
    if args.pg and _pg_answers(args.pg):
        result["postgresql"] = run(args.pg)
    elif args.pg:
        result["postgresql"] = {"skipped": "the database did not answer"}
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
