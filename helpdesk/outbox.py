"""The CRM outbox: every change the CRM must learn is a row written in the same transaction
as the change itself (so a crash or a CRM outage loses nothing). Jobs in helpdesk/sync.py
drain it through integrations.crm with backoff, an idempotency key per item, per-entity
ordering and a dead-letter state.

    with write_tx():
        ticket.save()
        outbox.push("ticket", ticket.id, "upsert")
"""
from __future__ import annotations

import json
import uuid

import peewee

from engine.session import utcnow
from engine.storage import BaseModel, db

__all__ = ["OutboxItem", "push", "PENDING", "DONE", "DEAD"]

PENDING, DONE, DEAD = "pending", "done", "dead"


class OutboxItem(BaseModel):
    entity = peewee.CharField(max_length=30)           # counterparty, contact, ticket, payment
    entity_id = peewee.BigIntegerField()
    op = peewee.CharField(max_length=20, default="upsert")
    payload = peewee.TextField(default="{}")           # extra data the push needs (JSON)
    key = peewee.CharField(max_length=64, unique=True)  # idempotency key sent to the CRM
    status = peewee.CharField(max_length=10, default=PENDING, index=True)
    attempts = peewee.IntegerField(default=0)
    next_at = peewee.DateTimeField(default=utcnow, index=True)
    last_error = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    done_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "outbox"
        indexes = ((("entity", "entity_id", "id"), False),)


def push(entity: str, entity_id: int, op: str = "upsert", payload: dict | None = None) -> int:
    """Queue a change for the CRM; call inside the transaction that makes the change."""
    if not db.in_transaction():
        raise RuntimeError("outbox.push must run inside the change's transaction (write_tx)")
    return OutboxItem.insert(entity=entity, entity_id=entity_id, op=op,
                             payload=json.dumps(payload or {}, ensure_ascii=False, default=str),
                             key=uuid.uuid4().hex).execute()
