"""1C's reference lists (`defaultData`), kept in the database: task statuses, task types,
managers (technicians), companies, divisions, and the ids of 1C's defaults (initial and
closed status, company, division, the default task type name).

    refresh(app)              read defaultData now, check it, replace the stored lists
    status_guid(settings, s)  the bot's status as 1C's status guid (crm.statuses), or None
    bot_status(settings, g)   1C's guidStatus (a guid, or a status name) as the bot's status
    ticket_types(settings)    1C's task type names when known, else settings tickets.types
    type_guid(name)           a task type name as 1C's guid
    manager_name(guid) / manager_guid(name)   a technician both ways
    default(name)             one of 1C's default ids (DEFAULTS)

The job `sync_references` (helpdesk.sync.jobs) calls `refresh` at start and then every
`sync.references_seconds`; a failed read is logged, reported (the job's supervisor) and
tried again `sync.references_retry_seconds` later, the stored lists left as they were.
An answer of the wrong shape (a list that is not one, a name that is not text, more than
MAX_ITEMS rows, a guid longer than 64) is refused whole, with a log line: a half-read
reference would map statuses wrongly. See docs/sync.md "References".
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import peewee as pw

from engine.errors import IntegrationError
from engine.storage import Table, write_tx
from helpdesk.directory.tables import utcnow

from .pull import SyncState

__all__ = ["CrmReference", "CrmDefault", "References", "parse", "store", "refresh", "due",
           "status_guid", "bot_status", "ticket_types", "type_guid", "manager_name",
           "manager_guid", "default", "ReferenceBook", "KINDS", "DEFAULTS", "MAX_ITEMS"]

log = logging.getLogger(__name__)

# defaultData list -> the kind stored (the lists the bot uses; banks, cash desks... are not)
KINDS = {"taskStatuses": "status", "taskTypes": "type", "managers": "manager",
         "companies": "company", "divisions": "division"}

# defaultData default ids (the answer's key -> the name stored). The contract names the
# defaults, not their keys; these are the stub's and the extension's spelling.
DEFAULTS = {"guidInitialStatus": "initial_status", "guidClosedStatus": "closed_status",
            "guidCompany": "company", "guidDivision": "division",
            "defaultTaskType": "task_type"}

MAX_ITEMS = 5000          # rows per list; more is refused (a reference is dozens, not millions)
_GUID_MAX, _NAME_MAX = 64, 300
_TYPE_MAX = 200           # ticket.type's column: a longer 1C type name is not offered
_STORED_AT = "references_at"     # sync_state: when defaultData was last stored
_BATCH = 100


class CrmReference(Table):
    """One row of a 1C reference list: (kind, guid) -> name, the row as sent in `data`."""
    kind = pw.CharField(max_length=16)
    guid = pw.CharField(max_length=_GUID_MAX)
    name = pw.CharField(max_length=_NAME_MAX)
    data = pw.TextField(default="{}")
    updated = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "crm_reference"
        indexes = ((("kind", "guid"), True), (("kind", "name"), False))


class CrmDefault(Table):
    """One of 1C's defaults (DEFAULTS): its name -> the guid (or, for task_type, a name)."""
    name = pw.CharField(max_length=32, primary_key=True)
    value = pw.CharField(max_length=_NAME_MAX)
    updated = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "crm_default"


@dataclass
class References:
    """A checked defaultData answer: rows per kind [(guid, name, row)], defaults by name."""
    rows: dict[str, list[tuple[str, str, dict]]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {kind: len(items) for kind, items in self.rows.items()}


# ---- reading and checking the answer ------------------------------------------------------

def _refuse(why: str) -> IntegrationError:
    log.warning("1C defaultData refused: %s", why)
    return IntegrationError("crm", f"bad 1C answer to defaultData: {why}", retryable=False)


def _text(value: Any, limit: int, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _refuse(f"{where} is {type(value).__name__}, not text")
    if len(value) > limit:
        raise _refuse(f"{where} is {len(value)} characters, more than {limit}")
    return value.strip()


def _rows(answer: dict, key: str) -> list[tuple[str, str, dict]]:
    items = answer.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise _refuse(f"{key} is {type(items).__name__}, not a list")
    if len(items) > MAX_ITEMS:
        raise _refuse(f"{key} has {len(items)} rows, more than {MAX_ITEMS}")
    rows = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise _refuse(f"{key}[{n}] is {type(item).__name__}, not an object")
        guid = _text(item.get("guid"), _GUID_MAX, f"{key}[{n}].guid")
        name = _text(item.get("name") or item.get("presentation"), _NAME_MAX, f"{key}[{n}].name")
        if guid and name and not item.get("markedForDel"):
            rows.append((guid, name, item))
    return rows


def parse(answer: Any) -> References:
    """defaultData's answer checked and bounded; IntegrationError (logged) when malformed."""
    if not isinstance(answer, dict):
        raise _refuse(f"the answer is {type(answer).__name__}, not an object")
    refs = References(rows={kind: _rows(answer, key) for key, kind in KINDS.items()})
    for key, name in DEFAULTS.items():
        value = _text(answer.get(key), _NAME_MAX if name == "task_type" else _GUID_MAX, key)
        if value:
            refs.defaults[name] = value
    return refs


# ---- storing --------------------------------------------------------------------------------

def store(refs: References) -> None:
    """Replace the stored lists and defaults with `refs`, in one transaction."""
    now = utcnow()
    with write_tx():
        CrmReference.delete().execute()
        CrmDefault.delete().execute()
        rows = list(_unique_rows(refs, now).values())
        for start in range(0, len(rows), _BATCH):
            CrmReference.insert_many(rows[start:start + _BATCH]).execute()
        for name, value in refs.defaults.items():
            CrmDefault.create(name=name, value=value, updated=now)
        _mark_stored(now)


def _unique_rows(refs: References, now) -> dict:
    """One row per (kind, guid): the last of several with one guid wins, as if sent in turn."""
    return {(kind, guid): dict(kind=kind, guid=guid, name=name, updated=now,
                               data=json.dumps(row, ensure_ascii=False, default=str))
            for kind, items in refs.rows.items() for guid, name, row in items}


def _mark_stored(now) -> None:
    (SyncState.insert(name=_STORED_AT, value=now.isoformat(), updated=now)
     .on_conflict(conflict_target=[SyncState.name],
                  update={SyncState.value: now.isoformat(), SyncState.updated: now}).execute())


def due(settings) -> bool:
    """True when the stored lists are older than sync.references_seconds (or absent)."""
    row = SyncState.get_or_none(SyncState.name == _STORED_AT)
    return row is None or row.updated <= utcnow() - timedelta(
        seconds=settings.sync.references_seconds)


def refresh(app) -> dict[str, Any]:
    """Read 1C's defaultData and store it; {kind: rows} (or {"skipped": why}). A failure
    raises (the job logs and reports it, and tries again later); nothing stored changes."""
    reader = getattr(app.services.crm, "default_data", None)
    if reader is None:
        return {"skipped": f"crm.kind {app.services.crm.kind} has no reference lists"}
    refs = parse(reader())
    store(refs)
    log.info("1C references stored: %s", refs.counts())
    return refs.counts()


# ---- lookups --------------------------------------------------------------------------------

def _name_of(kind: str, guid: str | None) -> str | None:
    if not guid:
        return None
    row = CrmReference.get_or_none((CrmReference.kind == kind) & (CrmReference.guid == guid))
    return row.name if row else None


def _guid_of(kind: str, name: str | None) -> str | None:
    if not name:
        return None
    row = (CrmReference.select().where((CrmReference.kind == kind) & (CrmReference.name == name))
           .order_by(CrmReference.id).first())
    return row.guid if row else None


def default(name: str) -> str | None:
    row = CrmDefault.get_or_none(CrmDefault.name == name)
    return row.value if row else None


def _status_map(settings) -> dict[str, str]:
    return dict(settings.crm.statuses) if settings is not None else {}


def status_guid(settings, status: str | None) -> str | None:
    """The bot's status as 1C's guid: `new` is 1C's initial status and `done` its closed
    one when 1C names them; otherwise the first 1C status name crm.statuses maps to it."""
    if not status:
        return None
    fixed = {"new": "initial_status", "done": "closed_status"}.get(status)
    if fixed and default(fixed):
        return default(fixed)
    for name, ours in _status_map(settings).items():
        if ours == status and (guid := _guid_of("status", name)):
            return guid
    return None


def bot_status(settings, value: str | None) -> str | None:
    """1C's guidStatus as the bot's status: a guid of 1C's list (through its name and
    crm.statuses), 1C's initial / closed default, or a status name sent as such; None
    when nothing maps it (the status is then left as it is, with a log line)."""
    if not value:
        return None
    mapping = _status_map(settings)
    name = _name_of("status", value) or value
    if name in mapping:
        return mapping[name]
    if value == default("closed_status"):
        return "done"
    if value == default("initial_status"):
        return "new"
    log.info("1C status %r is not in crm.statuses; the ticket's status is left", value[:64])
    return None


def ticket_types(settings) -> list[str]:
    """The ticket types to offer and accept: 1C's (taskTypes) once read while 1C is the
    CRM (lists kept from an earlier 1C are not offered under another crm.kind), else
    settings tickets.types."""
    if settings.crm.kind != "1c-seed":
        return list(settings.tickets.types)
    names = [n for (n,) in CrmReference.select(CrmReference.name)
             .where(CrmReference.kind == "type").order_by(CrmReference.id).tuples()
             if len(n) <= _TYPE_MAX]
    return names or list(settings.tickets.types)


def type_name(guid: str | None) -> str | None:
    """The name of 1C's ticket type `guid` (taskTypes), None when 1C has not listed it."""
    return _name_of("type", guid)


def type_guid(name: str | None) -> str | None:
    return _guid_of("type", name)


def manager_name(guid: str | None) -> str | None:
    return _name_of("manager", guid)


def manager_guid(name: str | None) -> str | None:
    return _guid_of("manager", name)


class ReferenceBook:
    """The stored references as integrations.crm.onec wants them (its `References`
    protocol): what a task posted to 1C carries instead of the bot's words.

    `memo=True` remembers each answer for the book's life: for one request that shapes
    thousands of tasks (`GET /api/tasks?nonSync=true`), not for the CRM client, which
    lives as long as the process and must see a new read."""

    def __init__(self, settings, *, memo: bool = False):
        self.settings = settings
        self._memo: dict | None = {} if memo else None

    def _cached(self, key: tuple, compute):
        if self._memo is None:
            return compute()
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def status_guid(self, status: str | None) -> str | None:
        return self._cached(("status", status), lambda: status_guid(self.settings, status))

    def type_guid(self, name: str | None) -> str | None:
        return self._cached(("type", name), lambda: type_guid(name))

    def default(self, name: str) -> str | None:
        return self._cached(("default", name), lambda: default(name))
