"""Personal data (152-ФЗ): consent and erasure.

    tables.py   Consent: every decision (accepted or declined), with its time and the
                version of the text it answered (settings privacy.text_version)
    consent.py  the person's standing for the current text; recording a decision
    erase.py    forget(): the person's personal data erased, tickets kept with the author
                anonymised, and the CRM told through the outbox, in one transaction
    crm.py      the outbox entity `person` (op `erase`) that tells the CRM

The dialogs are flows/consent.yaml (called before the first phone or name is asked) and
flows/forget.yaml (`/forget` and the profile's button); the actions are
helpdesk/actions/privacy.py.
"""
from __future__ import annotations

from .consent import ConsentState, consent_state, record_decision
from .erase import Erased, forget

__all__ = ["ConsentState", "consent_state", "record_decision", "Erased", "forget"]
