"""The support desk's working hours (settings `support`): is it open now, and when it opens.

Times are the desk's local time (`engine.timezone`); the bot stores UTC. A ticket filed at
night is told when people will look at it, and `/help` shows the hours and the phone.

    hours = WorkingHours.from_settings(settings)
    hours.is_open(utc_now)          # bool
    hours.opens_at(utc_now)         # the next opening, local time (utc_now itself when open)
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

__all__ = ["WorkingHours"]

_WEEK = 7
_LOOKAHEAD_DAYS = 400      # holidays can close a whole season; past that, nothing opens


@dataclass(frozen=True)
class WorkingHours:
    days: frozenset[int]            # ISO weekdays: 1 Monday ... 7 Sunday
    start: time
    end: time                       # after start; the desk closes at `end`
    zone: ZoneInfo
    holidays: frozenset[date] = frozenset()

    @classmethod
    def from_settings(cls, settings) -> WorkingHours:
        s = settings.support.hours
        return cls(frozenset(s.days), s.start, s.end, ZoneInfo(settings.engine.timezone),
                   frozenset(s.holidays))

    def _local(self, utc: datetime) -> datetime:
        aware = utc if utc.tzinfo else utc.replace(tzinfo=timezone.utc)
        return aware.astimezone(self.zone)

    def _works_on(self, day: date) -> bool:
        return day.isoweekday() in self.days and day not in self.holidays

    def is_open(self, utc: datetime) -> bool:
        now = self._local(utc)
        return self._works_on(now.date()) and self.start <= now.time() < self.end

    def opens_at(self, utc: datetime) -> datetime | None:
        """The next moment the desk is open (local time): `utc` itself when open now; None
        when no working day comes within a year (every day a holiday)."""
        now = self._local(utc)
        if self.is_open(utc):
            return now
        day = now.date() if now.time() < self.start else now.date() + timedelta(days=1)
        for _ in range(_LOOKAHEAD_DAYS):
            if self._works_on(day):
                return datetime.combine(day, self.start, tzinfo=self.zone)
            day += timedelta(days=1)
        return None
