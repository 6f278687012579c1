"""TicketService: every ticket operation every dialog, callback, API handler and sync job
goes through.

A ticket is saved locally first, in one `write_tx()` with its history event, the CRM outbox
row and its notifications: a CRM outage or a crash never loses one. Every operation checks
rights itself (`helpdesk.directory.roles` / `directory.access_in`), whatever the dialog
showed; ids arriving in callback data or slots are trusted for nothing.

Concurrency: every change increments `version`. Changes are conditional UPDATEs
(`WHERE id = ? AND version = ?`, plus a status condition), so an edit of a ticket that the
CRM, a technician or another user changed (or closed) meanwhile fails with `TicketConflict`
carrying the current ticket instead of overwriting it. The change that closes a ticket (any
path: client, administrator, technician, CRM/API) also cancels its open payment requests,
in the same transaction (helpdesk.payments).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

import peewee as pw

from engine.ids import parse_id
from engine.storage import db, write_tx
from helpdesk import directory
from helpdesk.directory.roles import PermissionDenied, Right
from helpdesk.directory.tables import TelegramUser, TradePoint, utcnow
from helpdesk.sync import outbox, references

from . import history, rights
from .checks import (
    COMMENT_MAX,
    DESCRIPTION_MAX,
    DESCRIPTION_MIN,
    REASON_MAX,
    REASON_MIN,
    clean_files,
    clean_text,
    similarity,
)
from .crm_created import CrmCreated
from .errors import NotTechnician, TicketConflict, TicketError, TicketInputError, TicketNotFound
from .states import WORKED_ON, client_may_close, closes, reopen_status, reopenable
from .tables import (
    ACTIVE,
    CANCELLED,
    CLOSED_STATUSES,
    DONE,
    IN_PROGRESS,
    NEW,
    STATUSES,
    WAITING,
    Ticket,
    TicketEvent,
)

__all__ = ["TicketService", "Actor"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who changes a ticket: a Telegram user (client or technician) or the CRM."""
    who: str
    source: str = "bot"
    user_id: int | None = None
    name: str = ""


def _user_actor(user_id: int) -> Actor:
    name = directory.display_name(TelegramUser.get_or_none(TelegramUser.id == int(user_id)))
    return Actor(str(user_id), "bot", int(user_id), name)


class TicketService(CrmCreated):
    """Every ticket operation, with its rights check, history event, CRM outbox row and
    notifications in one transaction. `settings`: tickets.*, notify.*; `notifier`: a
    `helpdesk.notifications.Notifier` or None (then nothing is notified)."""

    def __init__(self, settings, notifier=None, clock: Callable = utcnow):
        self.settings, self.notifier, self.clock = settings, notifier, clock

    # -- reading -------------------------------------------------------------------------
    def get(self, user_id: int, ticket_id) -> Ticket:
        """The ticket if `user_id` may view it; TicketNotFound or PermissionDenied otherwise."""
        ticket = self._load(ticket_id)
        self.require(user_id, ticket, "view")
        return ticket

    def events(self, ticket: Ticket, limit: int = 5) -> list[TicketEvent]:
        """The latest events, newest last (not the desk's internal notes: the staff's own)."""
        rows = list(ticket.events.where(TicketEvent.what != "note").order_by(TicketEvent.at.desc(), TicketEvent.id.desc()).limit(limit))
        return rows[::-1]

    def visible(self, user_id: int, *, page: int = 0, page_size: int | None = None,
                closed: bool = False) -> tuple[list[Ticket], int]:
        """The tickets "My tickets" shows: (one page, total count), newest first. Active ones
        only: the user's own and, for a confirmed ADMINISTRATOR or DIRECTOR, the company's.
        `closed`: "Closed tickets", closed or cancelled in the last tickets.closed_days days
        (own; the company's for a DIRECTOR), latest closed first."""
        size = page_size or self.settings.tickets.page_size
        if closed:
            since = self.clock() - timedelta(days=self.settings.tickets.closed_days)
            query = Ticket.select().where(rights.closed_condition(user_id, since))
            order = (Ticket.closed.desc(), Ticket.id.desc())
        else:
            query = Ticket.select().where(rights.visible_condition(user_id))
            order = (Ticket.created.desc(), Ticket.id.desc())
        total = query.count()
        rows = list(query.order_by(*order).offset(max(0, int(page)) * size).limit(size))
        return rows, total

    # -- rights (helpdesk.tickets.rights) ---------------------------------------------------
    def allowed(self, user_id: int, ticket: Ticket, action: str) -> bool:
        """Whether `user_id` may do `action` (ACTIONS) to `ticket`, ignoring its status."""
        return rights.allowed(self.settings, user_id, ticket, action)

    def require(self, user_id: int, ticket: Ticket, action: str) -> None:
        rights.require(self.settings, user_id, ticket, action)

    def is_technician(self, user_id: int) -> bool:
        return rights.is_technician(self.settings, user_id)

    def buttons_for(self, user_id: int, ticket: Ticket) -> dict[str, bool]:
        """What the card offers: {edit, cancel, close, reopen} (the services check again).
        Close ("the work is done") only while someone works on it (states.client_may_close);
        reopen while the ticket is within tickets.reopen_days of closing."""
        offered = {a: ticket.active and self.allowed(user_id, ticket, a) for a in ("edit", "cancel")}
        offered["close"] = client_may_close(ticket.status) and self.allowed(user_id, ticket, "close")
        offered["reopen"] = self.may_reopen(ticket) and self.allowed(user_id, ticket, "reopen")
        return offered

    def may_reopen(self, ticket: Ticket) -> bool:
        """Closed or cancelled at most tickets.reopen_days ago (states.reopenable)."""
        return reopenable(ticket.status, ticket.closed, self.clock(), self.settings.tickets.reopen_days)

    # -- creating ------------------------------------------------------------------------
    def create(self, user_id: int, *, type: str, description: str, counterparty_id=None,
               trade_point_id=None, attachments=(), contact_name: str | None = None,
               contact_phone: str | None = None, draft_key: str | None = None) -> tuple[Ticket, bool]:
        """File a ticket; (ticket, created). The same `draft_key` gives the same ticket."""
        if draft_key and (found := Ticket.get_or_none(Ticket.draft_key == draft_key)):
            if found.author_id != int(user_id):
                raise TicketInputError(f"draft key {draft_key[:12]} belongs to another author")
            return found, False
        values = self._new_values(user_id, type, description, counterparty_id, trade_point_id,
                                  attachments, contact_name, contact_phone)
        with write_tx():
            ticket = self._insert(dict(values, draft_key=draft_key or None))
            if ticket is None:                                   # the same draft won a race
                return Ticket.get(Ticket.draft_key == draft_key), False
            history.record(ticket, _user_actor(user_id), "created", {"type": ticket.type}, self.clock())
            outbox.push("ticket", ticket.id)
            self._notify(ticket, "created", _user_actor(user_id))
        log.info("ticket %s (#%s) created by %s", ticket.id, ticket.number, user_id)
        return ticket, True

    def _new_values(self, user_id, type, description, counterparty_id, trade_point_id,
                    attachments, contact_name, contact_phone) -> dict:
        author = directory.get_user(user_id)
        cp, tp = self._where(user_id, counterparty_id, trade_point_id)
        phone = contact_phone or author.phone or author.unverified_phone
        if cp is None and not phone:
            raise TicketInputError("a ticket without a counterparty needs a contact phone",
                                   template="ticket/need_phone")
        return dict(author=author.id, counterparty=cp, trade_point=tp, type=self._type(type),
                    description=clean_text(description, DESCRIPTION_MIN, DESCRIPTION_MAX, "description"),
                    attachments=clean_files(attachments),
                    contact_name=(contact_name or (author.full_name if cp is None else None) or None),
                    contact_phone=phone if cp is None else (contact_phone or None))

    def _where(self, user_id, counterparty_id, trade_point_id) -> tuple[int | None, int | None]:
        if counterparty_id in (None, ""):
            if trade_point_id not in (None, ""):
                raise TicketInputError("a trade point needs its counterparty")
            return None, None
        directory.access_in(user_id, int(counterparty_id)).require(Right.TICKET_ON_BEHALF_OF_COMPANY)
        if trade_point_id in (None, ""):
            return int(counterparty_id), None
        tp = TradePoint.get_or_none(TradePoint.id == int(trade_point_id))
        if tp is None or tp.counterparty_id != int(counterparty_id):
            raise PermissionDenied(Right.TICKET_ON_BEHALF_OF_COMPANY, who=user_id,
                                   counterparty=counterparty_id, reason=f"trade point {trade_point_id}")
        return int(counterparty_id), tp.id

    def _type(self, value: str) -> str:
        """One of the types offered: 1C's task types once read, else settings tickets.types."""
        if str(value) not in references.ticket_types(self.settings):
            raise TicketInputError(f"ticket type {str(value)[:50]!r} is not one offered "
                                   "(1C's task types, else settings tickets.types)",
                                   template="ticket/bad_type")
        return str(value)

    def _insert(self, values: dict) -> Ticket | None:
        """Insert with the next number; retries a number taken concurrently (PostgreSQL)."""
        for _ in range(5):
            number = (Ticket.select(pw.fn.MAX(Ticket.number)).scalar() or 0) + 1
            try:
                with db.atomic():
                    return Ticket.create(number=number, **values)
            except pw.IntegrityError:
                if values.get("draft_key") and Ticket.get_or_none(Ticket.draft_key == values["draft_key"]):
                    return None
        raise TicketError("could not allocate a ticket number after 5 attempts")

    # -- duplicates ----------------------------------------------------------------------
    def duplicates(self, user_id: int, *, counterparty_id, trade_point_id, description: str) -> list[Ticket]:
        """Open tickets of the same counterparty and trade point (or, without a company, of
        the same author) in the last tickets.duplicate_window_hours whose description is
        at least tickets.duplicate_similarity alike; most similar first. Colleagues' tickets
        count only for whom the company's new tickets are told anyway (COMPANY_NOTIFICATIONS:
        a confirmed member); for anyone else, an unverified member say, "#12 already exists"
        would tell of a colleague's ticket and "add to #12" let him write into it."""
        t = self.settings.tickets
        since = self.clock() - timedelta(hours=t.duplicate_window_hours)
        query = Ticket.select().where(Ticket.status.in_(ACTIVE) & (Ticket.created >= since))
        if counterparty_id:
            point = (Ticket.trade_point == int(trade_point_id)) if trade_point_id \
                else Ticket.trade_point.is_null()
            query = query.where((Ticket.counterparty == int(counterparty_id)) & point)
            if not directory.access_in(user_id, int(counterparty_id)).can(Right.COMPANY_NOTIFICATIONS):
                query = query.where(Ticket.author == user_id)
        else:
            query = query.where(Ticket.counterparty.is_null() & (Ticket.author == user_id))
        scored = [(similarity(description, x.description), x) for x in query]
        return [x for score, x in sorted(scored, key=lambda p: -p[0]) if score >= t.duplicate_similarity]

    def add_to(self, user_id: int, ticket_id, text: str) -> Ticket:
        """"Add to #123": the new description becomes a comment of an open duplicate. The
        user must be its author, or a confirmed member of its company (one `duplicates`
        would have shown it to)."""
        text = clean_text(text, 1, DESCRIPTION_MAX, "comment")
        ticket = self._load(ticket_id)
        if ticket.author_id != user_id:
            if ticket.counterparty_id is None:
                raise PermissionDenied(Right.TICKET_ON_BEHALF_OF_COMPANY, who=user_id, reason="add to")
            access = directory.access_in(user_id, ticket.counterparty_id)
            access.require(Right.COMPANY_NOTIFICATIONS)
            access.require(Right.TICKET_ON_BEHALF_OF_COMPANY)
        return self._change(ticket, _user_actor(user_id), "added", {}, {"text": text},
                            statuses=ACTIVE)

    # -- client changes ------------------------------------------------------------------
    def edit(self, user_id: int, ticket_id, *, expected_version: int | None = None,
             description: str | None = None, type: str | None = None) -> Ticket:
        """Change description and/or type of an active ticket; TicketConflict when it was
        changed or closed since `expected_version`."""
        changes: dict[str, Any] = {}
        if description is not None:
            changes["description"] = clean_text(description, DESCRIPTION_MIN, DESCRIPTION_MAX, "description")
        if type is not None:
            changes["type"] = self._type(type)
        if not changes:
            raise TicketInputError("nothing to change")
        ticket = self._load(ticket_id)
        self.require(user_id, ticket, "edit")
        details = {k: {"old": getattr(ticket, k), "new": v} for k, v in changes.items()}
        return self._change(ticket, _user_actor(user_id), "edited", changes, details,
                            statuses=ACTIVE, expected=expected_version)

    def cancel(self, user_id: int, ticket_id, reason: str, *, expected_version: int | None = None) -> Ticket:
        """The client withdraws the ticket, saying why."""
        reason = clean_text(reason, REASON_MIN, REASON_MAX, "reason")
        ticket = self._load(ticket_id)
        self.require(user_id, ticket, "cancel")
        return self._change(ticket, _user_actor(user_id), "cancelled",
                            {"status": CANCELLED, "closed": self.clock()}, {"reason": reason},
                            statuses=ACTIVE, expected=expected_version)

    def close(self, user_id: int, ticket_id, *, expected_version: int | None = None) -> Ticket:
        """The client confirms the work is done and closes the ticket: only one that is being
        worked on (a new ticket nobody took has no work to confirm: TicketConflict)."""
        ticket = self._load(ticket_id)
        self.require(user_id, ticket, "close")
        return self._change(ticket, _user_actor(user_id), "closed",
                            {"status": DONE, "closed": self.clock()}, {},
                            statuses=WORKED_ON, expected=expected_version)

    def reopen(self, user_id: int, ticket_id, *, expected_version: int | None = None) -> Ticket:
        """The author says the problem is back: a closed or cancelled ticket within
        tickets.reopen_days goes back to its technician (in progress) or, if nobody had it,
        to new; a history event and the CRM outbox like any change. Later than that:
        TicketInputError (ticket/reopen_expired); not closed: TicketConflict."""
        ticket = self._load(ticket_id)
        self.require(user_id, ticket, "reopen")
        if ticket.status in CLOSED_STATUSES and not self.may_reopen(ticket):
            raise TicketInputError(f"ticket {ticket.id} closed {ticket.closed}: past tickets.reopen_days",
                                   template="ticket/reopen_expired")
        return self._change(ticket, _user_actor(user_id), "reopened",
                            {"status": reopen_status(ticket.master_name), "closed": None}, {},
                            statuses=CLOSED_STATUSES, expected=expected_version)

    # -- technicians (work group) ----------------------------------------------------------
    def technician(self, tech_id: int, name: str, ticket_id) -> tuple[Ticket, Actor]:
        """The ticket and the acting technician; NotTechnician for anybody else."""
        if not self.is_technician(tech_id):
            raise NotTechnician(tech_id)
        return self._load(ticket_id), Actor(f"tech:{tech_id}", "group", int(tech_id), name or str(tech_id))

    def take(self, tech_id: int, name: str, ticket_id, **kw) -> Ticket:
        """A technician takes a new ticket; of two at once one wins, the other gets
        TicketConflict (with the ticket showing who took it)."""
        ticket, actor = self.technician(tech_id, name, ticket_id)
        return self._change(ticket, actor, "taken", {"status": IN_PROGRESS, "master_name": actor.name,
                                                     "master_telegram_id": actor.user_id},
                            {"master": actor.name}, statuses=(NEW,), **kw)

    def set_waiting(self, tech_id: int, name: str, ticket_id, **kw) -> Ticket:
        ticket, actor = self.technician(tech_id, name, ticket_id)
        return self._change(ticket, actor, "waiting", {"status": WAITING}, {},
                            statuses=(NEW, IN_PROGRESS), **kw)

    def client_answered(self, ticket: Ticket, actor: Actor) -> Ticket:
        """The author answered a ticket waiting for them: worked on again (or TicketConflict)."""
        back = IN_PROGRESS if ticket.master_name else NEW
        return self._change(ticket, actor, "answered", {"status": back}, {}, statuses=(WAITING,))

    def done(self, tech_id: int, name: str, ticket_id, **kw) -> Ticket:
        ticket, actor = self.technician(tech_id, name, ticket_id)
        changes = {"status": DONE, "closed": self.clock()}
        if not ticket.master_name:
            changes.update(master_name=actor.name, master_telegram_id=actor.user_id)
        return self._change(ticket, actor, "done", changes, {}, statuses=ACTIVE, **kw)

    def comment(self, tech_id: int, name: str, ticket_id, text: str, **kw) -> Ticket:
        ticket, actor = self.technician(tech_id, name, ticket_id)
        text = clean_text(text, 1, COMMENT_MAX, "comment")
        return self._change(ticket, actor, "comment", {}, {"text": text}, statuses=STATUSES, **kw)

    # -- the CRM ---------------------------------------------------------------------------
    def crm_update(self, ticket_id, **fields) -> Ticket:
        """Apply a change the CRM reports (status, master_name, crm_id, crm_number, type,
        description); the history says "crm". Unknown statuses are refused."""
        ticket = self._load(ticket_id)
        changes = {k: v for k, v in fields.items() if k in _CRM_FIELDS and v is not None}
        if changes.get("status") not in (None, *STATUSES):
            raise TicketInputError(f"unknown status {changes['status']!r}")
        if changes.get("status") in CLOSED_STATUSES and not ticket.closed:
            changes["closed"] = self.clock()
        elif changes.get("status") in ACTIVE and ticket.closed:
            changes["closed"] = None         # the CRM reopened it: it is in the active list again
        return self._change(ticket, Actor("crm", "crm"), history.crm_what(ticket, changes), changes,
                            history.crm_details(ticket, changes), statuses=STATUSES, push=False)

    def crm_comment(self, ticket_id, text: str, kind: str = "comment") -> Ticket:
        """A comment the CRM reports: a history event from "crm", the author notified
        (notify.user.status_changed); not pushed back. `kind` says which of 1C's texts it
        is: "note" (the task's comment, the card's "Примечание"), "decision" (the
        technician's решение) or a plain "comment"."""
        text = clean_text(text, 1, COMMENT_MAX, "comment")
        return self._change(self._load(ticket_id), Actor("crm", "crm"), "comment", {},
                            {"text": text, "kind": kind}, statuses=STATUSES, push=False)

    # -- the one write path ----------------------------------------------------------------
    def _load(self, ticket_id) -> Ticket:
        number = parse_id(ticket_id)
        found = Ticket.get_or_none(Ticket.id == number) if number else None
        if found is None:
            raise TicketNotFound(f"ticket {str(ticket_id)[:20]!r} does not exist")
        return found

    def _change(self, ticket: Ticket, actor: Actor, what: str, changes: dict, details: dict, *, statuses,
                expected: int | None = None, push: bool = True, notify: bool = True) -> Ticket:
        """A conditional UPDATE (status in `statuses`, version as seen) + event + outbox +
        notifications; TicketConflict with the current ticket when the condition fails."""
        seen = ticket.version if expected is None else int(expected)
        with write_tx():
            updated = (Ticket.update(**changes, version=Ticket.version + 1, updated=self.clock())
                       .where((Ticket.id == ticket.id) & (Ticket.version == seen) &
                              Ticket.status.in_(list(statuses))).execute())
            current = Ticket.get_by_id(ticket.id)
            if not updated:
                raise TicketConflict(current)
            history.record(current, actor, what, {**history.status_change(ticket, changes), **details},
                           self.clock())
            if closes(ticket.status, changes.get("status")):
                _cancel_payment_requests(current.id)
            if push:
                outbox.push("ticket", current.id)
            if notify:
                self._notify(current, what, actor, details)
        return current

    def _notify(self, ticket: Ticket, what: str, actor: Actor, details: dict | None = None) -> None:
        if self.notifier is not None:
            self.notifier.ticket_event(ticket, what, actor=actor, details=details or {})


def _cancel_payment_requests(ticket_id: int) -> None:
    """A cancelled or closed ticket owes nothing: its open payment requests are cancelled in
    the same transaction (helpdesk.payments imports the tickets package, hence the late import)."""
    from helpdesk.payments.requests import cancel_open_requests
    cancel_open_requests(ticket_id)


_CRM_FIELDS = ("status", "master_name", "crm_id", "crm_number", "type", "description")

