"""The desk's tables: the staff roster, what a ticket's thread last showed (SLA timers and
ratings add theirs here)."""
from __future__ import annotations

import peewee as pw

from engine.storage import Table
from helpdesk.directory.tables import utcnow

__all__ = ["StaffMember", "DeskThread", "GroupAdmin"]


class StaffMember(Table):
    telegram_user = pw.BigIntegerField(primary_key=True)    # Telegram id
    role = pw.CharField(max_length=20)                      # technician | dispatcher
    first_name = pw.CharField(max_length=200, default="")   # Telegram's, as last seen
    last_name = pw.CharField(max_length=200, default="")
    username = pw.CharField(max_length=64, null=True)       # to find them by @username
    granted_by = pw.BigIntegerField(null=True)              # who granted it (None: seeded)
    granted_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "desk_staff"


class DeskThread(Table):
    """What the desk last queued for a ticket's card and topic, so an edit that would change
    nothing is not queued (helpdesk/desk/cards.py, topics.py). No foreign key: a ticket's
    thread outlives nothing it needs, and its row is one lookup by the ticket id."""
    ticket_id = pw.IntegerField(primary_key=True)
    card = pw.CharField(max_length=64, default="")          # digest of the card's text + buttons
    topic = pw.CharField(max_length=300, default="")        # the topic's name + icon id as queued
    topic_closed = pw.BooleanField(default=False)           # a close queued (no reopen after it)
    updated = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "desk_thread"


class GroupAdmin(Table):
    """A Telegram administrator of the work group, as getChatAdministrators last said
    (helpdesk/desk/admins.py refreshes the set): a dispatcher by that status alone."""
    telegram_user = pw.BigIntegerField(primary_key=True)
    chat_id = pw.BigIntegerField()                          # the work group asked
    first_name = pw.CharField(max_length=200, default="")
    last_name = pw.CharField(max_length=200, default="")
    username = pw.CharField(max_length=64, null=True)
    seen_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "desk_group_admin"
