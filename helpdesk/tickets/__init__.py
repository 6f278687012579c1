"""Tickets: a client's support request from filing to closing, and what is reported on them.

    states.py         the statuses and the moves between them (close, reopen): the one place
    tables.py         Ticket, TicketEvent (the statuses re-exported)
    history.py        what an event records (who, old -> new) and how it reads on the card
    errors.py         why an operation cannot be done (each names the text the user sees)
    checks.py         what a ticket may contain (lengths, attachments), duplicates' likeness
    view.py           a ticket as plain data for templates and JSON
    rights.py         who may do what to a ticket; what "My tickets" lists
    service.py        TicketService: every operation, rights, history, outbox, notifications
    notifications.py  Notifier: who is told what (the work group, the author, the company)
    stats.py          /stats and the report's figures
    reports.py        `run.py report`: tickets CSV and a PNG chart
    workgroup.py      the work group's buttons (Take, Wait, Done, Comment)

The names below are re-exported so
`from helpdesk.tickets import Ticket, TicketService` reads as before; notifications, stats
and reports are imported from their modules (they import the work group and matplotlib).
"""
from __future__ import annotations

from .checks import DESCRIPTION_MAX, DESCRIPTION_MIN, MAX_ATTACHMENTS, supported_file
from .errors import NotTechnician, TicketConflict, TicketError, TicketInputError, TicketNotFound
from .rights import ACTIONS, CLIENT_ACTIONS, TECH_ACTIONS
from .service import Actor, TicketService
from .states import WORKED_ON
from .tables import (
    ACTIVE,
    CANCELLED,
    CLOSED_STATUSES,
    DONE,
    IN_PROGRESS,
    NEW,
    SOURCES,
    STATUSES,
    WAITING,
    JSONField,
    Ticket,
    TicketEvent,
)
from .view import ticket_view

__all__ = ["Ticket", "TicketEvent", "JSONField", "NEW", "IN_PROGRESS", "WAITING", "DONE",
           "CANCELLED", "STATUSES", "ACTIVE", "CLOSED_STATUSES", "WORKED_ON", "SOURCES",
           "TicketError", "TicketNotFound", "TicketConflict", "TicketInputError",
           "NotTechnician", "TicketService", "Actor", "ACTIONS", "CLIENT_ACTIONS", "TECH_ACTIONS",
           "DESCRIPTION_MIN", "DESCRIPTION_MAX", "MAX_ATTACHMENTS", "ticket_view",
           "supported_file"]
