"""Two-way CRM sync, the bot's side.

    outbox.py   the CRM outbox: every change the CRM must learn, written with the change
    records.py  what each outbox entity sends (registered: registry.sync_entity)
    push.py     drain the outbox to the CRM: frozen bodies, backoff, dead letters
    pull.py     reconcile: pull the CRM's change feed, cursor in `sync_state`
    references.py  1C's reference lists (defaultData) kept: statuses both ways, types, managers
    jobs.py     the periodic jobs sync_outbox, sync_reconcile, sync_references (registered)
    cli.py      `python run.py sync status|run`

records and jobs register through the one registry and are imported by
helpdesk.registry.load(), not here. See docs/sync.md.
"""
from __future__ import annotations

from helpdesk.registry import EntitySpec

from .cli import queue_status, run_once, status
from .pull import SyncState, cursor, reconcile
from .push import BATCH, DrainReport, Skip, backoff_seconds, drain

__all__ = ["EntitySpec", "SyncState", "DrainReport",
           "drain", "reconcile", "cursor", "backoff_seconds", "queue_status",
           "status", "run_once", "BATCH", "Skip"]
