"""What the desk calls a staff member: a full name, never a first name two people share.

The CRM's name of the person when the directory knows it (a confirmed link to a contact
person), else Telegram's first and last name (as this update shows them; the roster's,
`staff.full_name`, when Telegram sends no last name now), else @username, else the id.
"""
from __future__ import annotations

from engine.events import Event
from helpdesk.directory import known_name
from helpdesk.directory.tables import TelegramUser

from . import staff

__all__ = ["staff_name"]


def staff_name(event: Event) -> str:
    """The name a staff member's action is recorded and shown under (see the docstring)."""
    user = TelegramUser.get_or_none(TelegramUser.id == int(event.user_id))
    return ((known_name(user) if user is not None else None) or _telegram_name(event)
            or (f"@{event.username}" if event.username else str(event.user_id)))


def _telegram_name(event: Event) -> str:
    name = " ".join(p.strip() for p in (event.first_name, event.last_name) if p and p.strip())
    if event.last_name and event.last_name.strip():
        return name
    return staff.full_name(event.user_id) or name    # the roster may know the last name
