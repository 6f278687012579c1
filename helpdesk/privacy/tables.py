"""The consent table: one row per decision a person made about the consent text."""
from __future__ import annotations

import peewee as pw

from engine.storage import Table
from helpdesk.directory.tables import utcnow

__all__ = ["Consent"]


class Consent(Table):
    """A person's answer to one version of the consent text. Rows are never updated but
    to note a withdrawal (`/forget`): the history is the operator's proof of what each
    person agreed to, and when."""

    telegram_user = pw.BigIntegerField(index=True)        # Telegram id
    version = pw.CharField(max_length=40)                 # settings privacy.text_version
    accepted = pw.BooleanField()                          # False: declined
    at = pw.DateTimeField(default=utcnow)                 # naive UTC
    withdrawn_at = pw.DateTimeField(null=True)            # the person erased their data

    class Meta:
        table_name = "privacy_consent"
