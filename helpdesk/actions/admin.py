"""Actions of the admin commands (flows/admin_*.yaml). Who is an admin: settings.yaml
`engine.admins` (Telegram ids); everyone else is refused in the action itself, not only by
hiding a button."""
from __future__ import annotations

import logging

from helpdesk.registry import registry

__all__ = ["reload_flows", "is_admin", "MAX_ERRORS_SHOWN"]

log = logging.getLogger(__name__)
MAX_ERRORS_SHOWN = 20     # a Telegram message holds 4096 characters


def is_admin(step) -> bool:
    return step.user_id in step.services.settings.engine.admins


@registry.action("reload_flows", provides=["reload"])
def reload_flows(step) -> dict:
    """Check flows/ and templates/ and swap them in now. Gives `reload`:
    {allowed, ok, version, errors (the first MAX_ERRORS_SHOWN), count}."""
    if not is_admin(step):
        log.warning("reload refused: user %s is not in engine.admins", step.user_id)
        return {"reload": {"allowed": False, "ok": False, "version": "", "errors": [], "count": 0}}
    result = step.services.reloader.reload(notify=False)
    log.info("reload by admin %s: ok=%s version=%s", step.user_id, result.ok, result.version)
    return {"reload": {"allowed": True, "ok": result.ok, "version": result.version,
                       "errors": result.problems[:MAX_ERRORS_SHOWN], "count": len(result.problems)}}
