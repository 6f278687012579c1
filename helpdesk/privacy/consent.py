"""Where a person stands with the consent text now shown (settings privacy.text_version).

Only the latest decision that was not withdrawn counts: an accept of version "1" means
nothing once the text is version "2" (the person is asked again), and `/forget` withdraws
every decision (the next phone or name is asked only after a new consent).
"""
from __future__ import annotations

from dataclasses import dataclass

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


def _latest(user_id: int, version: str | None = None):
    query = Consent.select().where((Consent.telegram_user == int(user_id))
                                   & Consent.withdrawn_at.is_null())
    if version is not None:
        query = query.where(Consent.version == version)
    return query.order_by(Consent.id.desc()).first()


def consent_state(user_id: int, version: str) -> ConsentState:
    """The person's standing with text `version`."""
    current = _latest(user_id, version)
    if current is not None:
        return ConsentState(given=current.accepted, asked=True, outdated=False)
    last = _latest(user_id)
    return ConsentState(given=False, asked=False, outdated=bool(last and last.accepted))


def record_decision(user_id: int, version: str, accepted: bool) -> Consent:
    """Record an accept or a decline of text `version`, now."""
    with write_tx():
        return Consent.create(telegram_user=int(user_id), version=str(version)[:40],
                              accepted=bool(accepted), at=utcnow())
