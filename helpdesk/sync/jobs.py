"""The sync's periodic jobs, registered through the one registry and run by helpdesk.ops.jobs:
`sync_outbox` drains the outbox (at start too), `sync_prune` deletes done outbox rows older
than sync.retention_days (at start too, then hourly), `sync_reconcile` pulls the CRM's
changes, `sync_references` reads 1C's reference lists (at start too, see
helpdesk.sync.references)."""
from __future__ import annotations

from typing import Any

from helpdesk.registry import registry

from . import references, retention
from .pull import reconcile
from .push import DrainReport, drain

__all__ = ["sync_outbox", "sync_prune", "sync_reconcile", "sync_references", "PRUNE_EVERY_SECONDS"]


@registry.job("sync_outbox", every=lambda s: s.sync.interval_seconds, at_start=True)
def sync_outbox(app) -> DrainReport:
    """At start too: a restarted process frees its dead predecessor's claims (drain ->
    release_orphans) and delivers them at once, not one interval later."""
    return drain(app)


PRUNE_EVERY_SECONDS = 3600      # done rows age by days: hourly is soon enough, and cheap


@registry.job("sync_prune", every=PRUNE_EVERY_SECONDS, at_start=True)
def sync_prune(app) -> dict[str, Any]:
    """Done rows past the retention, deleted in batches (helpdesk.sync.retention)."""
    days = app.settings.sync.retention_days
    return {"retention_days": days, "pruned": retention.prune(days)}


@registry.job("sync_reconcile", every=lambda s: s.sync.reconcile_seconds)
def sync_reconcile(app) -> dict[str, Any]:
    return reconcile(app)


@registry.job("sync_references", every=lambda s: s.sync.references_retry_seconds, at_start=True)
def sync_references(app) -> dict[str, Any]:
    """Runs every sync.references_retry_seconds but reads defaultData only when the stored
    lists are older than sync.references_seconds: a failed read (raised: the supervisor
    logs and reports it) is so tried again soon, a good one holds for the full period."""
    if not references.due(app.settings):
        return {"fresh": True}
    return references.refresh(app)
