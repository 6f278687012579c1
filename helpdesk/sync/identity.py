"""A ticket's identity towards the CRM, fixed once (docs/sync.md, "One task per ticket").

1C takes the client's guid: a task is whatever 1C holds under a guid, and a post under a
new guid is a new task. So a ticket has exactly one guid from the moment it exists, the
same whichever way 1C first hears of it:

- `ticket_guid(ticket)`: its crm_id once the CRM linked it, else the guid the bot minted
  from its id (`mint_guid("task", id)`). The `nonSync` pull shows that guid, every push
  and every retry of a push sends it (helpdesk.sync.records freezes it into the body), so
  1C accepting the pulled ticket and a queued push of it land on one task.
- `link_ticket(...)`: every answer that names the ticket's CRM id or number (a push's
  answer, 1C writing the task back, the REST API, the change feed) goes through it. A
  crm_id is set once; another crm_id for a linked ticket, or one that already belongs to
  another ticket, is an `IdentityConflict` (the push goes dead and the operator is told;
  the API answers 409), never a silent move. A new or changed number (1C's code) is
  recorded in the ticket's history (event `numbered`).
"""
from __future__ import annotations

import re

from engine.errors import BotError

__all__ = ["IdentityConflict", "mint_guid", "minted_id", "ticket_guid", "link_ticket"]


_MINT = {"partner": 1, "department": 2, "task": 3}


_MINTED = re.compile(r"^b07000(\d\d)-0000-4000-8000-([0-9a-f]{12})$")


class IdentityConflict(BotError):
    """An answer that would give a ticket a second identity in the CRM."""


def mint_guid(entity: str, row_id: int) -> str:
    """The guid a bot record shows 1C before 1C has accepted it: a pure function of the
    row's id, so it is the same before the first push, in every retry and in `nonSync`."""
    return f"b07000{_MINT[entity]:02d}-0000-4000-8000-{row_id:012x}"


def minted_id(entity: str, guid: str | None) -> int | None:
    """The row id inside a guid the bot minted for `entity`, else None."""
    m = _MINTED.match(guid or "")
    if m is None or int(m.group(1)) != _MINT[entity]:
        return None
    return int(m.group(2), 16)


def ticket_guid(ticket) -> str:
    return ticket.crm_id or mint_guid("task", ticket.id)


def _ticket_model():
    from helpdesk.tickets import Ticket
    return Ticket


def link_ticket(ticket_id: int, crm_id: str | None, number: str | None, tickets=None) -> None:
    """Store what the CRM answered about a ticket (call inside a write_tx): its crm_id once
    (IdentityConflict for a different one), its number with a history event when new or
    changed. `tickets` is the TicketService (a bare one when None)."""
    Ticket = _ticket_model()
    known = (Ticket.select(Ticket.crm_id, Ticket.crm_number)
             .where(Ticket.id == ticket_id).tuples().first())
    if known is None:
        return                              # the ticket is gone: nothing to link
    current_id, current_number = known
    if crm_id and crm_id != current_id:     # a repeat (every retry, every edit) reads only
        _link_crm_id(ticket_id, crm_id, current_id)
    if number and number != current_number:
        _check_number_free(ticket_id, number)
        _service(tickets).crm_numbered(ticket_id, number)


def _check_number_free(ticket_id: int, number: str) -> None:
    """A CRM number is what people see and what 1C looks tickets up by: two tickets with one
    number would show one label and be found at random, so another ticket's is refused."""
    Ticket = _ticket_model()
    owner = (Ticket.select(Ticket.number)
             .where((Ticket.crm_number == str(number)[:32]) & (Ticket.id != ticket_id))
             .tuples().first())
    if owner is not None:
        raise IdentityConflict(f"crm number {str(number)[:32]} already belongs to ticket "
                               f"{owner[0]}")


def _link_crm_id(ticket_id: int, crm_id: str, current: str | None) -> None:
    Ticket = _ticket_model()
    if current is None:
        owner = Ticket.select(Ticket.number).where(Ticket.crm_id == crm_id).tuples().first()
        if owner is not None:
            raise IdentityConflict(f"crm id {crm_id} already belongs to ticket {owner[0]}")
        # Conditional: of two answers racing (a push's write-back, 1C's confirmation), the
        # second sees the first's crm_id and is checked against it, not written over it.
        if (Ticket.update(crm_id=crm_id)
                .where((Ticket.id == ticket_id) & Ticket.crm_id.is_null()).execute()):
            return
        current = Ticket.select(Ticket.crm_id).where(Ticket.id == ticket_id).scalar()
        if current == crm_id:
            return
    raise IdentityConflict(f"ticket {ticket_id} is {current} in the CRM; an answer "
                           f"named it {crm_id}: kept {current}")


def _service(tickets):
    if tickets is not None:
        return tickets
    from helpdesk.tickets import TicketService
    return TicketService(None)
