"""The fake Bot API's error answers (shared by telegram_api.py and telegram_forum.py)."""
from __future__ import annotations

__all__ = ["ApiError", "bad"]


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": status, "description": ...}``."""

    def __init__(self, status: int, description: str, retry_after: int | None = None,
                 migrate_to_chat_id: int | None = None):
        super().__init__(f"{status} {description}")
        self.status, self.description, self.retry_after = status, description, retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def to_json(self) -> dict:
        body = {"ok": False, "error_code": self.status, "description": self.description}
        parameters = {k: v for k, v in (("retry_after", self.retry_after),
                                        ("migrate_to_chat_id", self.migrate_to_chat_id)) if v is not None}
        if parameters:
            body["parameters"] = parameters
        return body


def bad(description: str) -> ApiError:
    """A 400 as Telegram words it: "Bad Request: <description>"."""
    return ApiError(400, f"Bad Request: {description}")
