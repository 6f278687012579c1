"""`python run.py health`: the state of the running bot and api processes, as JSON.

The processes cannot all be asked over HTTP (long polling opens no port; several workers
share one), so each writes a heartbeat row every `engine.heartbeat_seconds`
(engine.health); this command reads those rows and the inbox backlog from the database of
the settings (DATABASE_URL) and prints the report of `engine.health.report`. Exit code 0
when the status is ok, 1 when something is unhealthy (a task restarting or failed, no live
process, an update waiting longer than `engine.health_max_inbox_age_seconds`, the database
unreadable). docs/deploy.md, "Health", says what each state means.
"""
from __future__ import annotations

import json

from engine import health, storage
from engine.telegram import inbox

__all__ = ["run", "collect"]


def collect(settings) -> dict:
    """The report from the database (connected by the caller)."""
    try:
        processes, backlog = health.processes(), inbox.backlog()
    except Exception as e:  # noqa: BLE001 - unreadable is an answer too
        problem = f"database unreadable: {type(e).__name__}: {e}"[:500]
        return {"status": "unhealthy", "problems": [problem], "processes": [], "inbox": {"error": problem}}
    return health.report(processes, backlog,
                         max_inbox_age=settings.engine.health_max_inbox_age_seconds)


def run(settings, args) -> int:
    storage.connect(settings.database.url)
    try:
        body = collect(settings)
    finally:
        storage.close()
    print(json.dumps(body, ensure_ascii=False, indent=2))
    return 0 if body["status"] == "ok" else 1
