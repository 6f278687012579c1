"""What the desk calls a staff member: a full name, never a first name two people share.

One rule, used wherever staff are named (the card's master, the assignee, a relayed
message's signature, /staff, the assign picker, the role notices, so the reports' master
too): the CRM's name of the person when the directory knows it (a confirmed link to a
contact person), else Telegram's first and last name (as this update shows them; the
roster's, `staff.full_name`, when Telegram sends no last name now), else the name the bot
last saw, else @username, else the id. Two staff members the rule names alike (two
"Сергей" with no last name) are told apart where staff are listed or assigned (`members`,
`distinct_name`): "Сергей (@sergey_kassy)", else "Сергей (…4321)", the id's end.
"""
from __future__ import annotations

from engine.events import Event
from helpdesk.directory import known_name
from helpdesk.directory.tables import TelegramUser

from . import staff

__all__ = ["staff_name", "name_of", "members", "distinct_name"]


def staff_name(event: Event) -> str:
    """The name a staff member's action is recorded and shown under (see the docstring)."""
    return _name(event.user_id, event.first_name, event.last_name, event.username)


def name_of(user_id: int, first_name: str | None = None, last_name: str | None = None,
            username: str | None = None) -> str:
    """The same name for someone known by id (and, when a message shows them, its names)."""
    return _name(user_id, first_name, last_name, username)


def members() -> list[dict]:
    """`staff.members()`, each named by the rule above (namesakes told apart), technicians
    first, then by name."""
    out = [{**m, "name": name_of(m["id"])} for m in staff.members()]
    counts: dict[str, int] = {}
    for m in out:
        counts[m["name"].casefold()] = counts.get(m["name"].casefold(), 0) + 1
    for m in out:
        if counts[m["name"].casefold()] > 1:
            m["name"] = _told_apart(m["name"], m["id"])
    return sorted(out, key=lambda m: (m["role"] != staff.TECHNICIAN, m["name"].casefold(), m["id"]))


def distinct_name(user_id: int) -> str:
    """`name_of(user_id)`, told apart from a namesake on the staff (the card's master)."""
    found = next((m["name"] for m in members() if m["id"] == int(user_id)), None)
    return found or name_of(user_id)


def _told_apart(name: str, user_id: int) -> str:
    handle = staff.username(user_id)
    suffix = f"@{handle}" if handle and f"@{handle}" != name else f"…{str(user_id)[-4:]}"
    return f"{name} ({suffix})"


def _name(user_id: int, first: str | None, last: str | None, username: str | None) -> str:
    user = TelegramUser.get_or_none(TelegramUser.id == int(user_id))
    return ((known_name(user) if user is not None else None) or _telegram_name(user_id, first, last)
            or _seen(user) or (f"@{username}" if username else "") or str(user_id))


def _telegram_name(user_id: int, first: str | None, last: str | None) -> str:
    name = " ".join(p.strip() for p in (first, last) if p and p.strip())
    if last and last.strip():
        return name
    return staff.full_name(user_id) or name    # the roster may know the last name


def _seen(user: TelegramUser | None) -> str:
    if user is None:
        return ""
    return user.first_name or (f"@{user.username}" if user.username else "")
