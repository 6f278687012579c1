"""Health of the running processes, for `GET /healthz` and `python run.py health`.

Each process writes a heartbeat row (`process_health`: host, pid, what it runs, its
supervisor's task states as JSON) every `interval` seconds, from a supervised task. That
is how a separate command learns the state of processes it cannot ask directly (polling
mode opens no port; several workers share one): it reads the rows. A row not renewed for
`STALE_AFTER` intervals belongs to a process that is gone or whose database writes fail;
a process deletes its own row when it stops cleanly, and rows stale for over an hour are
deleted by the live processes.

`report(...)` builds the JSON both paths print:

    {"status": "ok" | "unhealthy", "problems": [...],
     "processes": [{"host", "pid", "role", "started_at", "updated_at", "age_seconds",
                    "stale", "tasks": {name: {state, restarts, last_error, since, ...}}}],
     "inbox": {"pending": N, "oldest_age_seconds": S | null}}

Unhealthy: no live process, a task of a live process not running, or the oldest pending
update older than `max_inbox_age` seconds (updates are not being answered).
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
from datetime import datetime, timedelta, timezone

import peewee

from .session import utcnow
from .storage import Table, write_tx

__all__ = ["ProcessHealth", "beat", "beat_forever", "forget", "report", "processes", "this_process", "read", "PATH", "STALE_AFTER"]

PATH = "/healthz"          # the HTTP route of every server that reports health
STALE_AFTER = 3            # heartbeat intervals without a beat: the process is not alive
FORGET_AFTER = timedelta(hours=1)


class ProcessHealth(Table):
    key = peewee.CharField(max_length=300, unique=True)     # host:pid
    host = peewee.CharField(max_length=255)
    pid = peewee.IntegerField()
    role = peewee.CharField(max_length=50)
    interval = peewee.FloatField()
    started_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow, index=True)
    tasks = peewee.TextField(default="{}")

    class Meta:
        table_name = "process_health"


def _key() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(tasks: dict, *, role: str, interval: float) -> None:
    """Write this process's row (one small upsert) and drop rows long dead."""
    now = utcnow()
    with write_tx():
        (ProcessHealth.insert(key=_key(), host=socket.gethostname(), pid=os.getpid(), role=role,
                              interval=interval, started_at=now, updated_at=now,
                              tasks=json.dumps(tasks, ensure_ascii=False))
         .on_conflict(conflict_target=[ProcessHealth.key],
                      update={ProcessHealth.updated_at: now, ProcessHealth.role: role,
                              ProcessHealth.interval: interval,
                              ProcessHealth.tasks: json.dumps(tasks, ensure_ascii=False)})
         .execute())
        ProcessHealth.delete().where(ProcessHealth.updated_at < now - FORGET_AFTER).execute()


async def beat_forever(supervisor, *, role: str, interval: float) -> None:
    """The heartbeat task: a failed write raises (the supervisor restarts it)."""
    while True:
        await asyncio.to_thread(beat, supervisor.tasks(), role=role, interval=interval)
        await asyncio.sleep(interval)


def forget() -> None:
    """A clean stop: this process's row goes."""
    with write_tx():
        ProcessHealth.delete().where(ProcessHealth.key == _key()).execute()


def _age(moment: datetime | None, now: datetime) -> float | None:
    if moment is None:
        return None
    return round(max(0.0, (now - moment).total_seconds()), 1)


def _process(row: ProcessHealth, now: datetime) -> dict:
    age = _age(row.updated_at, now)
    return {"host": row.host, "pid": row.pid, "role": row.role,
            "started_at": _iso(row.started_at), "updated_at": _iso(row.updated_at),
            "age_seconds": age, "stale": age > STALE_AFTER * row.interval,
            "tasks": json.loads(row.tasks or "{}")}


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat(timespec="seconds")


def processes() -> list[dict]:
    """Every heartbeat row, newest first."""
    now = utcnow()
    return [_process(r, now) for r in ProcessHealth.select().order_by(ProcessHealth.updated_at.desc())]


def this_process(supervisor, role: str) -> dict:
    """This process's entry, live from its supervisor (for its own `/healthz`)."""
    now = _iso(utcnow())
    return {"host": socket.gethostname(), "pid": os.getpid(), "role": role, "started_at": None,
            "updated_at": now, "age_seconds": 0.0, "stale": False, "tasks": supervisor.tasks()}


DB_WAIT = 3.0              # seconds a health check waits for the database before saying so


async def read(fn) -> dict:
    """`fn()` (a blocking database read returning a dict) in a thread, or an `error` entry
    when the database is slow or failing: a health check must answer anyway."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(fn), DB_WAIT)
    except asyncio.TimeoutError:
        return {"error": f"the database did not answer within {DB_WAIT:.0f} s"}
    except Exception as e:  # noqa: BLE001 - the report says so instead
        return {"error": f"{type(e).__name__}: {e}"[:300]}


def public(processes: list[dict], backlog: dict) -> tuple[list[dict], dict]:
    """What anybody may see (`GET /healthz` needs no token): states and counts, no error
    text (a CRM's or a database's message may name a client, a URL, a file) and no host
    names; the full text is for `run.py health` on the machine and the logs."""
    shown = []
    for p in processes:
        tasks = {name: {**t, "last_error": _error_type(t.get("last_error"))}
                 for name, t in p["tasks"].items()}
        shown.append({**{k: v for k, v in p.items() if k != "host"}, "tasks": tasks})
    if "error" in backlog:
        backlog = {"error": _error_type(backlog["error"])}
    return shown, backlog


def _error_type(text: str | None) -> str | None:
    """"OperationalError: database is locked" -> "OperationalError"."""
    return None if text is None else str(text).split(":", 1)[0][:100]


def report(processes: list[dict], backlog: dict, *, max_inbox_age: float,
           anonymous: bool = False) -> dict:
    """The health JSON (see the module docstring) from process entries and the backlog;
    `anonymous`: only what `public()` keeps."""
    if anonymous:
        processes, backlog = public(processes, backlog)
    problems: list[str] = []
    live = [p for p in processes if not p["stale"]]
    if not live:
        problems.append("no live process: no heartbeat in the last "
                        f"{STALE_AFTER} intervals (stopped, or its database writes fail)")
    for p in live:
        for name, task in p["tasks"].items():
            if task["state"] not in ("running", "stopped"):
                problems.append(f"{p.get('host', 'process')}:{p['pid']} task {name} is {task['state']} "
                                f"({task['restarts']} failure(s); last: {task['last_error']})")
    if "error" in backlog:
        problems.append(f"inbox unreadable: {backlog['error']}")
    elif (backlog.get("oldest_age_seconds") or 0) > max_inbox_age:
        problems.append(f"{backlog['pending']} update(s) pending, the oldest for "
                        f"{backlog['oldest_age_seconds']:.0f} s (over {max_inbox_age:.0f} s)")
    return {"status": "unhealthy" if problems else "ok", "problems": problems,
            "processes": processes, "inbox": backlog}
