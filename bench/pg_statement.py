#!/usr/bin/env python3
"""What one statement costs the bot's CPU on PostgreSQL, by the layer it goes through. Prints JSON.

    .venv/bin/python bench/pg_statement.py --db postgresql://postgres@127.0.0.1:5432/bench_e2e

Issue 15's point 1 (an update's bot CPU on PostgreSQL within 1.3x of SQLite's) turned on
this: cProfile of bench/e2e.py's bot put the difference between the two backends almost
all in psycopg, about 0.12 ms of CPU a statement on the project's 2-core machine, a dozen
statements an update. The same indexed SELECT (two parameters, one row) is sent N times
through each layer in one process, timed in CPU (process_time: the server's work is in
its own process): peewee's `execute_sql` (what the bot does: a new psycopg cursor per
statement), psycopg's `Connection.execute` (also a new cursor), one psycopg cursor reused,
the same without server-side prepared statements, and libpq's `exec_prepared` through
psycopg's `pq` module (no cursor, no adaptation: the floor). `ratios` are against peewee's
path measured in the same run. A scratch table is made and dropped.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SQL = "SELECT id, status, raw FROM bench_statement WHERE chat = %s AND status = %s"


def per_statement(fn, n: int) -> float:
    """CPU microseconds per call of `fn(i)`, after a warm-up past psycopg's prepare threshold."""
    for i in range(10):
        fn(i + 1)
    started = time.process_time()
    for i in range(n):
        fn(i % 1000 + 1)
    return round(1e6 * (time.process_time() - started) / n, 1)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", required=True, help="a PostgreSQL URL (a scratch table is made there)")
    p.add_argument("-n", type=int, default=5000, help="statements per layer")
    args = p.parse_args(argv)
    import psycopg

    from engine import storage
    admin = psycopg.connect(args.db, autocommit=True)
    admin.execute("CREATE TABLE IF NOT EXISTS bench_statement (id bigint PRIMARY KEY, chat bigint, "
                  "status text, raw text)")
    admin.execute("CREATE INDEX IF NOT EXISTS bench_statement_chat ON bench_statement (chat, status)")
    admin.execute("INSERT INTO bench_statement SELECT g, g, 'pending', 'x' FROM generate_series(1, 1000) g "
                  "ON CONFLICT DO NOTHING")
    try:
        storage.connect(args.db)
        plain = psycopg.connect(args.db, autocommit=True)
        unprepared = psycopg.connect(args.db, autocommit=True, prepare_threshold=None)
        cursor, unprepared_cursor = plain.cursor(), unprepared.cursor()
        pq = unprepared.pgconn
        pq.prepare(b"bench", SQL.replace("%s", "$1", 1).replace("%s", "$2", 1).encode())

        def reused(c):
            def run(i):
                c.execute(SQL, (i, "pending"))
                return c.fetchall()
            return run

        def libpq(i):
            r = pq.exec_prepared(b"bench", [str(i).encode(), b"pending"])
            return [tuple(r.get_value(j, k) for k in range(r.nfields)) for j in range(r.ntuples)]

        layers = {
            "peewee_execute_sql": lambda i: storage.db.execute_sql(SQL, (i, "pending")).fetchall(),
            "psycopg_connection_execute": lambda i: plain.execute(SQL, (i, "pending")).fetchall(),
            "psycopg_cursor_reused": reused(cursor),
            "psycopg_cursor_reused_unprepared": reused(unprepared_cursor),
            "libpq_exec_prepared": libpq,
        }
        us = {name: per_statement(fn, args.n) for name, fn in layers.items()}
    finally:
        storage.close()
        admin.execute("DROP TABLE IF EXISTS bench_statement")
    base = us["peewee_execute_sql"]
    print(json.dumps({"statements_per_layer": args.n, "cpu_us_per_statement": us,
                      "ratios": {k: round(v / base, 2) for k, v in us.items()}}, indent=2))


if __name__ == "__main__":
    main()
