"""Where a person stands with the consent text now shown (settings privacy.text_version).

Only the latest decision that was not withdrawn counts: an accept of version "1" means
nothing once the text is version "2" (the person is asked again), and `/forget` withdraws
every decision (the next phone or name is asked only after a new consent).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from engine.storage import write_tx
from helpdesk.directory.tables import utcnow

from .tables import Consent

__all__ = ["ConsentState", "consent_state", "record_decision"]


@dataclass(frozen=True)
class ConsentState:
    given: bool        # accepted the current version
    asked: bool        # answered the current version (accepted or declined)
    outdated: bool     # accepted an older version and not yet answered this one

    def as_dict(self) -> dict:
        return {"consent_given": self.given, "consent_asked": self.asked,
                "consent_outdated": self.outdated}


def consent_state(user_id: int, version: str) -> ConsentState:
    """The person's standing with text `version`: one statement, read on every step that
    shows the menu (the `privacy` template variable). The row it finds is the latest
    not-withdrawn decision about `version` if there is one, else the latest about any."""
    database = Consent._meta.database
    row = database.execute_sql(_state_sql(database.param), (str(version), int(user_id))).fetchone()
    if row is None:
        return ConsentState(given=False, asked=False, outdated=False)
    current, accepted = bool(row[0]), bool(row[1])
    if current:
        return ConsentState(given=accepted, asked=True, outdated=False)
    return ConsentState(given=False, asked=False, outdated=accepted)


# Hand-written, as engine/session.py's: peewee's query builder cost more than the query
# (cProfile of bench/e2e.py's bot). Cached per placeholder style (SQLite ?, PostgreSQL %s).
@lru_cache(maxsize=4)
def _state_sql(p: str) -> str:
    current = f"CASE WHEN version = {p} THEN 1 ELSE 0 END"
    return (f"SELECT {current}, accepted FROM privacy_consent "
            f"WHERE telegram_user = {p} AND withdrawn_at IS NULL "
            f"ORDER BY 1 DESC, id DESC LIMIT 1")


def record_decision(user_id: int, version: str, accepted: bool) -> Consent:
    """Record an accept or a decline of text `version`, now."""
    database = Consent._meta.database
    values = (int(user_id), str(version)[:40], bool(accepted), Consent.at.db_value(utcnow()))
    with write_tx():
        return Consent.raw(_insert_sql(database.param), *values).get()


@lru_cache(maxsize=4)
def _insert_sql(p: str) -> str:
    return ("INSERT INTO privacy_consent (telegram_user, version, accepted, at) "
            f"VALUES ({p}, {p}, {p}, {p}) RETURNING *")
