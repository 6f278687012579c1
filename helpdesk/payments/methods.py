"""Which payment methods can work with these settings: a card needs a provider token,
the SBP option an http(s) payment link; `warn_unusable_options` says at start what is
switched on but cannot work (the dialogs refuse it clearly)."""
from __future__ import annotations

import logging

__all__ = ["card_ready", "sbp_ready", "payable", "warn_unusable_options"]

log = logging.getLogger(__name__)


def card_ready(settings) -> bool:
    """Card payment is on and a provider token is set (otherwise it is refused when chosen)."""
    return bool(settings.pay.card and settings.bot.payment.get_secret_value())


def sbp_ready(settings) -> bool:
    from integrations.payments import is_payment_link
    return bool(settings.pay.sbp_static and is_payment_link(settings.pay.sbp_static_link))


def payable(settings) -> bool:
    """Payments are on and at least one method can take money: only then does a debt or an
    unpaid ticket offer Pay (a button that can only be refused is a promise not kept)."""
    return bool(settings.pay.use and (card_ready(settings) or sbp_ready(settings)))


def warn_unusable_options(settings) -> None:
    """Say at start what is switched on but cannot work (the dialogs refuse it clearly)."""
    pay = settings.pay
    if pay.use and pay.card and not card_ready(settings):
        log.warning("pay.card is on but bot.payment (provider token) is empty: card payments "
                    "will be refused when chosen; set bot.payment or pay.card: false")
    if pay.use and pay.sbp_static and not sbp_ready(settings):
        log.warning("pay.sbp_static is on but pay.sbp_static_link is not an http(s) URL: "
                    "the SBP option is not offered")
