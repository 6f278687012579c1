"""Done outbox rows kept for `sync.retention_days`, then deleted (job sync_prune, hourly and
at start): they are the changes feed's history (`GET /api/v1/changes`), not work. Pending,
sending and dead rows are never deleted: they are work, or the operator's to read.

The deletes go `PRUNE_BATCH` rows a transaction (a long backlog never holds one long lock
or one huge WAL), and each batch adds its count to the `sync_state` row "outbox_pruned" in
the same transaction, so `python run.py sync status` can say how many were pruned, and when.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from engine.session import utcnow
from engine.storage import write_tx

from . import outbox
from .outbox import OutboxItem
from .pull import SyncState

__all__ = ["prune", "retention_status", "PRUNE_BATCH", "PRUNED"]

PRUNE_BATCH = 5000          # done rows deleted per transaction
PRUNED = "outbox_pruned"    # sync_state row: how many done rows were pruned in all, and when last


def _cutoff(retention_days: float):
    return utcnow() - timedelta(days=retention_days)


def _old_done(retention_days: float):
    return (OutboxItem.status == outbox.DONE) & (OutboxItem.done_at < _cutoff(retention_days))


def prune(retention_days: float, *, batch: int = PRUNE_BATCH) -> int:
    """Delete the done rows delivered more than `retention_days` ago (0: none, kept
    forever); returns how many."""
    if not retention_days:
        return 0
    total = 0
    while True:
        with write_tx():
            ids = [i for (i,) in OutboxItem.select(OutboxItem.id).where(_old_done(retention_days))
                   .order_by(OutboxItem.id).limit(batch).tuples()]
            if ids:
                OutboxItem.delete().where(OutboxItem.id.in_(ids)).execute()
                _count_pruned(len(ids))
        total += len(ids)
        if len(ids) < batch:
            return total


def _count_pruned(n: int) -> None:
    row = SyncState.get_or_none(SyncState.name == PRUNED)
    value = str(int(row.value or 0) + n if row else n)
    (SyncState.insert(name=PRUNED, value=value, updated=utcnow())
     .on_conflict(conflict_target=[SyncState.name],
                  update={SyncState.value: value, SyncState.updated: utcnow()}).execute())


def retention_status(retention_days: float) -> dict[str, Any]:
    """What `sync status` shows: the retention, the done rows kept (and how many of them
    are past it, for the next prune), how many were pruned in all and when last."""
    done = OutboxItem.select().where(OutboxItem.status == outbox.DONE)
    row = SyncState.get_or_none(SyncState.name == PRUNED)
    return {"retention_days": retention_days, "done_kept": done.count(),
            "done_past_retention": (OutboxItem.select().where(_old_done(retention_days)).count()
                                    if retention_days else 0),
            "pruned": int(row.value or 0) if row else 0,
            "last_pruned_at": row.updated.isoformat(sep=" ", timespec="seconds") if row else None}
