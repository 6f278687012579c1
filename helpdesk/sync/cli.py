"""`python run.py sync status|run`: the outbox queue as an operator reads it, and one
drain plus one reconcile now."""
from __future__ import annotations

from typing import Any

import peewee as pw

from engine import storage
from engine.errors import IntegrationError

from . import outbox
from .outbox import OutboxItem
from .pull import cursor, reconcile
from .push import drain
from .retention import retention_status

__all__ = ["queue_status", "print_status", "status", "run_once", "NO_CRM"]


def queue_status(crm_kind: str | None = None, retention_days: float | None = None) -> dict[str, Any]:
    """Counts by status and entity, the oldest pending item, dead items with their error;
    `crm` is the configured kind (None: not asked), `waiting` the items not yet delivered,
    `retention` the done rows kept and pruned (helpdesk.sync.retention; None: not asked)."""
    by = (OutboxItem.select(OutboxItem.status, OutboxItem.entity, pw.fn.COUNT(OutboxItem.id))
          .group_by(OutboxItem.status, OutboxItem.entity).tuples())
    counts: dict[str, dict[str, int]] = {}
    for status_, entity, n in by:
        counts.setdefault(status_, {})[entity] = n
    oldest = (OutboxItem.select().where(OutboxItem.status.in_((outbox.PENDING, outbox.SENDING)))
              .order_by(OutboxItem.id).first())
    dead = (OutboxItem.select().where(OutboxItem.status == outbox.DEAD)
            .order_by(OutboxItem.id.desc()).limit(20))
    return {"crm": crm_kind, "waiting": outbox.waiting_count(), "counts": counts,
            "oldest_pending": _item_json(oldest) if oldest else None,
            "dead": [_item_json(d) for d in dead], "cursor": cursor(),
            "retention": None if retention_days is None else retention_status(retention_days)}


def _item_json(item: OutboxItem) -> dict:
    return {"id": item.id, "entity": item.entity, "entity_id": item.entity_id,
            "op": item.op, "status": item.status, "attempts": item.attempts,
            "created_at": item.created_at.isoformat(sep=" ", timespec="seconds"),
            "next_at": item.next_at.isoformat(sep=" ", timespec="seconds"),
            "last_error": item.last_error}


NO_CRM = ("no CRM is configured (crm.kind: none): {n} item(s) wait in the outbox; "
          "set crm.kind and crm.url and they are delivered, each once")


def print_status(data: dict) -> None:
    counts = data["counts"]
    if data.get("crm") == "none":
        print(NO_CRM.format(n=data["waiting"]))
    elif data.get("crm"):
        print(f"CRM: {data['crm']}, {data['waiting']} item(s) not yet delivered")
    print("outbox:" if counts else "outbox: empty")
    for status_ in outbox.STATUSES:
        for entity, n in sorted(counts.get(status_, {}).items()):
            print(f"  {status_:8} {entity:14} {n}")
    oldest = data["oldest_pending"]
    if oldest:
        print(f"oldest pending: #{oldest['id']} {oldest['entity']} {oldest['entity_id']} "
              f"since {oldest['created_at']}, attempts {oldest['attempts']}, "
              f"next {oldest['next_at']}" + (f", last error: {oldest['last_error']}"
                                             if oldest["last_error"] else ""))
    for d in data["dead"]:
        print(f"dead: #{d['id']} {d['entity']} {d['entity_id']} after {d['attempts']} "
              f"attempt(s): {d['last_error']}")
    print(f"CRM change cursor: {data['cursor'] or '(none yet)'}")
    if data.get("retention"):
        print(_retention_line(data["retention"]))


def _retention_line(r: dict) -> str:
    kept = (f"done rows are kept {r['retention_days']:g} day(s)" if r["retention_days"]
            else "done rows are kept forever (sync.retention_days: 0)")
    line = f"retention: {kept}; {r['done_kept']} kept"
    if r["done_past_retention"]:
        line += f" ({r['done_past_retention']} past it, pruned by the next sync_prune run)"
    pruned = f"; {r['pruned']} pruned in all, last at {r['last_pruned_at']}" if r["pruned"] \
        else "; none pruned yet"
    return line + pruned


def _connect(settings) -> None:
    from helpdesk.ops import schema
    storage.connect(settings.database.url)
    schema.init()


def status(settings, args) -> int:
    """`python run.py sync status`."""
    _connect(settings)
    print_status(queue_status(settings.crm.kind, settings.sync.retention_days))
    return 0


def run_once(settings, args) -> int:
    """`python run.py sync run`: drain once, then pull the CRM's changes once."""
    from helpdesk.app import build_app
    app = build_app(settings)
    report = drain(app)
    if report.no_crm:
        print(NO_CRM.format(n=report.unsent))
        return 0
    print(f"sent {report.sent}, skipped {report.skipped}, retried later {report.retried}, "
          f"dead {len(report.dead)}, waiting for a parent {report.waiting}")
    for line in report.errors:
        print(f"  {line}")
    if report.stopped:
        print(f"stopped: {report.stopped}")
    try:
        print(f"reconcile: {reconcile(app) or 'no changes'}")
    except IntegrationError as e:
        print(f"reconcile failed: {e}")
    return 1 if report.dead else 0
