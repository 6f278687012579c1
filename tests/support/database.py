"""The test database: SQLite per test, or PostgreSQL when TEST_DATABASE_URL is set, under
pytest-xdist one database per worker."""
from __future__ import annotations

import os


def _own_database(url: str) -> str:
    """Under pytest-xdist each worker gets a PostgreSQL database of its own (`test_gw0`, ...:
    tests drop and create every table), created when missing. It replaces TEST_DATABASE_URL in
    this worker's environment, so every reader (skip marks, subprocesses) sees the same one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url or not worker:
        return url
    import psycopg
    base, _, name = url.rpartition("/")
    own = f"{name}_{worker}"
    admin = psycopg.connect(url, autocommit=True)
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (own,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{own}"')
    admin.close()
    os.environ["TEST_DATABASE_URL"] = f"{base}/{own}"
    return os.environ["TEST_DATABASE_URL"]


PG_URL = _own_database(os.environ.get("TEST_DATABASE_URL", ""))
