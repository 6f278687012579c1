"""A generic conversational engine: dialogs are YAML state machines (flows/*.yaml), texts
are Jinja templates (templates/<lang>/), conversations live in the database.

The engine knows no helpdesk word and no Telegram type: transports turn their updates into
`Event`s and send the `Reply`s back.
"""
from .contracts import ActionContext, Contract, Outcome
from .errors import ActionError, BotError, FlowConfigError, IntegrationError, SettingsError
from .events import Button, Contact, Event, FileRef, KeyButton, Reply
from .flowset import FlowSet, check_flowset, load_flowset
from .registry import Registry
from .runtime import Engine, Step

__all__ = ["Engine", "Step", "Event", "Reply", "Button", "KeyButton", "Contact", "FileRef",
           "Registry", "ActionContext", "Contract", "Outcome", "FlowSet", "load_flowset", "check_flowset", "BotError",
           "FlowConfigError", "ActionError", "IntegrationError", "SettingsError"]
