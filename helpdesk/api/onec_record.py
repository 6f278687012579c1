"""The table `onec_record`: every object the original 1C extension sends, kept as sent
(helpdesk.api.legacy serves it). Apart from the HTTP code, so that creating the schema (the
console, tests, `db init`) imports no web framework."""
from __future__ import annotations

import json

import peewee as pw

from engine.storage import Table
from helpdesk.directory.tables import utcnow

__all__ = ["OneCRecord"]


class OneCRecord(Table):
    """An object as 1C last sent it (the JSON body), by entity and guid."""
    entity = pw.CharField(max_length=20)
    guid = pw.CharField(max_length=64)
    code = pw.CharField(max_length=32, null=True)
    data = pw.TextField(default="{}")
    marked_for_del = pw.BooleanField(default=False)
    updated = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "onec_record"
        indexes = ((("entity", "guid"), True),)

    @property
    def body(self) -> dict:
        return json.loads(self.data or "{}")
