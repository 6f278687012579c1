"""Payments' errors: bad input to a payment service, a request no longer open."""
from __future__ import annotations

from engine.errors import BotError

__all__ = ["PaymentError", "RequestNotOpen"]


class PaymentError(BotError, ValueError):
    """Bad input to a payment service; the message names the value."""


class RequestNotOpen(PaymentError):
    """The ticket's payment request was paid or cancelled since the dialog showed it."""
