"""The test database: SQLite per test, or PostgreSQL when TEST_DATABASE_URL is set, under
pytest-xdist one database per worker.

`fresh_schema` gives each test an empty database with every table, without building the
schema per test (that cost ~75 ms on SQLite and ~1.3 s on PostgreSQL a test, measured on the
project's 2-core machine, and was most of the PostgreSQL pass): on SQLite each worker builds
one template file and each test gets a copy of it; on PostgreSQL the worker's database keeps
its tables, and a test finding them as the last fresh build left them (same catalog
fingerprint: tables, columns, defaults, indexes, constraints) gets them emptied and their
sequences restarted. A test that changed the schema (dropped a table, ran migrations, made a
scratch table) makes the next one drop every table and build afresh."""
from __future__ import annotations

import os
import shutil

import peewee

from engine import storage

OWNED = "TEST_DATABASE_OWNED"        # set once a worker has claimed its database (see below)
_held: list = []                      # the connections holding the claims, for the process' life


def _own_database(url: str) -> str:
    """Under pytest-xdist each worker gets a PostgreSQL database of its own (`test_gw0`, ...),
    created when missing. It replaces TEST_DATABASE_URL in this worker's environment, so every
    reader (skip marks, subprocesses) sees the same one.

    The name alone does not keep two runs apart: two test passes at once (dev.py runs them
    side by side) or another checkout's run on the same server have workers named gw0 too.
    So a worker claims its database with a session advisory lock held as long as it lives,
    and takes the next name (`test_gw0_2`, ...) when another live process holds it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url or not worker or os.environ.get(OWNED) == url:
        return url
    import psycopg
    base, _, name = url.rpartition("/")
    admin = psycopg.connect(url, autocommit=True)
    for attempt in range(1, 100):
        own = f"{name}_{worker}" + (f"_{attempt}" if attempt > 1 else "")
        with admin.cursor() as cur:
            # the key space is this server's; hashtext is stable across sessions
            cur.execute("SELECT pg_try_advisory_lock(hashtext('helpdesk-tests'), hashtext(%s))", (own,))
            if not cur.fetchone()[0]:
                continue
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (own,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{own}"')
        break
    else:
        raise RuntimeError(f"{url}: 99 test databases for worker {worker} are all in use")
    _held.append(admin)
    os.environ["TEST_DATABASE_URL"] = f"{base}/{own}"
    os.environ[OWNED] = os.environ["TEST_DATABASE_URL"]
    return os.environ["TEST_DATABASE_URL"]


PG_URL = _own_database(os.environ.get("TEST_DATABASE_URL", ""))


def _models_key() -> tuple[str, ...]:
    """Which tables the schema has: a test module may define a table after the first build."""
    return tuple(sorted(m._meta.table_name for m in storage.ALL_MODELS))


# -- SQLite: a template file per worker, copied per test ------------------------------------
_templates: dict[tuple, str] = {}


def _sqlite_fresh(url: str, template_dir) -> peewee.Database:
    path = url[len("sqlite:///"):]
    key = _models_key()
    template = _templates.get(key)
    if template is None:
        template = os.path.join(str(template_dir), f"schema-{len(_templates)}.db")
        storage.connect(f"sqlite:///{template}")
        storage.create_schema()
        storage.close()              # the last connection checkpoints and removes the WAL
        _templates[key] = template
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    shutil.copyfile(template, path)  # journal_mode=wal lives in the file's header, so it stays
    return storage.connect(url)


# -- PostgreSQL: keep the tables, empty them ------------------------------------------------
FINGERPRINT_SQL = """
SELECT md5(coalesce(string_agg(x, E'\\n' ORDER BY x), '')) FROM (
  SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || ' ' || a.attnotnull || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS x
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
  WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL
  SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL
  SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
) AS catalog
"""
_clean: dict[str, tuple] = {}        # url -> (models key, fingerprint) right after a fresh build


def _fingerprint(database) -> str:
    return database.execute_sql(FINGERPRINT_SQL).fetchone()[0]


def _empty(database) -> None:
    """Delete every row (children before parents, so foreign keys hold) and restart every
    sequence, in one round trip and one transaction."""
    tables = [m._meta.table_name for m in reversed(peewee.sort_models(storage.ALL_MODELS))]
    script = ["BEGIN", *(f'DELETE FROM "{t}"' for t in tables),
              "SELECT setval(oid::regclass, 1, false) FROM pg_class"
              " WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace",
              "COMMIT"]
    with database.connection().cursor() as cur:
        cur.execute(";\n".join(script))      # no parameters: psycopg sends it as one query


def _rebuild(database) -> None:
    """Every table of the schema dropped (the models', peewee-migrate's history, any scratch
    table a test made), then the models' created."""
    tables = [r[0] for r in database.execute_sql(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]
    if tables:
        database.execute_sql("DROP TABLE IF EXISTS " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
    storage.create_schema()


def _postgres_fresh(url: str) -> peewee.Database:
    database = storage.connect(url)
    key = _models_key()
    clean = _clean.get(url)
    if clean is not None and clean[0] == key and clean[1] == _fingerprint(database):
        _empty(database)
        return database
    _rebuild(database)
    _clean[url] = (key, _fingerprint(database))
    return database


def fresh_schema(url: str, template_dir) -> peewee.Database:
    """Connect the shared proxy to `url`, an empty database with every table created.
    `template_dir` holds this worker's SQLite template (unused on PostgreSQL)."""
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return _sqlite_fresh(url, template_dir)
    if url.startswith(("postgres://", "postgresql://")):
        return _postgres_fresh(url)
    database = storage.connect(url)
    storage.create_schema()
    return database
