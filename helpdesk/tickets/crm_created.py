"""A ticket the CRM created (1C's task for a person of the bot): TicketService.crm_create,
apart from service.py to keep that module small; it uses the service's one write path
(`_insert`, `history.record`, `_notify`)."""
from __future__ import annotations

import logging

from engine.storage import write_tx

from . import history
from .checks import COMMENT_MAX, DESCRIPTION_MAX, clean_text
from .errors import TicketInputError
from .tables import CLOSED_STATUSES, NEW, STATUSES, Ticket, TicketEvent

__all__ = ["CrmCreated"]

log = logging.getLogger(__name__)


class CrmCreated:
    """TicketService's operations for what the CRM alone decides: tickets it creates, and
    the number it gives a ticket."""

    def crm_create(self, author_id: int, *, description: str, type: str, counterparty_id=None,
                   trade_point_id=None, crm_id: str, crm_number: str | None = None,
                   status: str = NEW, master_name: str | None = None,
                   notes: tuple[tuple[str, str], ...] = ()) -> Ticket:
        """A ticket the CRM created for a person who uses the bot (the caller checked who
        that is): saved with the CRM's id and number, history "created" by "crm" and the
        CRM's `notes` ((kind, text): see crm_comment), the people told as of any new
        ticket (notify.*), the notes in the same message; no outbox row (from the CRM)."""
        if status not in STATUSES:
            raise TicketInputError(f"unknown status {status!r}")
        values = dict(author=int(author_id), counterparty=counterparty_id,
                      trade_point=trade_point_id, type=str(type)[:200],
                      description=clean_text(description, 1, DESCRIPTION_MAX, "description"),
                      crm_id=crm_id, crm_number=crm_number, status=status,
                      master_name=master_name, closed=self.clock() if status in CLOSED_STATUSES else None)
        from .service import Actor  # service.py builds on this class
        actor = Actor("crm", "crm")
        with write_tx():
            if Ticket.get_or_none(Ticket.crm_id == crm_id) is not None:
                raise TicketInputError(f"a ticket with crm id {crm_id[:64]!r} exists")
            ticket = self._insert(values)
            history.record(ticket, actor, "created", {"type": ticket.type, "crm_id": crm_id},
                           self.clock())
            for kind, text in notes:
                history.record(ticket, actor, "comment",
                               {"text": clean_text(text, 1, COMMENT_MAX, "comment"), "kind": kind},
                               self.clock())
            self._notify(ticket, "created", actor, {"from_crm": True})
        log.info("ticket %s (#%s) created by the CRM as %s for %s", ticket.id, ticket.number,
                 crm_id, author_id)
        return ticket

    def crm_numbered(self, ticket_id, number: str) -> bool:
        """The CRM's number (1C code), in the history (`numbered`, "old → new"): a ticket never
        moves silently. Not a content change: no version bump, push or notice. True if new."""
        number = str(number)[:32]
        with write_tx():
            old = Ticket.select(Ticket.crm_number).where(Ticket.id == ticket_id).scalar()
            changed = (Ticket.update(crm_number=number).where((Ticket.id == ticket_id) & (
                Ticket.crm_number.is_null() | (Ticket.crm_number != number))).execute())
            if changed:
                TicketEvent.create(ticket=ticket_id, who="crm", source="crm", what="numbered", at=self.clock(),
                                   details={"text": f"{old} → {number}" if old else number, "old": old or ""})
        return bool(changed)
