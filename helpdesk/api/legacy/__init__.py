"""The original product's `/api` paths (the 1C:UNF extension's "1C -> bot" contract, see
docs/crm-api.md), so an existing 1C extension works unchanged; only a token is now
required (Bearer, the `token` header or `?apiKey=`, see helpdesk.api.auth). Our own API is
`/api/v1` (helpdesk.api.v1).

    wire.py     the 1C objects, the partner bundle, a balance; the {result, error} envelope
    records.py  which bot row a guid means (minted guids), the bodies kept as sent
    read.py     GET one / a list, bot rows as 1C objects; partner reads answer the bundle
    write.py    POST|PUT upsert by guid, the partner bundle, DELETE (marks deleted)
    incoming.py a task 1C creates for people of the bot becomes their ticket; 1C's
                comment ("Примечание") and decision on the card
    balance.py  GET / PUT a partner's balance (absolute kopecks)
    routes.py   the FastAPI router

Per entity x (task, partner, department, contract, manager, taskType, taskStatus, bankDoc,
cardDoc, cashDoc): `GET /api/x?guid=`, `GET /api/xs` (filters; `nonSync=true`),
`POST|PUT /api/x` (upsert by guid), `DELETE /api/x?guid=` (marks deleted). `POST
/api/partner` also takes the bundle `{partners, departments, contracts, balance}`, and
partner reads answer it. Every call, field by field: docs/sync.md, "The original's 1C
contract, call by call".
"""
from __future__ import annotations

from ..onec_record import OneCRecord
from .records import mint_guid
from .routes import router
from .wire import DATE_FORMAT, ENTITIES, OneCObject
from .write import upsert

__all__ = ["router", "ENTITIES", "OneCRecord", "OneCObject", "mint_guid", "DATE_FORMAT", "upsert"]
