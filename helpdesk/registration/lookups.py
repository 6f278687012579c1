"""The job `registration_lookups`: phone lookups the CRM failed are retried with backoff
(claimed with a lease, so two workers never do one twice) and each user is told the result
once."""
from __future__ import annotations

import logging
from datetime import timedelta

from engine.errors import IntegrationError
from engine.storage import is_postgres, write_tx
from helpdesk import directory
from helpdesk.directory.tables import utcnow
from helpdesk.notices import queue_notice
from helpdesk.registry import registry

from .by_phone import register_by_phone
from .tables import PendingLookup

__all__ = ["retry_lookups", "LOOKUP_LEASE", "LOOKUP_BACKOFF_MAX"]

log = logging.getLogger(__name__)


LOOKUP_LEASE = timedelta(minutes=2)
LOOKUP_BACKOFF_MAX = 3600        # seconds between retries of one lookup, at most


def _claim_due(limit: int = 20) -> list[PendingLookup]:
    now = utcnow()
    with write_tx():
        query = (PendingLookup.select().where(PendingLookup.next_at <= now)
                 .order_by(PendingLookup.next_at).limit(limit))
        if is_postgres():
            query = query.for_update(skip_locked=True)
        rows = list(query)
        if rows:
            (PendingLookup.update(next_at=now + LOOKUP_LEASE)
             .where(PendingLookup.id.in_([r.id for r in rows])).execute())
    return rows


def _postpone(row: PendingLookup, error: Exception) -> None:
    delay = min(60 * 2 ** min(row.attempts, 10), LOOKUP_BACKOFF_MAX)
    with write_tx():
        (PendingLookup.update(attempts=PendingLookup.attempts + 1, last_error=str(error)[:500],
                              next_at=utcnow() + timedelta(seconds=delay))
         .where(PendingLookup.id == row.id).execute())
    log.warning("CRM lookup for user %s failed again (attempt %s): %s",
                row.telegram_user, row.attempts + 1, error)


def _complete(app, row: PendingLookup, person) -> bool:
    templates = app.engine.flowset.templates
    settings = app.settings
    with write_tx():
        if PendingLookup.get_or_none(PendingLookup.id == row.id) is None:
            return False          # the user registered meanwhile (or another worker did it)
        directory.get_or_create_user(row.telegram_user, language=row.lang)
        result = register_by_phone(row.telegram_user, row.phone, verified=row.verified,
                                   person=person, post_rules=settings.crm.post_roles,
                                   templates=templates, settings=settings)
        queue_notice(templates, row.chat_id, _LOOKUP_TEMPLATES[result["status"]],
                     {"lookup": result}, key=f"reg-lookup:{row.id}", lang=row.lang)
    return True


_LOOKUP_TEMPLATES = {"found": "registration/lookup_found",
                     "requested": "registration/requested",
                     "not_found": "registration/lookup_not_found"}
registry.register_texts("lookup retries", tuple(_LOOKUP_TEMPLATES.values()))


@registry.job("registration_lookups", every=60)
def retry_lookups(app) -> int:
    """Retry the lookups the CRM failed; tell each user the result. Returns how many
    were completed."""
    done = 0
    crm = app.services.crm
    for row in _claim_due():
        try:
            person = crm.find_person(row.phone)
            done += _complete(app, row, person)
        except IntegrationError as e:
            _postpone(row, e)
        except Exception as e:  # one bad answer must not stop the others
            log.exception("lookup %s for user %s failed", row.id, row.telegram_user)
            _postpone(row, e)
    return done
