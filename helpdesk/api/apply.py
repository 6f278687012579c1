"""CRM -> bot writes, shared by the REST API (/api/v1 and the 1C /api paths) and the
reconcile job: one function per kind of change, each in one `write_tx()` (nothing is
half-written), each idempotent (the same call twice leaves the same rows, and records
nothing the second time).

Rules:
- Records are matched by the CRM's id first, then by their natural key (INN, the
  counterparty's trade point name, the contact's phone or name): the directory services'
  upserts.
- A contact the CRM lists proves the link of a Telegram user whose *proven* phone it has:
  their unverified or pending membership becomes confirmed with the CRM's role
  (`registration.confirm_listed`, called for every counterparty a write touched). Nothing
  else confirms anybody: a company or its other people arriving change no link.
- A balance from the CRM is absolute: it replaces the stored value, never adds to it, so a
  repeated or replayed message cannot count money twice.
- A ticket's CRM id and number go through helpdesk.sync.identity.link_ticket: the id is
  set once (another one for a linked ticket is refused, 409), a new or changed number is
  a `numbered` event in the ticket's history.
- Ticket changes go through `TicketService.crm_update` (history event "crm",
  notifications, no outbox echo back to the CRM). Fields equal to the stored ones are
  dropped first, so a re-sent ticket changes nothing and notifies nobody.
- Conflicts (reconcile): the newer version wins by updated time; the loser's values are
  recorded in the ticket's history as a TicketEvent `conflict` (docs/sync.md).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import peewee as pw
from pydantic import BaseModel, ValidationError

from engine.errors import BotError
from engine.storage import write_tx
from helpdesk import directory
from helpdesk.directory.roles import role_from_post
from helpdesk.directory.tables import ContactPerson, Counterparty, Membership, TradePoint, utcnow
from helpdesk.sync import identity, outbox

from . import schemas

__all__ = ["ApplyError", "NotFound", "counterparty", "trade_point", "contact",
           "set_balance", "ticket_by_crm_id", "ticket_by_number", "patch_ticket",
           "apply_change", "tickets_service", "crm_note", "CONFLICT_EVENT", "IdentityConflict"]

log = logging.getLogger(__name__)
CONFLICT_EVENT = "conflict"


class ApplyError(BotError, ValueError):
    """A CRM change that cannot be applied; `field` names the value at fault."""

    status = 422

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class NotFound(ApplyError):
    status = 404


def _counterparty_by_crm_id(crm_id: str, field: str = "counterparty_id") -> Counterparty:
    found = Counterparty.get_or_none(Counterparty.crm_id == crm_id)
    if found is None:
        raise NotFound(field, f"no counterparty with crm id {crm_id!r}")
    return found


def counterparty(crm_id: str, data: schemas.CounterpartyIn) -> Counterparty:
    """Upsert a counterparty and the trade points it lists."""
    with write_tx():
        cp, _ = directory.upsert_counterparty(
            inn=data.inn, name=data.name, kpp=data.kpp, ogrn=data.ogrn,
            legal_address=data.address, crm_id=crm_id, balance=data.balance_kopecks)
        for tp in data.trade_points or []:
            directory.upsert_trade_point(cp, name=tp.name, address=tp.address, crm_id=tp.id)
        _confirm_listed([cp.id])
    return Counterparty.get_by_id(cp.id)


def _confirm_listed(counterparty_ids) -> None:
    from helpdesk import registration  # registration imports the CRM client stack
    registration.confirm_listed(counterparty_ids)


def trade_point(crm_id: str, data: schemas.TradePointUpsert) -> TradePoint:
    with write_tx():
        cp = _counterparty_by_crm_id(data.counterparty_id)
        tp, _ = directory.upsert_trade_point(cp, name=data.name, address=data.address,
                                             crm_id=crm_id)
    return TradePoint.get_by_id(tp.id)


def contact(crm_id: str, data: schemas.ContactIn, post_rules=None) -> ContactPerson:
    """Upsert a contact; the role from `role`, else from `post` (role_from_post). The
    memberships of Telegram users linked to this contact take the new role too."""
    role = data.role or role_from_post(data.post, post_rules).name
    with write_tx():
        cp = _counterparty_by_crm_id(data.counterparty_id)
        tp = _trade_point_of(cp, data.trade_point_id)
        c, _ = directory.upsert_contact(cp, full_name=data.full_name, phone=data.phone,
                                        position=data.post, role=role, trade_point=tp,
                                        crm_id=crm_id)
        (Membership.update(role=role)
         .where((Membership.contact == c.id) & (Membership.counterparty == cp.id)
                & (Membership.role != role)).execute())
        _confirm_listed([cp.id])
    return ContactPerson.get_by_id(c.id)


def _trade_point_of(cp: Counterparty, crm_id: str | None) -> TradePoint | None:
    if crm_id is None:
        return None
    tp = TradePoint.get_or_none((TradePoint.crm_id == crm_id) & (TradePoint.counterparty == cp.id))
    if tp is None:
        raise NotFound("trade_point_id", f"no trade point {crm_id!r} of this counterparty")
    return tp


def set_balance(cp: Counterparty, kopecks: int) -> Counterparty:
    """Set the absolute balance (a repeat sets the same value: nothing is counted twice)."""
    with write_tx():
        (Counterparty.update(balance=int(kopecks), updated=utcnow())
         .where((Counterparty.id == cp.id) & (Counterparty.balance != int(kopecks))).execute())
    return Counterparty.get_by_id(cp.id)


# ---- tickets ----------------------------------------------------------------------------

def tickets_service(app):
    """The app's TicketService (with its notifier), else a bare one (no app: a change
    applied outside a running bot notifies nobody)."""
    if app is not None:
        return app.services.tickets
    from helpdesk.tickets import TicketService
    return TicketService(None)


def _ticket_model():
    from helpdesk.tickets import Ticket
    return Ticket


def ticket_by_crm_id(crm_id: str):
    Ticket = _ticket_model()
    found = Ticket.get_or_none(Ticket.crm_id == crm_id)
    if found is None:
        raise NotFound("crm_id", f"no ticket with crm id {crm_id!r}")
    return found


def ticket_by_number(number: int):
    Ticket = _ticket_model()
    found = Ticket.get_or_none(Ticket.number == int(number))
    if found is None:
        raise NotFound("number", f"no ticket number {number}")
    return found


class IdentityConflict(ApplyError):
    """The CRM names a linked ticket by another id (helpdesk.sync.identity): refused."""
    status = 409


def _changed_fields(ticket, patch: schemas.TicketPatch, *, ids: bool = True) -> dict[str, Any]:
    wanted = {"status": patch.status, "master_name": patch.master}
    if ids:
        wanted |= {"crm_id": patch.crm_id, "crm_number": patch.crm_number}
    return {k: v for k, v in wanted.items() if v is not None and getattr(ticket, k) != v}


def _link(app, ticket, patch: schemas.TicketPatch) -> None:
    """The ticket's CRM id and number by the identity rule: set once, a number change in
    the history, another id for a linked ticket refused (409)."""
    try:
        identity.link_ticket(ticket.id, patch.crm_id, patch.crm_number, tickets_service(app))
    except identity.IdentityConflict as e:
        raise IdentityConflict("crm_id", str(e)) from None


def patch_ticket(app, ticket, patch: schemas.TicketPatch):
    """Apply the CRM's change of a ticket in one transaction; TicketConflict when
    `patch.version` is older than the ticket."""
    from helpdesk.tickets import TicketConflict
    with write_tx():
        if patch.version is not None and patch.version != ticket.version:
            raise TicketConflict(ticket)
        _link(app, ticket, patch)
        changes = _changed_fields(ticket, patch, ids=False)
        if changes:
            ticket = tickets_service(app).crm_update(ticket.id, **changes)
        if patch.comment:
            _crm_comment(app, ticket, patch.comment)
        if patch.payment_required:
            _require_payment(app, ticket, patch.payment_required.amount_kopecks)
    return _ticket_model().get_by_id(ticket.id)


def _crm_comment(app, ticket, text: str) -> None:
    """The CRM's comment goes through TicketService.crm_comment (history, author notified),
    once: the same text as the CRM's last comment is a repeat and records nothing."""
    from helpdesk.tickets import TicketEvent
    seen = (TicketEvent.select().where((TicketEvent.ticket == ticket.id)
                                       & (TicketEvent.source == "crm")
                                       & (TicketEvent.what == "comment"))
            .order_by(TicketEvent.id.desc()).first())
    if seen is None or seen.details.get("text") != text:
        tickets_service(app).crm_comment(ticket.id, text)


_NOTE_SEEN = 50     # events of a ticket a CRM note is compared with (its recent history)


def crm_note(app, ticket, kind: str, text: str) -> bool:
    """1C's comment or decision on a ticket (`kind` "note" / "decision"): recorded and the
    author told (TicketService.crm_comment), unless it is a repeat: the same as the last
    one of its kind (1C re-sends its task whole), or a text the bot itself wrote into the
    ticket's recent history (1C echoes back what the bot sent it). True when recorded."""
    from helpdesk.tickets import TicketEvent
    recent = list(TicketEvent.select().where((TicketEvent.ticket == ticket.id)
                                             & TicketEvent.what.in_(("comment", "added")))
                  .order_by(TicketEvent.id.desc()).limit(_NOTE_SEEN))
    same_kind = [e for e in recent if e.source == "crm" and (e.details or {}).get("kind") == kind]
    if same_kind and same_kind[0].details.get("text") == text:
        return False
    if any(e.source != "crm" and (e.details or {}).get("text") == text for e in recent):
        return False
    tickets_service(app).crm_comment(ticket.id, text, kind)
    return True


def _require_payment(app, ticket, amount: int) -> None:
    from helpdesk import payments
    payments.require_payment(app, ticket.id, amount, "crm")


# ---- the CRM change feed (reconcile) -----------------------------------------------------

def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _at(change: dict) -> datetime | None:
    try:
        return _aware(datetime.fromisoformat(str(change.get("at"))))
    except ValueError:
        return None


def _validated(model: type[BaseModel], data: Any) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        raise ApplyError(".".join(str(p) for p in first["loc"]) or "data", first["msg"]) from e


def _pending_local(ticket) -> bool:
    return outbox.OutboxItem.select().where(
        (outbox.OutboxItem.entity == "ticket") & (outbox.OutboxItem.entity_id == ticket.id)
        & outbox.OutboxItem.status.in_((outbox.PENDING, outbox.SENDING))).exists()


def _conflict(ticket, winner: str, lost: dict, at: datetime | None) -> None:
    from helpdesk.tickets import TicketEvent
    TicketEvent.create(ticket=ticket.id, who="crm", source="crm", what=CONFLICT_EVENT,
                       details={"winner": winner, "lost": {k: str(v) for k, v in lost.items()},
                                "crm_at": at.isoformat() if at else None})


def _ticket_change(app, crm_id: str, data: dict, at: datetime | None) -> str:
    """The newer version wins by updated time. A CRM change older than the ticket's last
    change is not applied (the CRM gets the bot's version again); a CRM change that
    overwrites a local change not yet sent wins and is sent back. Either way the losing
    values go into the ticket's history as a `conflict` event."""
    try:
        ticket = ticket_by_crm_id(crm_id)
    except NotFound:
        return "unknown_ticket"   # created in the CRM: tickets are created in the bot
    patch = _validated(schemas.TicketPatch, _ticket_fields(data))
    changes = _changed_fields(ticket, patch)
    if not changes:
        return "unchanged"
    pending = _pending_local(ticket)
    with write_tx():
        if at is not None and _aware(ticket.updated) > at:
            _conflict(ticket, "bot", changes, at)
            if not pending:
                outbox.push("ticket", ticket.id)
            return "conflict_bot_won"
        old = {k: getattr(ticket, k) for k in changes}
        ticket = patch_ticket(app, ticket, patch)
        if pending:
            _conflict(ticket, "crm", old, at)
            outbox.push("ticket", ticket.id)
            return "conflict_crm_won"
    return "ticket"


def _ticket_fields(data: dict) -> dict:
    """The contract's Ticket JSON as a TicketPatch (master is a name here)."""
    return {"status": data.get("status"), "master": data.get("master") or None,
            "crm_number": data.get("number") or None}


def _balance_change(crm_id: str, data: dict) -> str:
    body = _validated(schemas.BalanceIn, data)
    set_balance(_counterparty_by_crm_id(crm_id, "id"), body.balance_kopecks)
    return "balance"


def apply_change(change: Any, settings, app=None) -> str:
    """Apply one item of the CRM's change feed; returns what it was (for the job's counts).
    A change that cannot be applied is logged and counted, never blocks the feed."""
    try:
        return _apply(change, settings, app)
    except (ApplyError, BotError, pw.IntegrityError) as e:
        log.warning("CRM change not applied (%s): %s", _describe(change), e)
        return "refused"


def _describe(change: Any) -> str:
    if not isinstance(change, dict):
        return f"not an object: {str(change)[:60]!r}"
    return f"{change.get('entity')} {str(change.get('id'))[:64]!r} {change.get('op')}"


def _apply(change: Any, settings, app) -> str:
    if not isinstance(change, dict) or not isinstance(change.get("data", {}), dict):
        raise ApplyError("change", "not an object with an object `data`")
    entity, crm_id, data = change.get("entity"), str(change.get("id") or ""), change.get("data") or {}
    if not crm_id or change.get("op", "upsert") != "upsert":
        return "ignored"
    post_rules = settings.crm.post_roles if settings is not None else None
    with write_tx():
        if entity == "counterparty":
            counterparty(crm_id, _validated(schemas.CounterpartyIn, data))
        elif entity == "trade_point":
            trade_point(crm_id, _validated(schemas.TradePointUpsert, data))
        elif entity == "contact":
            contact(crm_id, _validated(schemas.ContactIn, data), post_rules)
        elif entity == "balance":
            return _balance_change(crm_id, data)
        elif entity == "ticket":
            return _ticket_change(app, crm_id, data, _at(change))
        else:
            return "ignored"
    return str(entity)
