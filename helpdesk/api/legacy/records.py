"""Which bot row a 1C guid means, and the 1C bodies kept as sent (table `onec_record`).

Records the bot created and 1C has not accepted (`nonSync=true`) carry a bot-minted guid
`b07000NN-0000-4000-8000-<id hex>` (helpdesk.sync.identity: the same guid the pushes send); when 1C writes one back under that guid, the record is
linked (its crm_id becomes it). Every object 1C sends is also kept as sent, so entities and
fields the bot has no column for read back unchanged.
"""
from __future__ import annotations

import json

from helpdesk.directory.tables import Counterparty, TradePoint, utcnow
from helpdesk.sync.identity import mint_guid, minted_id

from ..onec_record import OneCRecord
from .wire import OneCObject

__all__ = ["mint_guid", "model_of", "resolve", "guid_of", "stored", "store", "store_rows", "body_row",
           "extras"]


def model_of(entity: str):
    if entity == "task":
        from helpdesk.tickets import Ticket
        return Ticket
    return {"partner": Counterparty, "department": TradePoint}.get(entity)


def resolve(entity: str, guid: str | None):
    """The bot row 1C means by `guid` (its crm_id, or a guid the bot minted), or None."""
    model = model_of(entity)
    if model is None or not guid:
        return None
    row = model.get_or_none(model.crm_id == guid)
    row_id = minted_id(entity, guid)
    if row is None and row_id is not None:
        row = model.get_or_none(model.id == row_id)
    return row


def guid_of(entity: str, row) -> str:
    return row.crm_id or mint_guid(entity, row.id)


def stored(entity: str, guid: str) -> OneCRecord | None:
    return OneCRecord.get_or_none((OneCRecord.entity == entity) & (OneCRecord.guid == guid))


def body_row(entity: str, obj: OneCObject, guid: str, marked: bool | None = None) -> dict:
    data = json.dumps(obj.model_dump(mode="json") | {"guid": guid}, ensure_ascii=False)
    marked = obj.markedForDel if marked is None else marked
    return dict(entity=entity, guid=guid, code=obj.code, data=data, marked_for_del=marked,
                updated=utcnow())


_STORED = (OneCRecord.code, OneCRecord.data, OneCRecord.marked_for_del, OneCRecord.updated)


_BATCH = 100        # rows per INSERT: 600 parameters, inside every SQLite's limit


def store(entity: str, obj: OneCObject, guid: str, marked: bool | None = None) -> OneCRecord:
    store_rows([body_row(entity, obj, guid, marked)])
    return stored(entity, guid)


def store_rows(rows: list[dict]) -> None:
    """Upsert the bodies as sent, a hundred per statement (a bundle of 2,000 contracts is 20
    statements, not 4,000). The last of several rows with one guid wins, as if sent in turn."""
    unique = list({(r["entity"], r["guid"]): r for r in rows}.values())
    for start in range(0, len(unique), _BATCH):
        (OneCRecord.insert_many(unique[start:start + _BATCH])
         .on_conflict(conflict_target=[OneCRecord.entity, OneCRecord.guid], preserve=_STORED)
         .execute())


def extras(entity: str, guid: str) -> dict:
    rec = stored(entity, guid)
    return rec.body if rec else {}
