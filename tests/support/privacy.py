"""The consent to personal data (152-ФЗ) that now comes before the first phone or name
(registration, a ticket of a person with no company, the call-back request): tests that
get there press it, in the chat's language."""
from __future__ import annotations

from engine.testing import Chat

AGREE = {"ru": "✅ Согласен", "en": "✅ I agree"}


def agree(c: Chat, language: str = "ru") -> None:
    """Accept the consent the bot has just shown (templates/<lang>/privacy/btn_accept.j2)."""
    c.click(AGREE[language])
