"""Tasks 1C creates and 1C's texts on a task, as the original handled them.

A task 1C pushes (`POST|PUT /api/task`) under a guid and code the bot does not know is a
task created in 1C. When it is for a person who uses the bot (`guidAuthor`: a contact
whose Telegram user is linked to it or has its phone proven), or for a company whose
confirmed people use the bot (`guidPartner`), it becomes a ticket of that person (for a
company: of its most senior confirmed member, who manages it in the bot), with 1C's guid
and code: it is in their "My tickets" and they are told (`notify.user.new_ticket`; the
company's people by `notify.user.company_new_tickets`; the work group by
`notify.system.new_ticket`). It is never pushed back to 1C.

Refused, nothing written (the error names the field): a `guidPartner`, `guidAuthor` or
`guidDepartment` the bot does not know (404), a person or trade point of another partner
than `guidPartner` (422), a task for a person without a description (422). A task that
names no partner or person, or one whose people do not use the bot, is kept as sent only.

1C's `comment` (the card's "Примечание: …") and `decision` ("Решение: …") become history
events of the ticket by "crm" (kinds `note`, `decision`), the author told
(`notify.user.status_changed`); a text the ticket's history already holds is not told again
(1C echoes the bot's own texts back).
"""
from __future__ import annotations

from helpdesk import directory
from helpdesk.directory.tables import ContactPerson, Counterparty, TradePoint
from helpdesk.sync import references

from .. import apply
from .records import extras, resolve
from .wire import OneCObject

__all__ = ["new_task", "record_notes", "NOTE_KINDS"]


NOTE_KINDS = (("comment", "note"), ("decision", "decision"))   # 1C field -> event kind


def _partner(obj: OneCObject) -> Counterparty | None:
    if not obj.guidPartner:
        return None
    cp = resolve("partner", obj.guidPartner)
    if cp is None:
        raise apply.NotFound("guidPartner", f"no partner {obj.guidPartner!r}")
    return cp


def _contact(obj: OneCObject, cp: Counterparty | None) -> ContactPerson | None:
    if not obj.guidAuthor:
        return None
    contact = ContactPerson.get_or_none(ContactPerson.crm_id == obj.guidAuthor)
    if contact is None:
        raise apply.NotFound("guidAuthor", f"no person {obj.guidAuthor!r}")
    if cp is not None and contact.counterparty_id != cp.id:
        raise apply.ApplyError("guidAuthor", "this person is a contact of another partner")
    return contact


def _point(obj: OneCObject, cp: Counterparty | None) -> TradePoint | None:
    if not obj.guidDepartment:
        return None
    tp = resolve("department", obj.guidDepartment)
    if tp is None:
        raise apply.NotFound("guidDepartment", f"no trade point {obj.guidDepartment!r}")
    if cp is not None and tp.counterparty_id != cp.id:
        raise apply.ApplyError("guidDepartment", "this trade point belongs to another partner")
    return tp


def _author(contact: ContactPerson | None, cp: Counterparty | None) -> int | None:
    """The Telegram user the task is for: the person 1C names, else the company's most
    senior confirmed member; None when nobody of them uses the bot."""
    if contact is not None:
        users = directory.users_of_contact(contact)
        if users:
            return users[0].id
    if cp is None:
        return None
    people = directory.company_people(cp, confirmed_only=True)
    if not people:
        return None
    return max(people, key=lambda m: (m.role_enum, -m.id)).telegram_user_id


def _type_name(app, obj: OneCObject) -> str:
    """The type's name as 1C calls it (1C's taskTypes read from defaultData, else a taskType
    record it pushed), else the type as sent when it is one the bot offers (references.
    ticket_types), else the last of those (the catch-all)."""
    types = references.ticket_types(app.settings) if app is not None else []
    name = (references.type_name(obj.type)
            or str(extras("taskType", obj.type).get("name") or "")) if obj.type else ""
    if name:
        return name[:200]
    if obj.type in types:
        return obj.type
    return types[-1] if types else ""


def new_task(app, obj: OneCObject, guid: str, *, status: str, master: str | None):
    """The ticket for a task created in 1C, or None when nobody it is for uses the bot."""
    cp = _partner(obj)
    contact = _contact(obj, cp)
    cp = cp or (contact.counterparty if contact is not None else None)
    tp = _point(obj, cp)
    cp = cp or (tp.counterparty if tp is not None else None)
    author = _author(contact, cp)
    if author is None:
        return None
    description = (obj.description or obj.name or "").strip()
    if not description:
        raise apply.ApplyError("description", "a task for a person needs a description")
    ticket = apply.tickets_service(app).crm_create(
        author, description=description, type=_type_name(app, obj),
        counterparty_id=cp.id if cp else None, trade_point_id=tp.id if tp else None,
        crm_id=guid, crm_number=obj.code or None, status=status, master_name=master,
        notes=_notes(obj))
    return ticket


def _notes(obj: OneCObject) -> tuple[tuple[str, str], ...]:
    return tuple((kind, text) for field, kind in NOTE_KINDS
                 if (text := (getattr(obj, field) or "").strip()))


def record_notes(app, ticket, obj: OneCObject) -> None:
    """1C's comment and decision of a known ticket on its card and history, each once."""
    for kind, text in _notes(obj):
        apply.crm_note(app, ticket, kind, text)
