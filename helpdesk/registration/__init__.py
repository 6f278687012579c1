"""Registration: who a Telegram user is, found by phone (CRM or the local directory) or told
by the questionnaire, and the company's confirmation of strangers.

    tables.py         PendingLookup, PendingRequest, CurrentCompany
    answers.py        the questionnaire's answers checked (RegistrationError names the text)
    by_phone.py       register_by_phone: a proven phone links, a typed one only asks
    questionnaire.py  submit_questionnaire: a typed INN gives an *unverified* link
    approval.py       the company's Confirm/Reject (decide), links the CRM proves (confirm_listed)
    current.py        the company a person with several acts for
    lookups.py        the job retrying lookups the CRM failed

Nothing typed proves who someone is: only a phone shared with Telegram's contact button
(the sender's own), a CRM listing that phone, or an approver's button confirm a link. Every
function writes inside `write_tx()` (savepoints inside the engine's step), so a failure
leaves nothing half-written. Texts are templates; `templates` is the engine's `Templates`.
"""
from __future__ import annotations

from .answers import NAME_MAX, NAME_MIN, RegistrationError, clean_inn, clean_name
from .approval import CALLBACK_PREFIX, confirm_listed, decide, is_support, notify_request
from .by_phone import defer_lookup, introduce, local_contacts, register_by_phone, summary
from .current import company_choices, current_company, set_current_company
from .lookups import retry_lookups
from .questionnaire import company_from_dadata, submit_questionnaire
from .tables import CurrentCompany, PendingLookup, PendingRequest

__all__ = ["RegistrationError", "PendingLookup", "PendingRequest", "CurrentCompany",
           "CALLBACK_PREFIX", "NAME_MIN", "NAME_MAX", "clean_name", "clean_inn",
           "local_contacts", "register_by_phone", "introduce", "summary", "defer_lookup",
           "submit_questionnaire", "notify_request", "decide", "is_support", "confirm_listed",
           "current_company", "set_current_company", "company_choices",
           "retry_lookups", "company_from_dadata"]
