"""The outbox entity `person` (op `erase`): the CRM is told that a person erased their data
(helpdesk.privacy.forget queued it, in the erasure's own transaction).

The item's payload is all there is to send (the rows are gone): the Telegram id, the phone
Telegram proved (the CRM's key for the person), the ids of the erased contacts and the
CRM's ids of them; no name. Once delivered, the phone is dropped from it (done rows are
kept for the change feed). It waits for any older item of those contacts still being
sent, so the CRM never gets a contact after the request to erase it. `crm.kind: rest`
posts it (docs/crm-api.md, POST /erasures); 1c-seed has no such call
(integrations.crm.onec: a dead letter naming the 1C guid to erase by hand, or nothing
when 1C does not know the person); with no CRM it waits like every item.
"""
from __future__ import annotations

import json
from datetime import datetime

from helpdesk.registry import registry
from helpdesk.sync import outbox
from helpdesk.sync.outbox import OutboxItem
from helpdesk.sync.push import Skip
from integrations.crm import PersonErasure

from .erase import ENTITY

__all__ = ["erasure_record"]


def erasure_record(item: OutboxItem) -> PersonErasure:
    p = outbox.payload_of(item)
    at = p.get("requested_at")
    return PersonErasure(telegram_user_id=int(p.get("telegram_user_id") or item.entity_id),
                         phones=[str(i) for i in p.get("phones") or []],
                         contact_crm_ids=[str(i) for i in p.get("contact_crm_ids") or []],
                         requested_at=datetime.fromisoformat(at) if at else None)


def _parents(item: OutboxItem) -> list[tuple[str, int]]:
    return [("contact", int(i)) for i in outbox.payload_of(item).get("contact_ids") or []]


def _send(crm, record: PersonErasure, key: str):
    answer = crm.forget_person(record, idempotency_key=key)
    if answer is None:
        raise Skip("the CRM holds nothing of this person to erase")
    return answer


def _forget_the_phone(item: OutboxItem, answer) -> None:
    """Delivered: keep what says who was erased and the CRM's answer, not the phone."""
    p = outbox.payload_of(item)
    kept = {k: p[k] for k in ("telegram_user_id", "contact_crm_ids", "requested_at") if k in p}
    OutboxItem.update(payload=json.dumps({**kept, "crm_id": answer}, ensure_ascii=False)).where(
        OutboxItem.id == item.id).execute()


registry.sync_entity(ENTITY, PersonErasure, send=_send, parents=_parents,
                     write_back=_forget_the_phone)(erasure_record)
