"""Phone numbers in E.164 ("+79123456789"), the one form stored and compared.

Users type "8 (912) 345-67-89", "+7 912 345 67 89" or "9123456789"; Telegram's shared
contact sends "79123456789" without the plus. Numbers without a country code are read
as Russian. `parse()` raises PhoneError whose `reason` names a template (phone/<reason>)
the dialog shows; `normalize()` returns None instead. `is_own_contact()` says whether an
event proves a number is the sender's (the only proof the product accepts).
"""
from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

from engine.errors import BotError

__all__ = ["PhoneError", "parse", "normalize", "is_own_contact", "DEFAULT_REGION", "REASONS"]

DEFAULT_REGION = "RU"

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    NumberParseException.NOT_A_NUMBER: "not_a_number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    NumberParseException.TOO_SHORT_NSN: "too_short",
    NumberParseException.TOO_LONG: "too_long",
}
_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "invalid_country_code",
    ValidationResult.TOO_SHORT: "too_short",
    ValidationResult.TOO_LONG: "too_long",
    ValidationResult.INVALID_LENGTH: "invalid_length",
}
REASONS = ("empty", "not_a_number", "invalid_country_code", "too_short", "too_long",
           "invalid_length", "invalid")


class PhoneError(BotError, ValueError):
    """Text that is not a phone number; `reason` is one of REASONS (a template name)."""

    def __init__(self, text: str, reason: str):
        self.text = text
        self.reason = reason
        super().__init__(f"not a phone number ({reason}): {text[:40]!r}")


def _prepare(text: str) -> str:
    text = str(text).strip()
    # A bare "7XXXXXXXXXX" (Telegram contact) or "8XXXXXXXXXX" is a Russian number in full.
    digits = "".join(ch for ch in text if ch.isdigit())
    if not text.startswith("+") and len(digits) == 11 and digits[0] == "7":
        return "+" + digits
    return text


def _parsed(text: str) -> phonenumbers.PhoneNumber:
    try:
        return phonenumbers.parse(_prepare(text), DEFAULT_REGION)
    except NumberParseException as e:
        raise PhoneError(text, _PARSE_REASONS.get(e.error_type, "not_a_number")) from e


def parse(text: str | None) -> str:
    """The number in E.164, or PhoneError with a reason the dialog can explain."""
    if text is None or not str(text).strip():
        raise PhoneError(str(text or ""), "empty")
    number = _parsed(text)
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible in _POSSIBLE_REASONS:
        raise PhoneError(text, _POSSIBLE_REASONS[possible])
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(text, "invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize(text: str | None) -> str | None:
    """The number in E.164, or None when `text` is not a phone number."""
    try:
        return parse(text)
    except PhoneError:
        return None


def is_own_contact(event) -> bool:
    """Whether `event` proves its phone is the sender's: a shared Telegram contact whose
    user_id is the sender (Telegram sets it for one's own contact). A typed number, a card
    of somebody else or a card without a user id proves nothing."""
    contact = getattr(event, "contact", None)
    return (getattr(event, "kind", None) == "contact" and contact is not None
            and contact.user_id is not None and contact.user_id == event.user_id)
