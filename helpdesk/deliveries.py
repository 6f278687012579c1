"""Who receives what, with the current settings: the bot promises only what someone gets.

A call-back request reaches the work group only; a ticket is seen by staff in the work group,
in the CRM it is pushed to, or by a CRM that pulls it through the API; a client is told of a
status change only when someone can change it and user notices are on. With nobody on the
other end the texts say how a request is recorded instead of promising a call or a reply,
the menu hides the call-back button, and every process says at start, in one warning, which
deliveries go nowhere (`log_undelivered`).

    delivery = Deliveries.from_settings(settings)    # the `delivery` template variable
    delivery.callbacks, delivery.tickets_seen, delivery.status_notices
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

__all__ = ["Deliveries", "log_undelivered"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deliveries:
    callbacks: bool         # a call-back request reaches somebody who can call
    tickets_seen: bool      # new tickets reach staff (work group, pushed to or pulled by a CRM)
    status_notices: bool    # the client is told when a ticket is taken or done
    bug_reports: bool       # errors reach a developer
    card_payments: bool     # a card payment can be made (provider token set), when offered

    @classmethod
    def from_settings(cls, settings) -> Deliveries:
        system, user = settings.notify.system, settings.notify.user
        group = bool(system.use and system.work_group_id)
        crm = settings.crm.kind != "none" or bool(settings.api.tokens)
        return cls(
            callbacks=group,
            tickets_seen=(group and system.new_ticket) or crm,
            # a work group always has staff who may take a ticket: its Telegram admins are
            # dispatchers (helpdesk/desk/staff.py), whatever tickets.technicians seeds
            status_notices=bool(user.use and user.status_changed and (group or crm)),
            bug_reports=bool(settings.notify.bug.use and settings.notify.bug.telegram_user_id),
            card_payments=not (settings.pay.use and settings.pay.card)
            or bool(settings.bot.payment.get_secret_value()))

    def as_dict(self) -> dict:
        return asdict(self)

    def gaps(self) -> list[str]:
        """The names of the deliveries that go nowhere (template bot/undelivered says them)."""
        return [name for name, on in self.as_dict().items() if not on]

    def nowhere(self) -> list[str]:
        """What goes nowhere, each with the setting that would send it somewhere."""
        gaps = {
            "callbacks": "call-back requests: nobody to call (set notify.system.work_group_id); "
                         "the menu hides the button",
            "tickets_seen": "new tickets: no staff sees them (set notify.system.work_group_id, "
                            "crm.kind or api.tokens); clients are told their ticket is recorded, "
                            "nothing more",
            "status_notices": "ticket status notices: nobody can take a ticket (no work group, "
                              "whose admins and staff take them; no CRM) or notify.user is off; "
                              "no text promises them",
            "bug_reports": "error reports: no recipient (notify.bug.telegram_user_id); errors "
                           "are in the log only",
            "card_payments": "card payments: pay.card is on without bot.payment (the provider "
                             "token); they are refused when chosen",
        }
        return [gaps[name] for name in self.gaps()]


def log_undelivered(settings) -> list[str]:
    """One warning at start listing every delivery that goes nowhere (none: nothing logged)."""
    gaps = Deliveries.from_settings(settings).nowhere()
    if gaps:
        log.warning("with these settings some deliveries go nowhere:\n  - %s", "\n  - ".join(gaps))
    return gaps
