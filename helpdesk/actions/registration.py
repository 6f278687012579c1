"""Actions of flows/registration.yaml and the Confirm / Reject buttons of join requests.

The services (helpdesk.registration) do the work and check rights; these adapt them to the
dialog: slots in, a small dict out. CRM and DaData calls block (requests) and run in the
engine's step, which the Telegram transport runs in a worker thread; their timeouts are
short (settings crm.timeout, dadata.timeout) and a failure never stops the dialog.
"""
from __future__ import annotations

import logging

from engine.contracts import ActionContext, Outcome
from engine.errors import IntegrationError
from engine.ids import parse_id
from helpdesk import directory, registration
from helpdesk.directory import DirectoryError, NotFound, phones
from helpdesk.directory.phones import PhoneError
from helpdesk.directory.roles import PermissionDenied
from helpdesk.registry import registry

__all__ = ["phone_given", "lookup_phone", "questionnaire_plan", "find_company", "submit",
           "company_buttons", "choose_company", "member_decision"]

log = logging.getLogger(__name__)


def _ensure_user(ctx: ActionContext) -> None:
    ev = ctx.event
    directory.get_or_create_user(ctx.user_id, ev.username, ev.first_name, ev.language)


# the services write to other people (join requests, confirmations) with these
NOTIFIES = ("registration/request_notify", "registration/btn_confirm", "registration/btn_reject",
            "registration/request_confirmed", "registration/request_rejected")
_LOOKUP_OUTCOMES = ("found", "requested", "not_found", "deferred")


@registry.action("reg_phone_given", gives=("phone_verified", "full_name"))
def phone_given(ctx: ActionContext) -> dict:
    """Right after the phone answer (its event is the proof): `phone_verified` (shared as
    the sender's own contact) and `full_name`, the name the bot already knows (the CRM's,
    else the one he typed) or none: the dialog asks only for what it does not know."""
    _ensure_user(ctx)
    user = directory.get_user(ctx.user_id)
    known = directory.known_name(user) or directory.introduced_name(user)
    return {"phone_verified": phones.is_own_contact(ctx.event), "full_name": known or None}


@registry.action("reg_lookup_phone", reads=("phone", "phone_verified", "full_name"),
                 gives=("lookup", "phone_verified"), outcomes=_LOOKUP_OUTCOMES, templates=NOTIFIES)
def lookup_phone(ctx: ActionContext) -> Outcome:
    """Look the phone up (CRM, else the local directory) and link the user; a typed one
    comes with the name the person introduced himself with (`full_name`).

    Outcomes: found | requested (typed and listed: a request went to the company, nothing
    of it is told) | not_found | deferred (the CRM failed; a job retries it).
    """
    _ensure_user(ctx)
    phone = ctx.slots["phone"]
    verified = bool(ctx.slots.get("phone_verified"))      # reg_phone_given saw the contact
    settings = ctx.services.settings
    crm = ctx.services.crm_lookup
    try:
        person = crm.find_person(phone) if crm.kind != "none" else None
    except IntegrationError as e:
        registration.introduce(ctx.user_id, ctx.slots.get("full_name"))   # the retry's request names him
        registration.defer_lookup(ctx.user_id, ctx.chat_id, phone, verified=verified,
                                  lang=ctx.lang, error=str(e))
        return Outcome("deferred", lookup={"companies": [], "pending": False}, phone_verified=verified)
    found = registration.register_by_phone(
        ctx.user_id, phone, verified=verified, person=person, full_name=ctx.slots.get("full_name"),
        post_rules=settings.crm.post_roles, templates=ctx.templates, settings=settings)
    lookup = {k: v for k, v in found.items() if k not in ("new_pending", "status")}
    return Outcome(found["status"], lookup=lookup, phone_verified=verified)


@registry.action("reg_questionnaire_plan", gives=("plan",))
def questionnaire_plan(ctx: ActionContext, first: str = "ask_name") -> dict:
    """What the questionnaire will ask, for its intro to count: `plan.questions`, the
    states with a question the flow reaches from `first` with what is known now (a name
    already given skips ask_name by its `when`), read from the flow itself, so a question
    added to the YAML is counted. The walk stops at the company: its name is asked only
    for an INN our directory and DaData do not know, which nobody can tell before the
    INN, so the intro says it in words instead of counting it."""
    questions = ctx.asks_ahead(str(first))
    return {"plan": {"questions": questions, "count": len(questions)}}


@registry.action("reg_find_company", reads=("inn",), gives=("company", "dadata"),
                 outcomes=("found", "known", "manual"))
def find_company(ctx: ActionContext) -> Outcome:
    """The company of the typed INN: already in our directory (known: nothing to ask, the
    request goes to it), from DaData (found: confirmed by the person), or its name is typed
    (manual); `dadata` says why: found | known | unknown | off | down."""
    existing = directory.find_counterparty_by_inn(ctx.slots["inn"])
    if existing is not None:
        return Outcome("known", company={"inn": existing.inn, "name": existing.name}, dadata="known")
    client = ctx.services.dadata
    if not client.enabled:
        return Outcome("manual", company=None, dadata="off")
    try:
        info = client.find_company(ctx.slots["inn"])
    except IntegrationError as e:
        log.warning("DaData lookup failed, manual entry: %s", e)
        return Outcome("manual", company=None, dadata="down")
    company = registration.company_from_dadata(info)
    if not company:
        return Outcome("manual", company=None, dadata="unknown")
    return Outcome("found", company=company, dadata="found")


@registry.action("reg_submit", reads=("phone", "full_name", "inn", "position", "company", "company_ok",
                                      "company_name", "phone_verified"),
                 gives=("registration",), outcomes=("registered", "pending", "invalid"), templates=NOTIFIES)
def submit(ctx: ActionContext) -> Outcome:
    """Store the questionnaire: registered (`registration.status` created or member) |
    pending | invalid (then `registration.reason` names what to fix)."""
    _ensure_user(ctx)
    s = ctx.slots
    company = s.get("company") if s.get("company_ok") else None
    try:
        out = registration.submit_questionnaire(
            ctx.user_id, phone=s["phone"], full_name=s["full_name"], inn=s["inn"],
            position=s["position"], company=company, company_name=s.get("company_name"),
            phone_verified=bool(s.get("phone_verified")), templates=ctx.templates, settings=ctx.services.settings)
    except (registration.RegistrationError, PhoneError, DirectoryError) as e:
        log.info("questionnaire of user %s refused: %s", ctx.user_id, e)
        return Outcome("invalid", registration={"status": "invalid", "reason": getattr(e, "reason", "data")})
    return Outcome("pending" if out["status"] == "pending" else "registered", registration=out)


@registry.action("reg_company_buttons")
def company_buttons(ctx: ActionContext) -> list[dict]:
    """One button per company the user is a confirmed member of."""
    return [{"text": c.name, "value": c.id} for c in registration.company_choices(ctx.user_id)]


@registry.action("reg_choose_company", gives=("current",), outcomes=("chosen", "not_yours"),
                 templates=("registration/not_your_company",))
def choose_company(ctx: ActionContext, company_id=None) -> Outcome:
    """Make `company_id` current; the id is checked again (it came from a button)."""
    try:
        company = registration.set_current_company(ctx.user_id, company_id)
    except PermissionDenied:
        ctx.say("registration/not_your_company")
        return Outcome("not_yours")
    return Outcome("chosen", current={"id": company.id, "name": company.name})


@registry.provider("current_company")
def _current_company(ctx: ActionContext) -> dict | None:
    """The company the user acts for: {id, name, inn} or None (template variable)."""
    company = registration.current_company(ctx.user_id)
    return {"id": company.id, "name": company.name, "inn": company.inn} if company else None


@registry.callback(registration.CALLBACK_PREFIX, templates=("registration/decision_done", *NOTIFIES))
def member_decision(ctx: ActionContext, payload: str) -> None:
    """`mb:confirm:<id>` / `mb:reject:<id>` pressed under a join request. A press by anyone
    who may not decide it, or with a malformed id, is answered on the button only: no
    message, no edit, nothing of whose request it is."""
    verb, _, raw_id = payload.partition(":")
    membership_id = parse_id(raw_id)
    if verb not in ("confirm", "reject") or membership_id is None:
        ctx.answer()
        return
    try:
        out = registration.decide(membership_id, ctx.user_id, verb == "confirm",
                                  templates=ctx.templates, settings=ctx.services.settings,
                                  ensure_user=lambda: _ensure_user(ctx))
    except (NotFound, PermissionDenied, DirectoryError) as e:
        log.info("join decision refused: user=%s data=%r: %s", ctx.user_id, payload[:40], e)
        ctx.answer()
        return
    reply = ctx.say("registration/decision_done", decision=out)
    if ctx.event.message_id:
        reply.edit_message_id = ctx.event.message_id
