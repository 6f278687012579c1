"""Registration's tables: lookups the CRM could not answer yet, what a stranger told the
questionnaire (until the link is proven), and the company a person with several acts for.
"""
from __future__ import annotations

import peewee as pw

from engine.storage import Table
from helpdesk.directory.tables import Counterparty, Membership, utcnow

__all__ = ["PendingLookup", "PendingRequest", "CurrentCompany"]


class PendingLookup(Table):
    """A phone lookup the CRM could not answer; the job retries it."""

    telegram_user = pw.BigIntegerField(unique=True)
    chat_id = pw.BigIntegerField()
    phone = pw.CharField(max_length=20)                   # E.164
    verified = pw.BooleanField(default=True)              # shared with the contact button
    lang = pw.CharField(max_length=8, null=True)
    attempts = pw.IntegerField(default=0)
    next_at = pw.DateTimeField(default=utcnow, index=True)
    last_error = pw.TextField(null=True)
    created = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "registration_lookup"


class PendingRequest(Table):
    """What a person told the questionnaire about themselves; becomes a contact of the
    company only when the link is proven (before that it must not exist, or a later phone
    lookup would link somebody through it without anyone's consent)."""

    membership = pw.ForeignKeyField(Membership, unique=True, on_delete="CASCADE")
    full_name = pw.CharField(max_length=300)
    phone = pw.CharField(max_length=20, null=True)
    phone_verified = pw.BooleanField(default=False)       # shared with the contact button
    position = pw.CharField(max_length=300, null=True)
    created = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "registration_request"


class CurrentCompany(Table):
    """The counterparty a person with several acts for (chosen after registration)."""

    telegram_user = pw.BigIntegerField(primary_key=True)
    counterparty = pw.ForeignKeyField(Counterparty, on_delete="CASCADE")
    updated = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "current_company"
