"""Tickets' tables: Ticket (a support request, with its `version` bumped on every change)
and TicketEvent (its history: who did what, when, from where), and the statuses.

The statuses and the moves between them live in states.py (re-exported here); `closed` is
set when a ticket reaches done or cancelled and cleared when it is reopened.
"""
from __future__ import annotations

import json

import peewee as pw

from engine.storage import Table
from helpdesk.directory.tables import Counterparty, TelegramUser, TradePoint, utcnow

from .states import ACTIVE, CANCELLED, CLOSED_STATUSES, DONE, IN_PROGRESS, NEW, STATUSES, WAITING

__all__ = ["Ticket", "TicketEvent", "JSONField", "NEW", "IN_PROGRESS", "WAITING", "DONE",
           "CANCELLED", "STATUSES", "ACTIVE", "CLOSED_STATUSES", "SOURCES"]


SOURCES = ("bot", "crm", "group")


class JSONField(pw.TextField):
    """JSON stored as text (same on SQLite and PostgreSQL)."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, ensure_ascii=False, default=str)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class Ticket(Table):
    """A support request. `number` is ours (#123); `crm_number` is the CRM's code once synced.

    Payments and the CRM sync read: id, number, crm_number, crm_id, counterparty_id,
    trade_point_id, author_id, type, description, status, master_name, created, closed,
    version. Change a ticket only through this module's services (they bump `version`).
    """

    number = pw.IntegerField(unique=True)                      # sequential, shown as #123
    crm_number = pw.CharField(max_length=32, null=True)        # 1C code, e.g. 000012345
    crm_id = pw.CharField(max_length=64, unique=True, null=True)
    counterparty = pw.ForeignKeyField(Counterparty, null=True, backref="tickets",
                                      on_delete="SET NULL")
    trade_point = pw.ForeignKeyField(TradePoint, null=True, backref="tickets",
                                     on_delete="SET NULL")
    author = pw.ForeignKeyField(TelegramUser, backref="tickets", on_delete="CASCADE")
    contact_name = pw.CharField(max_length=300, null=True)    # UNAUTHORIZED authors
    contact_phone = pw.CharField(max_length=20, null=True)    # E.164
    type = pw.CharField(max_length=200)
    description = pw.TextField()
    attachments = JSONField(default=list)                      # [{file_id, kind, name}]
    status = pw.CharField(max_length=12, default=NEW, index=True)
    master_name = pw.CharField(max_length=300, null=True)     # technician
    master_telegram_id = pw.BigIntegerField(null=True)         # when taken in the group
    created = pw.DateTimeField(default=utcnow, index=True)
    updated = pw.DateTimeField(default=utcnow)
    closed = pw.DateTimeField(null=True)
    version = pw.IntegerField(default=1)                       # +1 on every change
    draft_key = pw.CharField(max_length=64, null=True, unique=True)  # one ticket per draft

    class Meta:
        table_name = "ticket"
        indexes = ((("counterparty", "status"), False), (("author", "status"), False))

    @property
    def label(self) -> str:
        """What users see: "#000012345" once the CRM numbered it, else "#123"."""
        return f"#{self.crm_number or self.number}"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


class TicketEvent(Table):
    """One line of a ticket's history: who did what, when, from where."""

    ticket = pw.ForeignKeyField(Ticket, backref="events", on_delete="CASCADE")
    who = pw.CharField(max_length=64)          # Telegram id, "crm", or "tech:<id>"
    source = pw.CharField(max_length=8)        # bot | crm | group
    what = pw.CharField(max_length=20)         # created, edited, status, comment, taken, ...
    details = JSONField(default=dict)
    at = pw.DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "ticket_event"
