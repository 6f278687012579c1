"""Counts what the database is asked to do: every statement peewee sends (its query hooks)
and every BEGIN, COMMIT and ROLLBACK (which peewee sends past its hooks), from any thread.
Round trips are what an update costs on PostgreSQL, so tests pin their number."""
from __future__ import annotations

import contextlib
import re
import threading

from engine import storage

__all__ = ["recording", "Recording"]


class Recording:
    """The statements seen so far, as SQL text in the order they ran."""

    def __init__(self):
        self._lock = threading.Lock()
        self.sql: list[str] = []
        self.ignored = {threading.get_ident()}    # the test's own looks do not count

    def add(self, sql: str) -> None:
        if threading.get_ident() in self.ignored:
            return
        with self._lock:
            self.sql.append(sql)

    def take(self) -> list[str]:
        """The statements since the last take (and forget them)."""
        with self._lock:
            taken, self.sql = self.sql, []
        return taken


@contextlib.contextmanager
def recording():
    """Record every statement of the bound database while the block runs, in every thread
    but the caller's."""
    database = storage.db.obj
    seen = Recording()

    def hook(event) -> None:
        seen.add(_short(event.sql))

    originals = {name: getattr(database, name) for name in ("begin", "commit", "rollback")}

    def counted(name):
        def run(*args, **kwargs):
            seen.add(name.upper())
            return originals[name](*args, **kwargs)
        return run

    database.query_hooks.append(hook)
    for name in originals:
        setattr(database, name, counted(name))
    try:
        yield seen
    finally:
        database.query_hooks.remove(hook)
        for name in originals:
            delattr(database, name)          # the class's own method again


def _short(sql: str) -> str:
    """The statement's verb and first table: enough to read a failure ("SELECT inbox")."""
    words = sql.split()
    verb = words[0].upper() if words else ""
    # a batch's statements read their chats FROM unnest(...): the table is the one after it
    table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(?!unnest\b)(\w+)"?', sql, re.IGNORECASE)
    lock = re.search(r"pg_(?:try_)?advisory_(?:xact_)?(?:un)?lock\b", sql)
    if verb == "SELECT" and lock:
        return f"SELECT {lock.group(0)}"
    if verb in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
        return verb
    return f"{verb} {table.group(1)}" if table else verb
