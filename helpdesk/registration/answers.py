"""The questionnaire's answers checked: names and INNs. A bad answer is a
`RegistrationError` whose `reason` names the template the dialog shows."""
from __future__ import annotations

import re

from stdnum.ru import inn as _inn

from engine.errors import BotError

__all__ = ["RegistrationError", "NAME_MIN", "NAME_MAX", "COMPANY_NAME_MAX", "clean_name",
           "clean_inn"]


NAME_MIN, NAME_MAX = 2, 200


COMPANY_NAME_MAX = 300


class RegistrationError(BotError, ValueError):
    """Questionnaire data that cannot be stored; `reason` names a template
    (registration/bad_<reason>) the dialog shows."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


def clean_name(text: str, reason: str = "name", max_len: int = NAME_MAX) -> str:
    """Whitespace collapsed; RegistrationError when shorter than 2 or longer than max_len."""
    name = " ".join(str(text or "").split())
    if len(name) < NAME_MIN or len(name) > max_len:
        raise RegistrationError(reason, f"{reason}: {len(name)} characters, "
                                        f"expected {NAME_MIN}..{max_len}")
    return name


def clean_inn(text: str) -> str:
    """10 or 12 digits with a valid checksum; RegistrationError otherwise."""
    digits = re.sub(r"\s", "", str(text or ""))
    if not _inn.is_valid(digits):
        raise RegistrationError("inn", f"not a valid INN: {digits[:20]!r}")
    return digits
