"""The desk's tables: the staff roster, the work group's admins, what a ticket's thread last
showed, the SLA timers, the ratings."""
from __future__ import annotations

import peewee as pw

from engine.storage import Table
from helpdesk.directory.tables import utcnow
from helpdesk.tickets.tables import Ticket

__all__ = ["StaffMember", "DeskThread", "GroupAdmin", "SlaTimer", "Rating"]


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


class SlaTimer(Table):
    """One SLA target of one ticket (helpdesk/desk/sla.py): first response or resolution.

    Working seconds `spent` were counted up to `since` (None: paused or stopped); while it
    runs, `warn_at` / `due_at` are the UTC moments of the warning and the breach, and
    `next_at` the earlier of the two not yet fired (what the job looks for)."""
    ticket = pw.ForeignKeyField(Ticket, backref="sla_timers", on_delete="CASCADE")
    kind = pw.CharField(max_length=20)                      # first_response | resolution
    target = pw.IntegerField()                              # working seconds
    spent = pw.IntegerField(default=0)                      # working seconds before `since`
    since = pw.DateTimeField(null=True)                     # running since (UTC)
    warn_at = pw.DateTimeField(null=True)
    due_at = pw.DateTimeField(null=True)
    next_at = pw.DateTimeField(null=True, index=True)       # None: nothing left to fire now
    warned_at = pw.DateTimeField(null=True)                 # fired once, never again
    breached_at = pw.DateTimeField(null=True)
    stopped_at = pw.DateTimeField(null=True)                # the response / the resolution
    stopped_by = pw.CharField(max_length=20, null=True)     # the ticket change that stopped it
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "desk_sla_timer"
        indexes = ((("ticket", "kind"), True),)


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
