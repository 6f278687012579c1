"""Actions of flows/consent.yaml and flows/forget.yaml, and the `privacy` template variable.

Both act on the sender alone (`ctx.user_id`): no flow or button passes a person's id, so
nobody can record a consent for, or erase, anybody else.
"""
from __future__ import annotations

import logging

from engine.contracts import ActionContext, Outcome
from helpdesk import directory, privacy
from helpdesk.registry import registry

__all__ = ["decide", "forget"]

log = logging.getLogger(__name__)


@registry.provider("privacy")
def _privacy(ctx: ActionContext) -> dict:
    """The operator, its policy and the text's version (settings privacy), and where the
    person stands: consent_given / consent_asked / consent_outdated (helpdesk.privacy);
    `crm`: a CRM is told of an erasure."""
    settings = ctx.services.settings
    p = settings.privacy
    state = privacy.consent_state(ctx.user_id, p.text_version)
    return {"operator": p.operator, "policy_url": p.policy_url, "version": p.text_version,
            "crm": settings.crm.kind != "none", **state.as_dict()}


@registry.action("privacy_consent")
def decide(ctx: ActionContext, accepted=False) -> None:
    """Record the sender's answer to the consent text now shown, with its version. A
    decline keeps no Telegram name or username: the person was just told that without the
    consent the bot keeps no name (the row holds the id and the language only)."""
    ev = ctx.event
    if accepted:
        directory.get_or_create_user(ctx.user_id, ev.username, ev.first_name, ev.language)
    else:
        directory.get_or_create_user(ctx.user_id, language=ev.language)
    version = ctx.services.settings.privacy.text_version
    privacy.record_decision(ctx.user_id, version, bool(accepted))
    log.info("consent of user %s to text %s: %s", ctx.user_id, version,
             "accepted" if accepted else "declined")


@registry.action("privacy_forget", outcomes=("erased", "nothing"))
def forget(ctx: ActionContext) -> Outcome:
    """Erase the sender's personal data (helpdesk.privacy.forget); this dialog's own slots
    go too (the conversation is saved after the step)."""
    done = privacy.forget(ctx.user_id, keep_chat=ctx.chat_id, templates=ctx.templates)
    ctx.slots.clear()
    log.info("user %s erased their data: found=%s contacts=%s tickets=%s outbox=%s",
             ctx.user_id, done.found, done.contacts, done.tickets, done.outbox_id)
    return Outcome("erased" if done.found else "nothing")
