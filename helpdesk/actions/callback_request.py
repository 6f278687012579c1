"""The call-back request (flows/sample.yaml): the work group is told who to call and when."""
from __future__ import annotations

import logging
import uuid

from engine import outgoing
from engine.contracts import ActionContext
from engine.events import Reply

from ..registry import registry

log = logging.getLogger(__name__)


@registry.action("notify_callback_request", reads=("name", "phone", "time"), gives=("sent_to_group",),
                 templates=("sample/group_notify",))
def notify_callback_request(ctx: ActionContext) -> dict:
    """Queue the request for the work group (in this step's transaction)."""
    system = ctx.services.settings.notify.system
    if not (system.use and system.work_group_id):
        log.warning("call-back request from user %s not sent: notify.system.work_group_id is not set",
                    ctx.user_id)
        return {"sent_to_group": False}
    text = ctx.templates.render("sample/group_notify", ctx.templates.default,
                                ctx.variables(user_id=ctx.user_id))
    outgoing.enqueue(Reply(system.work_group_id, text), key=f"callback:{uuid.uuid4().hex}", priority=3)
    return {"sent_to_group": True}
