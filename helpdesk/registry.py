"""The registry every helpdesk action, predicate, provider and callback registers in.

    from helpdesk.registry import registry

    @registry.action("create_ticket", provides=["ticket"])
    def create_ticket(step, **args): ...
"""
from engine.registry import Registry

__all__ = ["registry"]

registry = Registry()
