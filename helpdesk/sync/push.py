"""The outbox drained to the CRM (`drain(app)`, job `sync_outbox`, `python run.py sync run`).

- items are claimed oldest first (helpdesk.sync.outbox.claim: per-entity ordering, FOR
  UPDATE SKIP LOCKED on PostgreSQL) with a short lease (`sync.lease_seconds`) that this
  process renews while it works; claims of a dead process on this host are freed at the
  start of each drain, a dead holder elsewhere loses them when its lease runs out; an item
  whose parent (a ticket's counterparty ...) still has an older item waiting is given back
  untried, so a ticket never reaches the CRM before its company;
- on its first claim an item's body is built from the current rows (helpdesk.sync.records)
  and frozen into its payload: every retry sends the same body under the same idempotency
  key (a CRM applies a key once and refuses the same key with another body);
- success writes the CRM's id (and a ticket's number) back and marks the item done in one
  transaction; a retryable failure reschedules it with exponential backoff and jitter (a
  CRM's Retry-After is honoured) and stops the run (the CRM is in trouble: the rest wait,
  untried); a refusal or `sync.max_attempts` failures make it dead, reported to the
  notify.bug user;
- with `crm.kind: none` nothing is claimed: items stay pending (the REST API's change feed
  serves them all the same), `sync status` says how many wait, and a CRM configured later
  gets each of them once, oldest first.
"""
from __future__ import annotations

import json
import logging
import random
from dataclasses import asdict, dataclass, field
from datetime import datetime

from engine.errors import BotError, IntegrationError
from engine.storage import is_database_error, write_tx
from helpdesk.notices import GROUP, queue_notice
from helpdesk.registry import EntitySpec, registry
from integrations.crm import Company, CrmClient
from integrations.crm import TradePoint as CrmTradePoint

from . import outbox
from .outbox import OutboxItem

__all__ = ["DrainReport", "Skip", "drain", "backoff_seconds", "BATCH"]

log = logging.getLogger(__name__)
registry.register_texts("dead letters", ("sync/dead_letter",))   # to the bug recipient


BATCH = 100                 # items per claim


PARENT_WAIT_SECONDS = 1.0   # an item whose parent is still queued is looked at again then


_BODY = "_body"             # payload key of the frozen body


class Skip(BotError):
    """Nothing to send for this item (its row is gone, or the CRM has no such call)."""


_DATE_FIELDS = ("created_at", "closed_at", "paid_at")


def _to_json(record) -> dict:
    return {k: v.isoformat() if isinstance(v, datetime) else v
            for k, v in asdict(record).items()}


def _from_json(cls, data: dict):
    """A record from its frozen JSON (unknown keys dropped, dates parsed)."""
    names = set(cls.__dataclass_fields__)
    values = {k: v for k, v in data.items() if k in names}
    for key in _DATE_FIELDS:
        if isinstance(values.get(key), str):
            values[key] = datetime.fromisoformat(values[key])
    if cls is Company:
        values["trade_points"] = [CrmTradePoint(**t) for t in values.get("trade_points") or []]
    return cls(**values)


@dataclass
class DrainReport:
    """What one drain did; printed by `sync run`."""
    sent: int = 0
    skipped: int = 0
    retried: int = 0
    dead: list[int] = field(default_factory=list)
    waiting: int = 0
    stopped: str = ""
    errors: list[str] = field(default_factory=list)
    no_crm: bool = False        # crm.kind none: nothing was claimed
    unsent: int = 0             # with no_crm: items waiting for a CRM

    def as_dict(self) -> dict:
        return asdict(self)


def backoff_seconds(attempts: int, base: float, ceiling: float,
                    retry_after: float | None = None, rng=random) -> float:
    """Exponential backoff with "equal jitter": half the step fixed, half random, so
    retries of many items after an outage spread out instead of arriving together."""
    step = min(ceiling, base * 2 ** max(0, attempts - 1))
    delay = step / 2 + rng.uniform(0, step / 2)
    return max(delay, float(retry_after or 0))


def _parent_waiting(item: OutboxItem, spec: EntitySpec) -> bool:
    for entity, entity_id in spec.parents(item):
        if OutboxItem.select().where(
                (OutboxItem.entity == entity) & (OutboxItem.entity_id == entity_id)
                & (OutboxItem.id < item.id)
                & OutboxItem.status.in_((outbox.PENDING, outbox.SENDING))).exists():
            return True
    return False


def _prepare(item: OutboxItem, spec: EntitySpec, report: DrainReport):
    """The item's frozen record, frozen now on the first claim; None when it must wait or
    has nothing to send (already handled here)."""
    payload = outbox.payload_of(item)
    if _BODY in payload:
        return spec.refresh(item, _from_json(spec.record, payload[_BODY]))
    if _parent_waiting(item, spec):
        outbox.release(item.id, delay=PARENT_WAIT_SECONDS)
        report.waiting += 1
        return None
    record = spec.build(item)
    frozen = json.dumps(payload | {_BODY: _to_json(record)}, ensure_ascii=False, default=str)
    OutboxItem.update(payload=frozen).where(OutboxItem.id == item.id).execute()
    return record


def _succeed(item: OutboxItem, spec: EntitySpec, answer) -> None:
    with write_tx():
        spec.write_back(item, answer)
        outbox.mark_done(item.id)


def _fail(app, item: OutboxItem, error: BaseException, report: DrainReport) -> bool:
    """Count the failure; True when the run should stop (the CRM itself is in trouble)."""
    s = app.settings.sync
    retryable = isinstance(error, IntegrationError) and error.retryable
    delay = backoff_seconds(item.attempts + 1, s.backoff_base_seconds, s.backoff_max_seconds,
                            getattr(error, "retry_after", None)) if retryable else None
    text = f"{type(error).__name__}: {error}"[:500]
    status = outbox.mark_failed(item.id, text, retry_in=delay, max_attempts=s.max_attempts)
    report.errors.append(f"item {item.id} ({item.entity} {item.entity_id}): {text}")
    if status == outbox.DEAD:
        report.dead.append(item.id)
    else:
        report.retried += 1
    log.warning("outbox item %s (%s %s) failed, now %s: %s", item.id, item.entity,
                item.entity_id, status, text)
    return retryable


def _deliver(app, crm: CrmClient, item: OutboxItem, report: DrainReport) -> bool:
    """Send one claimed item; True when the run should stop."""
    spec = registry.sync_entities.get(item.entity)
    try:
        if spec is None:
            raise IntegrationError("crm", f"no sync for outbox entity {item.entity!r}",
                                   retryable=False)
        with write_tx():
            record = _prepare(item, spec, report)
        if record is None:
            return False
        _succeed(item, spec, spec.send(crm, record, item.key))
        report.sent += 1
    except Skip as e:
        with write_tx():
            outbox.mark_done(item.id, note=f"skipped: {e}")
        report.skipped += 1
    except Exception as e:  # noqa: BLE001 - any failure of one item is recorded on it
        if is_database_error(e):
            return _database_failed(app, item, e, report)
        return _fail(app, item, e, report)
    return False


def _database_failed(app, item: OutboxItem, error: BaseException, report: DrainReport) -> bool:
    """Our own database failed around the send (locked, gone): not the CRM's refusal, so
    the item is never dead for it. It goes back untried, due after the backoff's first
    step (the CRM answers the same key and body once more); if even that write fails, its
    lease runs out and the next drain takes it. The run stops: the database is in trouble."""
    text = f"{type(error).__name__}: {error}"[:500]
    report.errors.append(f"item {item.id} ({item.entity} {item.entity_id}): database: {text}")
    log.warning("outbox item %s (%s %s): the database failed around its send, it is sent "
                "again later: %s", item.id, item.entity, item.entity_id, text)
    try:
        outbox.release(item.id, delay=app.settings.sync.backoff_base_seconds)
        report.retried += 1
    except Exception:  # noqa: BLE001 - still failing: the lease returns the item
        log.warning("outbox item %s stays claimed until its lease runs out", item.id)
    return True


def drain(app, *, max_items: int | None = None) -> DrainReport:
    """Deliver due outbox items until none is left (or `max_items`, or the CRM fails).
    With no CRM configured nothing is touched: the items wait for one."""
    crm, report = app.services.crm, DrainReport()
    if crm.kind == "none":
        report.no_crm, report.unsent = True, outbox.waiting_count()
        return report
    lease = app.settings.sync.lease_seconds
    outbox.release_orphans()
    outbox.release_expired()
    done = 0
    with outbox.holding(lease):
        while max_items is None or done < max_items:
            items = outbox.claim(BATCH if max_items is None else min(BATCH, max_items - done),
                                 lease_seconds=lease)
            if not items:
                break
            done += len(items)
            if _deliver_batch(app, crm, items, report):
                break
    _report_dead(app, report.dead)
    return report


def _deliver_batch(app, crm, items: list[OutboxItem], report: DrainReport) -> bool:
    for n, item in enumerate(items):
        if _deliver(app, crm, item, report):
            for rest in items[n + 1:]:   # untried: back to the queue, no attempt counted
                outbox.release(rest.id)
            report.stopped = "the CRM failed; the rest waits for the next run"
            return True
    return False


def _report_dead(app, dead: list[int]) -> None:
    """Tell the notify.bug user which items went dead (one message per run)."""
    bug = app.settings.notify.bug
    if not dead or not bug.use or not bug.telegram_user_id:
        return
    items = list(OutboxItem.select().where(OutboxItem.id.in_(dead)).order_by(OutboxItem.id))
    context = {"items": [{"id": i.id, "entity": i.entity, "entity_id": i.entity_id,
                          "attempts": i.attempts, "error": (i.last_error or "")[:300]}
                         for i in items[:10]], "count": len(items)}
    with write_tx():
        queue_notice(app.engine.flowset.templates, bug.telegram_user_id, "sync/dead_letter",
                     context, key=f"sync-dead:{dead[0]}", priority=GROUP,
                     lang=app.settings.engine.default_language)
