"""The sync's periodic jobs, registered through the one registry and run by helpdesk.ops.jobs:
`sync_outbox` drains the outbox (at start too), `sync_reconcile` pulls the CRM's changes,
`sync_references` reads 1C's reference lists (at start too, see helpdesk.sync.references)."""
from __future__ import annotations

from typing import Any

from helpdesk.registry import registry

from . import references
from .pull import reconcile
from .push import DrainReport, drain

__all__ = ["sync_outbox", "sync_reconcile", "sync_references"]


@registry.job("sync_outbox", every=lambda s: s.sync.interval_seconds, at_start=True)
def sync_outbox(app) -> DrainReport:
    """At start too: a restarted process frees its dead predecessor's claims (drain ->
    release_orphans) and delivers them at once, not one interval later."""
    return drain(app)


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
