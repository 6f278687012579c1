"""Two-way CRM sync, the bot's side: drain the outbox to the CRM, pull the CRM's changes.

Drain (`drain(app)`, job `sync_outbox`, `python run.py sync run`):
- items are claimed oldest first (helpdesk.outbox.claim: per-entity ordering, FOR UPDATE
  SKIP LOCKED on PostgreSQL) with a short lease (`sync.lease_seconds`) that this process
  renews while it works; claims of a dead process on this host are freed at the start of
  each drain, a dead holder elsewhere loses them when its lease runs out; an item whose parent (a ticket's counterparty ...) still has
  an older item waiting is given back untried, so a ticket never reaches the CRM before its
  company;
- on its first claim an item's body is built from the current rows and frozen into its
  payload: every retry sends the same body under the same idempotency key (a CRM applies
  a key once and refuses the same key with another body);
- success writes the CRM's id (and a ticket's number) back and marks the item done in one
  transaction; a retryable failure reschedules it with exponential backoff and jitter (a
  CRM's Retry-After is honoured) and stops the run (the CRM is in trouble: the rest wait,
  untried); a refusal or `sync.max_attempts` failures make it dead, reported to the
  notify.bug user;
- with `crm.kind: none` nothing is claimed: items stay pending (the REST API's change feed
  serves them all the same), `sync status` says how many wait, and a CRM configured later
  gets each of them once, oldest first.

Reconcile (`reconcile(app)`, job `sync_reconcile`): pull `changes_since(cursor)`, apply each
change with the same functions the REST API uses (helpdesk.api.apply), store the cursor in
`sync_state` in the same transaction as the page. See docs/sync.md.
"""
from __future__ import annotations

import json
import logging
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import peewee as pw

from engine import notify, storage
from engine.errors import BotError, IntegrationError
from engine.events import Reply
from engine.storage import Table, write_tx
from helpdesk import outbox
from helpdesk.directory.tables import CONFIRMED, ContactPerson, Counterparty, Membership, TradePoint, utcnow
from helpdesk.outbox import OutboxItem
from helpdesk.registry import EntitySpec, registry
from integrations.crm import Company, ContactData, CrmClient, PaymentData, TicketData
from integrations.crm import TradePoint as CrmTradePoint

__all__ = ["EntitySpec", "SyncState", "DrainReport",
           "drain", "reconcile", "backoff_seconds", "queue_status",
           "status", "run_once", "BATCH", "Skip"]

log = logging.getLogger(__name__)

BATCH = 100                 # items per claim
PARENT_WAIT_SECONDS = 1.0   # an item whose parent is still queued is looked at again then
_BODY = "_body"             # payload key of the frozen body


class Skip(BotError):
    """Nothing to send for this item (its row is gone, or the CRM has no such call)."""


class SyncState(Table):
    """Small named values the sync keeps (the CRM change-feed cursor)."""
    name = pw.CharField(max_length=64, primary_key=True)
    value = pw.TextField(null=True)
    updated = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "sync_state"


# ---- records: rows -> integrations.crm dataclasses ------------------------------------------

def _row(model, item: OutboxItem):
    row = model.get_or_none(model.id == item.entity_id)
    if row is None:
        raise Skip(f"{item.entity} {item.entity_id} no longer exists")
    return row


def _company(cp: Counterparty) -> Company:
    points = [CrmTradePoint(t.crm_id, t.name, t.address or "")
              for t in cp.trade_points.order_by(TradePoint.id)]
    return Company(name=cp.name, inn=cp.inn, kpp=cp.kpp or "", ogrn=cp.ogrn or "",
                   address=cp.legal_address or "", crm_id=cp.crm_id, trade_points=points)


def _set_crm_id(model, row_id: int, crm_id: str | None) -> None:
    """Store the CRM's id; one already taken by another row is a conflict the operator sees."""
    if not crm_id:
        return
    owner = model.get_or_none(model.crm_id == crm_id)
    if owner is not None and owner.id != row_id:
        raise IntegrationError("crm", f"crm id {crm_id} already belongs to "
                                      f"{model.__name__} {owner.id}", retryable=False)
    model.update(crm_id=crm_id).where(model.id == row_id).execute()


def _trade_point_parents(item: OutboxItem) -> list[tuple[str, int]]:
    tp = TradePoint.get_or_none(TradePoint.id == item.entity_id)
    return [("counterparty", tp.counterparty_id)] if tp else []


def _contact_parents(item: OutboxItem) -> list[tuple[str, int]]:
    c = ContactPerson.get_or_none(ContactPerson.id == item.entity_id)
    return [("counterparty", c.counterparty_id)] if c else []


@registry.sync_entity(
    "counterparty", Company,
    send=lambda crm, rec, key: crm.upsert_counterparty(rec, idempotency_key=key),
    write_back=lambda item, crm_id: _set_crm_id(Counterparty, item.entity_id, crm_id))
def _counterparty(item: OutboxItem) -> Company:
    return _company(_row(Counterparty, item))


@registry.sync_entity(
    "trade_point", Company,
    send=lambda crm, rec, key: crm.upsert_counterparty(rec, idempotency_key=key),
    parents=_trade_point_parents)
def _trade_point_company(item: OutboxItem) -> Company:
    return _company(_row(TradePoint, item).counterparty)


@registry.sync_entity(
    "contact", ContactData,
    send=lambda crm, rec, key: crm.upsert_contact(rec, idempotency_key=key),
    parents=_contact_parents,
    write_back=lambda item, crm_id: _set_crm_id(ContactPerson, item.entity_id, crm_id))
def _contact(item: OutboxItem) -> ContactData:
    c = _row(ContactPerson, item)
    return ContactData(full_name=c.full_name, phone=c.phone or "",
                       company_crm_id=c.counterparty.crm_id, post=c.position or "",
                       role=c.role, crm_id=c.crm_id)


def _ticket_model():
    from helpdesk.tickets import Ticket
    return Ticket


def _author_crm_id(ticket) -> str | None:
    if ticket.counterparty_id is None:
        return None
    m = (Membership.select(Membership, ContactPerson).join(ContactPerson)
         .where((Membership.telegram_user == ticket.author_id)
                & (Membership.counterparty == ticket.counterparty_id)
                & (Membership.status == CONFIRMED)).first())     # an unproven link is nobody
    return m.contact.crm_id if m else None


def _ticket_parents(item: OutboxItem) -> list[tuple[str, int]]:
    t = _ticket_model().get_or_none(_ticket_model().id == item.entity_id)
    return [("counterparty", t.counterparty_id)] if t and t.counterparty_id else []


def _ticket_write_back(item: OutboxItem, answer) -> None:
    if not answer:
        return
    crm_id, number = answer
    Ticket = _ticket_model()
    _set_crm_id(Ticket, item.entity_id, crm_id)
    if number:   # the CRM's number users see; not a change of the ticket's content
        Ticket.update(crm_number=number).where(Ticket.id == item.entity_id).execute()


@registry.sync_entity(
    "ticket", TicketData,
    send=lambda crm, rec, key: crm.upsert_ticket(rec, idempotency_key=key),
    parents=_ticket_parents, write_back=_ticket_write_back)
def _ticket(item: OutboxItem) -> TicketData:
    t = _row(_ticket_model(), item)
    cp, tp = t.counterparty, t.trade_point
    return TicketData(
        description=t.description, company_crm_id=cp.crm_id if cp else None,
        trade_point_crm_id=tp.crm_id if tp else None, author_crm_id=_author_crm_id(t),
        crm_id=t.crm_id, number=t.crm_number, status=t.status, type=None,
        comment=outbox.payload_of(item).get("comment") or "", created_at=t.created,
        closed_at=t.closed)


def _payment_model():
    from helpdesk.payments.tables import Payment
    return Payment


def _payment_parents(item: OutboxItem) -> list[tuple[str, int]]:
    p = _payment_model().get_or_none(_payment_model().id == item.entity_id)
    ids = [("counterparty", p.counterparty_id), ("ticket", p.ticket_id)] if p else []
    return [(e, i) for e, i in ids if i is not None]


@registry.sync_entity(
    "payment", PaymentData,
    send=lambda crm, rec, key: crm.report_payment(rec, idempotency_key=key),
    parents=_payment_parents)
def _payment(item: OutboxItem) -> PaymentData:
    """A recorded payment (helpdesk.payments.Payment), reported once: the reference is
    Telegram's charge id, the ticket's number is the CRM's when it has one."""
    p = _row(_payment_model(), item)
    t, cp = p.ticket, p.counterparty
    return PaymentData(
        amount_kopecks=p.amount, company_crm_id=cp.crm_id if cp else None,
        paid_at=p.paid_at or p.created, ticket_number=(t.crm_number or str(t.number)) if t else None,
        ticket_crm_id=t.crm_id if t else None, reference=p.telegram_payment_charge_id or "",
        method=p.method, comment=p.note or "")


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


# ---- drain --------------------------------------------------------------------------------

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
        return _from_json(spec.record, payload[_BODY])
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
        return _fail(app, item, e, report)
    return False


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
    text = _render(app, "sync/dead_letter",
                   {"items": [{"id": i.id, "entity": i.entity, "entity_id": i.entity_id,
                               "attempts": i.attempts, "error": (i.last_error or "")[:300]}
                              for i in items[:10]], "count": len(items)})
    with write_tx():
        notify.enqueue(Reply(bug.telegram_user_id, text), key=f"sync-dead:{dead[0]}",
                       priority=3)


def _render(app, template: str, context: dict) -> str:
    return app.engine.flowset.templates.render(template, app.settings.engine.default_language, context)


# ---- reconcile ----------------------------------------------------------------------------

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


# ---- jobs and CLI -------------------------------------------------------------------------

@registry.job("sync_outbox", every=lambda s: s.sync.interval_seconds, at_start=True)
def sync_outbox(app) -> DrainReport:
    """At start too: a restarted process frees its dead predecessor's claims (drain ->
    release_orphans) and delivers them at once, not one interval later."""
    return drain(app)


@registry.job("sync_reconcile", every=lambda s: s.sync.reconcile_seconds)
def sync_reconcile(app) -> dict[str, Any]:
    return reconcile(app)


def queue_status(crm_kind: str | None = None) -> dict[str, Any]:
    """Counts by status and entity, the oldest pending item, dead items with their error;
    `crm` is the configured kind (None: not asked), `waiting` the items not yet delivered."""
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
            "dead": [_item_json(d) for d in dead], "cursor": cursor()}


def _item_json(item: OutboxItem) -> dict:
    return {"id": item.id, "entity": item.entity, "entity_id": item.entity_id,
            "op": item.op, "status": item.status, "attempts": item.attempts,
            "created_at": item.created_at.isoformat(sep=" ", timespec="seconds"),
            "next_at": item.next_at.isoformat(sep=" ", timespec="seconds"),
            "last_error": item.last_error}


NO_CRM = ("no CRM is configured (crm.kind: none): {n} item(s) wait in the outbox; "
          "set crm.kind and crm.url and they are delivered, each once")


def _print_status(data: dict) -> None:
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


def _connect(settings) -> None:
    from helpdesk import schema
    storage.connect(settings.database.url)
    schema.init()


def status(settings, args) -> int:
    """`python run.py sync status`."""
    _connect(settings)
    _print_status(queue_status(settings.crm.kind))
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
