"""The CRM's changes pulled (`reconcile(app)`, job `sync_reconcile`): `changes_since(cursor)`
page by page, each change applied with the same functions the REST API uses
(helpdesk.api.apply), the cursor stored in `sync_state` in the same transaction as its page.
See docs/sync.md.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import peewee as pw

from engine.storage import Table, write_tx
from helpdesk.directory.tables import utcnow

__all__ = ["SyncState", "reconcile", "cursor", "CURSOR", "MAX_PAGES"]


class SyncState(Table):
    """Small named values the sync keeps (the CRM change-feed cursor)."""
    name = pw.CharField(max_length=64, primary_key=True)
    value = pw.TextField(null=True)
    updated = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "sync_state"


CURSOR = "crm_changes_cursor"


MAX_PAGES = 100             # per run; the next run goes on from the stored cursor


def cursor() -> str | None:
    row = SyncState.get_or_none(SyncState.name == CURSOR)
    return row.value if row else None


def _store_cursor(value: str | None) -> None:
    (SyncState.insert(name=CURSOR, value=value, updated=utcnow())
     .on_conflict(conflict_target=[SyncState.name],
                  update={SyncState.value: value, SyncState.updated: utcnow()}).execute())


def reconcile(app) -> dict[str, Any]:
    """Pull the CRM's changes since the stored cursor and apply them; returns counts."""
    from helpdesk.api import apply
    crm, counts = app.services.crm, Counter()
    for _ in range(MAX_PAGES):
        start = cursor()
        items, next_cursor = crm.changes_since(start)
        with write_tx():
            for change in items:
                counts[apply.apply_change(change, app.settings, app)] += 1
            _store_cursor(next_cursor)
        if not items or next_cursor == start:
            break
    return dict(counts)
