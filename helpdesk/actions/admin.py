"""Actions of the admin commands (flows/admin_*.yaml). Who is an admin: settings.yaml
`engine.admins` (Telegram ids); everyone else is refused in the action itself, not only by
hiding a button."""
from __future__ import annotations

import logging

from engine.contracts import ActionContext, Outcome
from helpdesk.registry import registry

__all__ = ["reload_flows", "is_admin", "MAX_ERRORS_SHOWN"]

log = logging.getLogger(__name__)
MAX_ERRORS_SHOWN = 20     # a Telegram message holds 4096 characters


def is_admin(ctx: ActionContext) -> bool:
    return ctx.user_id in ctx.services.settings.engine.admins


@registry.action("reload_flows", gives=("reload",), outcomes=("reloaded", "refused", "failed"))
def reload_flows(ctx: ActionContext) -> Outcome:
    """Check flows/ and templates/ and swap them in now: reloaded, failed (the files have
    errors), or refused (not an admin). Gives `reload`: {version, errors (the first
    MAX_ERRORS_SHOWN), count}."""
    if not is_admin(ctx):
        log.warning("reload refused: user %s is not in engine.admins", ctx.user_id)
        return Outcome("refused", reload={"version": "", "errors": [], "count": 0})
    result = ctx.services.reloader.reload(notify=False)
    log.info("reload by admin %s: ok=%s version=%s", ctx.user_id, result.ok, result.version)
    return Outcome("reloaded" if result.ok else "failed",
                   reload={"version": result.version, "errors": result.problems[:MAX_ERRORS_SHOWN],
                           "count": len(result.problems)})
