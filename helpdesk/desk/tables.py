"""The desk's tables: the staff roster (SLA timers and ratings add theirs here)."""
from __future__ import annotations

import peewee as pw

from engine.storage import Table
from helpdesk.directory.tables import utcnow

__all__ = ["StaffMember", "GroupAdmin"]


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
