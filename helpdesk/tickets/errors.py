"""Why a ticket operation cannot be done: each error names the template the user sees."""
from __future__ import annotations

from engine.errors import BotError
from helpdesk.directory.roles import PermissionDenied

from .tables import Ticket

__all__ = ["TicketError", "TicketNotFound", "TicketConflict", "TicketInputError", "NotTechnician"]


class TicketError(BotError):
    """A ticket operation that cannot be done; `template` names the text the user sees."""

    template = "ticket/error"

    def __init__(self, message: str, *, template: str | None = None):
        super().__init__(message)
        if template:
            self.template = template


class TicketNotFound(TicketError):
    template = "ticket/denied"       # same text as a refusal: ids are not an oracle


class TicketConflict(TicketError):
    """The ticket changed (or was closed) since the user saw it; `ticket` is its current state."""

    template = "ticket/conflict"

    def __init__(self, ticket: Ticket, message: str = ""):
        self.ticket = ticket
        super().__init__(message or f"ticket {ticket.id} is now {ticket.status} v{ticket.version}")


class TicketInputError(TicketError, ValueError):
    """Bad input: empty or huge description, unknown type, unsupported files..."""


class NotTechnician(PermissionDenied):
    """Work-group buttons are for the desk's staff (helpdesk/desk/staff.py roster)."""

    def __init__(self, who):
        self.right, self.who, self.counterparty = None, who, None
        BotError.__init__(self, f"user={who}: not staff of the desk (technician or dispatcher)")
