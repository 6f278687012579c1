"""Hand-written SQL for the outbox's batch statements (claim, freeze, settle, write back).

peewee builds a statement's SQL anew on every call, walking its expression tree value by
value: for a batch of 100 ids (an IN list, a CASE of 100 branches) that was ~4 ms of
CPU a statement under the profiler, a fifth of the drainer's CPU per item in
bench/sync.py. The statements here are plain text, made once per (database, shape, size)
and cached, with parameters only; rows come back through `Model.raw`, so fields are
converted exactly as peewee's own queries convert them.
"""
from __future__ import annotations

import functools

from engine.storage import db

__all__ = ["marks", "execute", "update_where_ids", "update_case", "quoted"]


def _param() -> str:
    """The driver's placeholder ("?" for SQLite, "%s" for psycopg)."""
    return db.param


@functools.lru_cache(maxsize=256)
def _marks(param: str, n: int) -> str:
    return ", ".join([param] * n)


def marks(n: int) -> str:
    """`n` placeholders, comma-separated (an IN list's or a VALUES row's)."""
    return _marks(_param(), n)


def quoted(name: str) -> str:
    """An identifier quoted as peewee quotes it (both databases take double quotes)."""
    return f'"{name}"'


def execute(sql: str, params: list | tuple = ()):
    """Run one statement in the current transaction (or autocommit); the cursor."""
    return db.execute_sql(sql, params)


@functools.lru_cache(maxsize=256)
def _update_where_ids(param: str, table: str, sets: str, extra: str, n: int) -> str:
    return (f"UPDATE {quoted(table)} SET {sets} WHERE {quoted('id')} IN ({_marks(param, n)})"
            + (f" AND {extra}" if extra else ""))


def update_where_ids(table: str, sets: str, set_params: list, ids: list[int],
                     extra: str = "", extra_params: list = ()) -> int:
    """UPDATE `table` SET `sets` (placeholders: `set_params`) for the rows `ids`, and
    `extra` (placeholders: `extra_params`); returns how many rows changed."""
    if not ids:
        return 0
    sql = _update_where_ids(_param(), table, sets.replace("?", _param()),
                            extra.replace("?", _param()), len(ids))
    return execute(sql, [*set_params, *ids, *extra_params]).rowcount


@functools.lru_cache(maxsize=256)
def _update_case(param: str, table: str, column: str, n: int) -> str:
    whens = " ".join([f"WHEN {param} THEN {param}"] * n)
    return (f"UPDATE {quoted(table)} SET {quoted(column)} = CASE {quoted('id')} {whens} END "
            f"WHERE {quoted('id')} IN ({_marks(param, n)})")


def update_case(table: str, column: str, values: dict[int, object]) -> int:
    """Set `column` of each row id to its own value (id -> value) in one UPDATE."""
    if not values:
        return 0
    params = [x for pair in values.items() for x in pair] + list(values)
    return execute(_update_case(_param(), table, column, len(values)), params).rowcount
