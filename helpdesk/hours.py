"""The support desk's working hours (settings `support`): is it open now, and when it opens.

Times are the desk's local time (`engine.timezone`); the bot stores UTC. A ticket filed at
night is told when people will look at it, and `/help` shows the hours and the phone.

    hours = WorkingHours.from_settings(settings)
    hours.is_open(utc_now)          # bool
    hours.opens_at(utc_now)         # the next opening, local time (utc_now itself when open)
    hours.after(utc, timedelta(hours=4))   # UTC when 4 working hours from `utc` are over
    hours.between(utc_a, utc_b)            # the working time between two UTC moments

`after` and `between` count working time only (the SLA timers of helpdesk/desk/sla.py):
every working day contributes its [start, end) in the local zone; a stored UTC time is
naive, and so are their answers.
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

    def _day_span(self, day: date) -> tuple[datetime, datetime]:
        """The working interval of `day`, in naive UTC."""
        return (_naive_utc(datetime.combine(day, self.start, tzinfo=self.zone)),
                _naive_utc(datetime.combine(day, self.end, tzinfo=self.zone)))

    def after(self, utc: datetime, span: timedelta) -> datetime | None:
        """The naive UTC moment when `span` of working time, counted from `utc`, is over
        (`utc` itself for a span of zero or less); None when the desk does not open enough
        within a year of idle days (every day a holiday)."""
        cursor = _naive_utc(utc)
        if span <= timedelta(0):
            return cursor
        day, idle = self._local(cursor).date(), 0
        while idle < _LOOKAHEAD_DAYS:
            opened, closed = self._day_span(day)
            begin = max(opened, cursor)
            if self._works_on(day) and begin < closed:
                if span <= closed - begin:
                    return begin + span
                span, idle = span - (closed - begin), 0
            else:
                idle += 1
            day += timedelta(days=1)
        return None

    def between(self, start: datetime, end: datetime) -> timedelta:
        """The working time from `start` to `end` (UTC; zero when end is not after start)."""
        start, end = _naive_utc(start), _naive_utc(end)
        total, day = timedelta(0), self._local(start).date()
        while start < end and day <= self._local(end).date():
            opened, closed = self._day_span(day)
            if self._works_on(day) and max(opened, start) < min(closed, end):
                total += min(closed, end) - max(opened, start)
            day += timedelta(days=1)
        return total


def _naive_utc(moment: datetime) -> datetime:
    """A moment as the database stores it: UTC without tzinfo (naive input is UTC already)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)
