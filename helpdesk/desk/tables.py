"""The desk's tables: the staff roster, the ratings (SLA timers add theirs here)."""
from __future__ import annotations

import peewee as pw

from engine.storage import Table
from helpdesk.directory.tables import utcnow

__all__ = ["StaffMember", "Rating"]


class StaffMember(Table):
    telegram_user = pw.BigIntegerField(primary_key=True)    # Telegram id
    role = pw.CharField(max_length=20)                      # technician | dispatcher
    first_name = pw.CharField(max_length=200, default="")   # Telegram's, as last seen
    last_name = pw.CharField(max_length=200, default="")
    granted_by = pw.BigIntegerField(null=True)              # who granted it (None: seeded)
    granted_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "desk_staff"


class Rating(Table):
    """The author's rating of a done ticket: one row per ticket, asked when it is done
    (helpdesk/desk/ratings.py). `score` is set once (a conditional UPDATE), `reminded_at`
    once: the one reminder is claimed by setting it."""
    ticket_id = pw.IntegerField(primary_key=True)         # one rating per ticket
    author_id = pw.BigIntegerField()                       # who was asked (who may answer)
    score = pw.SmallIntegerField(null=True)                # 1..5, None until answered
    comment = pw.TextField(null=True)                      # the author's words, optional
    asked_at = pw.DateTimeField(default=utcnow)
    remind_at = pw.DateTimeField(null=True, index=True)    # None: no reminder (due or owed)
    reminded_at = pw.DateTimeField(null=True)
    rated_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "desk_rating"
