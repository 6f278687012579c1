"""Actions of flows/registration.yaml and the Confirm / Reject buttons of join requests.

The services (helpdesk.registration) do the work and check rights; these adapt them to the
dialog: slots in, a small dict out. CRM and DaData calls block (requests) and run in the
engine's step, which the Telegram transport runs in a worker thread; their timeouts are
short (settings crm.timeout, dadata.timeout) and a failure never stops the dialog.
"""
from __future__ import annotations

import logging

from engine.errors import IntegrationError
from engine.ids import parse_id
from engine.registry import Go
from helpdesk import directory, phones, registration
from helpdesk.directory import DirectoryError, NotFound
from helpdesk.phones import PhoneError
from helpdesk.registry import registry
from helpdesk.roles import PermissionDenied

__all__ = ["lookup_phone", "find_company", "submit", "company_buttons", "choose_company",
           "member_decision"]

log = logging.getLogger(__name__)


def _ensure_user(step) -> None:
    ev = step.event
    directory.get_or_create_user(step.user_id, ev.username, ev.first_name, ev.language)


def _templates(step):
    return step.fs.templates


@registry.action("reg_lookup_phone", provides=["lookup"])
def lookup_phone(step) -> dict:
    """Look the shared phone up (CRM, else the local directory) and link the user.

    `lookup.status`: found | requested (typed and listed: a request went to the company,
    nothing of it is told) | not_found | deferred (the CRM failed; a job retries it).
    """
    _ensure_user(step)
    phone = step.slots["phone"]
    verified = phones.is_own_contact(step.event)
    step.slots["phone_verified"] = verified
    settings = step.services.settings
    crm = step.services.crm_lookup
    try:
        person = crm.find_person(phone) if crm.kind != "none" else None
    except IntegrationError as e:
        registration.defer_lookup(step.user_id, step.chat_id, phone, verified=verified,
                                  lang=step.lang, error=str(e))
        return {"lookup": {"status": "deferred", "companies": [], "pending": False}}
    found = registration.register_by_phone(
        step.user_id, phone, verified=verified, person=person,
        post_rules=settings.crm.post_roles, templates=_templates(step), settings=settings)
    return {"lookup": {k: v for k, v in found.items() if k != "new_pending"}}


@registry.action("reg_find_company", provides=["company", "dadata"])
def find_company(step) -> dict:
    """The company of the typed INN from DaData; `dadata`: found | unknown | off | down."""
    client = step.services.dadata
    if not client.enabled:
        return {"company": None, "dadata": "off"}
    try:
        info = client.find_company(step.slots["inn"])
    except IntegrationError as e:
        log.warning("DaData lookup failed, manual entry: %s", e)
        return {"company": None, "dadata": "down"}
    company = registration.company_from_dadata(info)
    return {"company": company, "dadata": "found" if company else "unknown"}


@registry.action("reg_submit", provides=["registration"])
def submit(step) -> dict:
    """Store the questionnaire; `registration.status`: created | pending | member |
    invalid (then `registration.reason` names what to fix)."""
    _ensure_user(step)
    s = step.slots
    company = s.get("company") if s.get("company_ok") else None
    try:
        out = registration.submit_questionnaire(
            step.user_id, phone=s["phone"], full_name=s["full_name"], inn=s["inn"],
            position=s["position"], company=company, company_name=s.get("company_name"),
            phone_verified=bool(s.get("phone_verified")), templates=_templates(step), settings=step.services.settings)
    except (registration.RegistrationError, PhoneError, DirectoryError) as e:
        log.info("questionnaire of user %s refused: %s", step.user_id, e)
        return {"registration": {"status": "invalid",
                                 "reason": getattr(e, "reason", "data")}}
    return {"registration": out}


@registry.action("reg_company_buttons")
def company_buttons(step) -> list[dict]:
    """One button per company the user is a confirmed member of."""
    return [{"text": c.name, "value": c.id} for c in registration.company_choices(step.user_id)]


@registry.action("reg_choose_company", provides=["current"])
def choose_company(step, company_id=None) -> dict | Go:
    """Make `company_id` current; the id is checked again (it came from a button)."""
    try:
        company = registration.set_current_company(step.user_id, company_id)
    except PermissionDenied:
        step.say("registration/not_your_company")
        return Go("choose_company")
    return {"current": {"id": company.id, "name": company.name}}


@registry.provider("current_company")
def _current_company(step) -> dict | None:
    """The company the user acts for: {id, name, inn} or None (template variable)."""
    company = registration.current_company(step.user_id)
    return {"id": company.id, "name": company.name, "inn": company.inn} if company else None


@registry.callback(registration.CALLBACK_PREFIX)
def member_decision(step, payload: str) -> None:
    """`mb:confirm:<id>` / `mb:reject:<id>` pressed under a join request. A press by anyone
    who may not decide it, or with a malformed id, is answered on the button only: no
    message, no edit, nothing of whose request it is."""
    verb, _, raw_id = payload.partition(":")
    membership_id = parse_id(raw_id)
    if verb not in ("confirm", "reject") or membership_id is None:
        step.answer()
        return
    try:
        out = registration.decide(membership_id, step.user_id, verb == "confirm",
                                  templates=_templates(step), settings=step.services.settings,
                                  ensure_user=lambda: _ensure_user(step))
    except (NotFound, PermissionDenied, DirectoryError) as e:
        log.info("join decision refused: user=%s data=%r: %s", step.user_id, payload[:40], e)
        step.answer()
        return
    reply = step.say("registration/decision_done", decision=out)
    if step.event.message_id:
        reply.edit_message_id = step.event.message_id
