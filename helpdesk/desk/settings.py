"""The support desk's settings (desk, sla, ratings sections of settings.yaml), parsed with
the rest in helpdesk/config.py."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from helpdesk.settings_base import Strict

__all__ = ["Desk", "SlaTarget", "Sla", "Ratings"]

_TICKET_STATUSES = ("new", "in_progress", "waiting", "done", "cancelled")   # helpdesk.tickets.states


class Desk(Strict):
    topics: bool | Literal["auto"] = "auto"     # auto: as Telegram says the group is (desk/group.py)
    topic_icons: dict[str, str] = {"new": "🆕", "in_progress": "🛠", "waiting": "⏳",
                                   "done": "✅", "cancelled": "❌"}
    topic_icon_ids: dict[str, str] = {}
    sign_with_name: bool = True                  # False: staff messages are signed "Поддержка"
    note_marker: str = Field("!", min_length=1, max_length=10)   # such a message stays internal

    @field_validator("note_marker")
    @classmethod
    def _not_a_command(cls, value: str) -> str:
        # a message starting with "/" reaches the bot as a command (engine/telegram/adapter.py)
        # and the group drops a command no dialog knows: such a note would be lost unseen;
        # Telegram trims a message's leading blanks, so a marker starting with one never matches
        if value.startswith("/") or value[:1].isspace():
            raise ValueError(f"desk.note_marker: {value!r} would never mark a note: a message "
                             f"starting with '/' is a command, leading blanks are trimmed; "
                             f"use a sign such as '!' or '#'")
        return value

    @field_validator("topic_icons", "topic_icon_ids")
    @classmethod
    def _statuses(cls, value: dict[str, str], info) -> dict[str, str]:
        unknown = sorted(set(value) - set(_TICKET_STATUSES))
        if unknown:
            raise ValueError(f"desk.{info.field_name}: unknown status {', '.join(unknown)}; "
                             f"the statuses are {', '.join(_TICKET_STATUSES)}")
        return value


class SlaTarget(Strict):
    """One ticket type's targets (working hours); None: the sla section's default, 0: none."""
    first_response_hours: float | None = Field(None, ge=0, le=10_000)
    resolution_hours: float | None = Field(None, ge=0, le=10_000)


class Sla(Strict):
    first_response_hours: float = Field(0, ge=0, le=10_000)   # 0: no target, no timer
    resolution_hours: float = Field(0, ge=0, le=10_000)
    warn_at: float = Field(0.8, gt=0, lt=1)          # share of a target that warns the thread
    check_seconds: float = Field(30, ge=1, le=3600)  # how often due timers fire
    types: dict[str, SlaTarget] = {}                 # ticket type -> its own targets

    def targets(self, ticket_type: str) -> tuple[float, float]:
        """(first response, resolution) in working hours for `ticket_type` (0: none)."""
        own = self.types.get(ticket_type) or SlaTarget()
        first, done = own.first_response_hours, own.resolution_hours
        return (self.first_response_hours if first is None else first,
                self.resolution_hours if done is None else done)


class Ratings(Strict):
    """The client's 1-5 rating of a done ticket (helpdesk/desk/ratings.py)."""
    use: bool = True                                   # ask the author when a ticket is done
    remind_hours: float = Field(24, ge=0, le=24 * 90)  # one reminder this long after (0: none)
    low_score: int = Field(2, ge=0, le=5)              # a score <= this goes to the dispatchers
    check_seconds: int = Field(60, ge=5, le=3600)      # how often due reminders are looked for
