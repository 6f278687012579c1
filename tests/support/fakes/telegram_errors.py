"""The fake Bot API's error answers (shared by telegram_api.py and telegram_forum.py)."""
from __future__ import annotations

__all__ = ["ApiError", "bad"]


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": status, "description": ...}``."""

    def __init__(self, status: int, description: str, retry_after: int | None = None):
        super().__init__(f"{status} {description}")
        self.status, self.description, self.retry_after = status, description, retry_after

    def to_json(self) -> dict:
        body = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad(description: str) -> ApiError:
    """A 400 as Telegram words it: "Bad Request: <description>"."""
    return ApiError(400, f"Bad Request: {description}")
