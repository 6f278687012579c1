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

import functools
import json
import logging
import random
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import datetime

from engine.errors import IntegrationError
from engine.storage import is_database_error, write_tx
from helpdesk.notices import GROUP, queue_notice
from helpdesk.registry import EntitySpec, registry
from integrations.crm import Company
from integrations.crm import TradePoint as CrmTradePoint

from . import outbox
from .outbox import OutboxItem
from .sending import Batch, Skip, send_batch

__all__ = ["DrainReport", "Skip", "drain", "backoff_seconds", "BATCH"]

log = logging.getLogger(__name__)
registry.register_texts("dead letters", ("sync/dead_letter",))   # to the bug recipient


BATCH = 100                 # items per claim


PARENT_WAIT_SECONDS = 1.0   # an item whose parent is still queued is looked at again then


_BODY = "_body"             # payload key of the frozen body


_DATE_FIELDS = ("created_at", "closed_at", "paid_at")


def _to_json(record) -> dict:
    """The record as the frozen body's JSON: what `asdict` gives (nested records as dicts),
    its own dates in ISO form, without asdict's deep copy of every value (a copy the
    json.dumps right after never needs; it was ~5% of the drainer's CPU per item)."""
    return {k: v.isoformat() if isinstance(v, datetime) else _plain(v)
            for k, v in ((name, getattr(record, name)) for name in _names(type(record)))}


def _plain(value):
    if is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _names(type(value))}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@functools.lru_cache(maxsize=64)
def _names(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


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


def _waiting_parents(item: OutboxItem, spec: EntitySpec) -> set[int]:
    """Ids of the older pending/sending items of the item's parents (empty: it may go)."""
    ids: set[int] = set()
    for entity, entity_id in spec.parents(item):
        ids.update(i for (i,) in OutboxItem.select(OutboxItem.id).where(
            (OutboxItem.entity == entity) & (OutboxItem.entity_id == entity_id)
            & (OutboxItem.id < item.id)
            & OutboxItem.status.in_((outbox.PENDING, outbox.SENDING))).tuples())
    return ids


def _prepare(batch: Batch, items: list[OutboxItem], report: DrainReport) -> None:
    """In the caller's transaction: each item's record, frozen now on its first claim (the
    new bodies built a kind at a time, stored in one UPDATE); an item whose parent still
    waits goes back (at once when the parent is in this very batch: it is sent now, the
    child follows in the next claim, its body built after the parent's write-back); a
    database error is raised (the batch goes back untried), any other is the item's own."""
    in_batch = {i.id for i in items}
    fresh: list = []                     # (item, spec, payload) whose body is built now
    later, now = [], []
    for item in items:
        spec = registry.sync_entities.get(item.entity)
        try:
            if spec is None:
                raise IntegrationError("crm", f"no sync for outbox entity {item.entity!r}",
                                       retryable=False)
            payload = outbox.payload_of(item)
            if _BODY in payload:
                batch.ready.append((item, spec,
                                    spec.refresh(item, _from_json(spec.record, payload[_BODY]))))
            elif parents := _waiting_parents(item, spec):
                (now if parents <= in_batch else later).append(item.id)
            else:
                fresh.append((item, spec, payload))
        except Exception as e:  # noqa: BLE001 - one item's failure is recorded on it
            _not_ready(batch, item, e, report)
    frozen: dict[int, str] = {}
    for item, spec, payload, record in _build_all(fresh):
        if isinstance(record, BaseException):
            _not_ready(batch, item, record, report)
            continue
        frozen[item.id] = json.dumps(payload | {_BODY: _to_json(record)},
                                     ensure_ascii=False, default=str)
        batch.ready.append((item, spec, record))
    batch.ready.sort(key=lambda r: r[0].id)                       # oldest first
    outbox.freeze_many(frozen)
    outbox.release_many(later, delay=PARENT_WAIT_SECONDS)
    outbox.release_many(now)
    report.waiting += len(later)


def _build_all(fresh: list):
    """(item, spec, payload, record or the item's error): an entity with `build_many` in
    one call for the batch, the items it leaves out (and the other entities) one by one."""
    built: dict[int, object] = {}
    for spec in {spec.name: spec for _, spec, _ in fresh}.values():
        if spec.build_many is not None:
            try:
                built.update(spec.build_many([i for i, s, _ in fresh if s is spec]))
            except Exception as e:
                if is_database_error(e):
                    raise
    for item, spec, payload in fresh:
        if item.id in built:
            yield item, spec, payload, built[item.id]
            continue
        try:
            yield item, spec, payload, spec.build(item)
        except Exception as e:  # one item's failure is recorded on it
            if is_database_error(e):
                raise
            yield item, spec, payload, e


def _not_ready(batch: Batch, item: OutboxItem, error: BaseException,
               report: DrainReport) -> None:
    """An item whose body could not be had: Skip is done (nothing to send), a database
    error is raised (the batch goes back), any other failure is recorded after the batch."""
    if isinstance(error, Skip):
        outbox.mark_done(item.id, note=f"skipped: {error}")
        report.skipped += 1
    elif is_database_error(error):
        raise error
    else:
        batch.failed.append((item, error))


def _settle(app, batch: Batch, report: DrainReport) -> bool:
    """Write back every answer and mark the items done in one transaction; an answer one
    item cannot take (a conflicting id) rolls that back, and the items are then settled
    one by one, so the failure is that item's alone. True when the run should stop."""
    delivered, batch.delivered = batch.delivered, []
    if not delivered:
        return False
    try:
        with write_tx():
            _write_back_all(delivered)
            outbox.mark_done_many([item.id for item, _, _ in delivered])
    except Exception as e:  # noqa: BLE001 - sorted below
        if is_database_error(e):
            return _database_failed(app, [i for i, _, _ in delivered], e, report)
        return _settle_one_by_one(app, delivered, report)
    report.sent += len(delivered)
    return False


def _write_back_all(delivered: list) -> None:
    """Every answer stored: an entity with `write_back_many` in one call for the batch."""
    specs = {spec.name: spec for _, spec, _ in delivered}.values()
    for spec in specs:
        mine = [(item, answer) for item, s, answer in delivered if s is spec]
        if spec.write_back_many is not None:
            spec.write_back_many(mine)
        else:
            for item, answer in mine:
                spec.write_back(item, answer)


def _settle_one_by_one(app, delivered: list, report: DrainReport) -> bool:
    stop = False
    for n, (item, spec, answer) in enumerate(delivered):
        try:
            with write_tx():
                spec.write_back(item, answer)
                outbox.mark_done(item.id)
            report.sent += 1
        except Exception as e:  # noqa: BLE001 - one item's failure is recorded on it
            if is_database_error(e):
                return _database_failed(app, [i for i, _, _ in delivered[n:]], e, report)
            stop = _fail(app, item, e, report) or stop
    return stop


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


def _database_failed(app, items: list[OutboxItem], error: BaseException,
                     report: DrainReport) -> bool:
    """Our own database failed around the send (locked, gone): not the CRM's refusal, so
    the items are never dead for it. They go back untried, due after the backoff's first
    step (the CRM answers the same key and body once more); if even that write fails, their
    leases run out and the next drain takes them. The run stops: the database is in trouble."""
    text = f"{type(error).__name__}: {error}"[:500]
    for item in items:
        report.errors.append(f"item {item.id} ({item.entity} {item.entity_id}): database: {text}")
    log.warning("outbox: the database failed around the send of %d item(s) (first #%s), "
                "they are sent again later: %s", len(items), items[0].id if items else "-", text)
    try:
        with write_tx():
            outbox.release_many([i.id for i in items], delay=app.settings.sync.backoff_base_seconds)
        report.retried += len(items)
    except Exception:  # noqa: BLE001 - still failing: the lease returns the items
        log.warning("outbox: %d item(s) stay claimed until their lease runs out", len(items))
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
                report.stopped = "the CRM failed; the rest waits for the next run"
                break
    _report_dead(app, report.dead)
    return report


def _deliver_batch(app, crm, items: list[OutboxItem], report: DrainReport) -> bool:
    """One claimed batch: bodies frozen in one transaction, one HTTP call an item, the
    answers written back and marked in one transaction, then the failures recorded and
    what was not tried given back. True when the run should stop."""
    batch = Batch()
    try:
        with write_tx():
            _prepare(batch, items, report)
    except Exception as e:  # only the database's own failure is ours to handle here
        if not is_database_error(e):
            raise
        return _database_failed(app, items, e, report)
    if not any(isinstance(e, IntegrationError) and e.retryable for _, e in batch.failed):
        stop = send_batch(crm, batch, lambda: _settle(app, batch, report),
                          app.settings.sync.senders)
    else:
        batch.untried += [item.id for item, _, _ in batch.ready]
        stop = False
    for item, e in batch.skipped:
        with write_tx():
            outbox.mark_done(item.id, note=f"skipped: {e}")
        report.skipped += 1
    for item, e in batch.failed:
        if is_database_error(e):
            stop = _database_failed(app, [item], e, report)
        else:
            stop = _fail(app, item, e, report) or stop
    if batch.untried:                   # no empty transaction (SQLite's write lock) a batch
        with write_tx():
            outbox.release_many(batch.untried)
    return stop


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
