"""The sync's periodic jobs, registered through the one registry and run by helpdesk.ops.jobs:
`sync_outbox` drains the outbox (at start too), `sync_reconcile` pulls the CRM's changes."""
from __future__ import annotations

from typing import Any

from helpdesk.registry import registry

from .pull import reconcile
from .push import DrainReport, drain

__all__ = ["sync_outbox", "sync_reconcile"]


@registry.job("sync_outbox", every=lambda s: s.sync.interval_seconds, at_start=True)
def sync_outbox(app) -> DrainReport:
    """At start too: a restarted process frees its dead predecessor's claims (drain ->
    release_orphans) and delivers them at once, not one interval later."""
    return drain(app)


@registry.job("sync_reconcile", every=lambda s: s.sync.reconcile_seconds)
def sync_reconcile(app) -> dict[str, Any]:
    return reconcile(app)
