"""One exception tree for the engine (errors carry where they come from)."""
from __future__ import annotations

__all__ = ["BotError", "SettingsError", "FlowConfigError", "ActionError", "IntegrationError",
           "NotYet"]


class BotError(Exception):
    """Root of every error this product raises on purpose."""


class SettingsError(BotError):
    """Settings that cannot be used; `problems` lists every one as `file:line:col: ...`."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class FlowConfigError(BotError):
    """A flow set that cannot be loaded; `problems` lists `file:line:col: message` lines."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ActionError(BotError):
    """An action failed; the message names `flow/state/action`."""

    def __init__(self, where: str, message: str):
        self.where = where
        super().__init__(f"{where}: {message}")


class IntegrationError(BotError):
    """An external system (a CRM, a lookup service, any API called) failed; the original error
    is chained."""

    def __init__(self, system: str, message: str, *, retryable: bool = True):
        self.system = system
        self.retryable = retryable
        super().__init__(f"{system}: {message}")


class NotYet(BotError):
    """Raised by a handler to put an update off: what it needs is not there yet (the bot's
    own message it answers is sent but its id not written down), so the step is rolled back
    and the transport tries the update again a little later, the chat's later updates
    queued behind it. Raise it only while `Event.may_wait`: on the last try the handler
    decides with what it has. The message says what was missing (chat, message)."""
