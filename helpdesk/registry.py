"""The one registry of the helpdesk: every action, predicate, provider, callback, event
handler, input type, template filter, periodic job and sync entity is registered here.

    from helpdesk.registry import registry

    @registry.action("ticket_submit", reads=("type",), gives=("created",),
                     outcomes=("created", "duplicate", "refused"), templates=("ticket/denied",))
    def submit(ctx: ActionContext) -> Outcome: ...

    @registry.job("sync_outbox", every=lambda s: s.sync.interval_seconds)
    def sync_outbox(app): ...

    @registry.sync_entity("ticket", TicketData, send=..., parents=...)
    def build_ticket(item): ...

Registrations are made by decorators in the modules listed in `MODULES`; `load()` imports
exactly those, so this list is every place a name can come from. The engine's own input
types and filters (engine.builtins, with the helpdesk's phone region) and the helpdesk's
formats (helpdesk.formats: inn, money) are added explicitly. The engine freezes the registry
when it starts: a name registered twice or after start is refused.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from engine import builtins
from engine.registry import Registry

from . import formats

__all__ = ["registry", "load", "MODULES", "HelpdeskRegistry", "Job", "EntitySpec"]

# Every module that registers something, by name (load() imports them in this order).
MODULES = (
    "helpdesk.context",                   # providers: user, settings
    "helpdesk.actions.admin",             # reload_flows
    "helpdesk.actions.callback_request",
    "helpdesk.actions.payments",          # payment actions, pay callback, payment events
    "helpdesk.actions.registration",      # registration actions, company callback
    "helpdesk.actions.tickets",           # ticket, list, stats and work-group actions
    "helpdesk.actions.privacy",           # consent and /forget actions, provider privacy
    "helpdesk.tickets.workgroup",         # work-group callback (wg:...)
    "helpdesk.desk.assign",               # the dispatcher's assign callback (as:...)
    "helpdesk.desk.commands",             # /staff, /technician, /dispatcher, /unstaff
    "helpdesk.desk.admins",               # job desk_admins (the work group's admins)
    "helpdesk.desk.mine",                 # staff's "assigned to me": action, provider staff
    "helpdesk.desk.talk",                 # group / private chat handlers, ticket_write actions
    "helpdesk.actions.ratings",           # rating callback (rt:...), comment action, reminder job
    "helpdesk.registration.lookups",      # job registration_lookups
    "helpdesk.flowtools",                 # job watch_flows
    "helpdesk.sync.records",              # sync entities
    "helpdesk.privacy.crm",               # sync entity person (erase)
    "helpdesk.sync.jobs",                 # jobs sync_outbox, sync_reconcile, sync_references
    "helpdesk.desk.sla",                  # job sla_timers, provider sla
    "helpdesk.tickets.notifications",     # texts of the ticket notices
    "helpdesk.payments.notifications",    # texts of the payment notices
    "helpdesk.sync.push",                 # text of the dead letters
    "helpdesk.ops.reporting",             # text of the bug reports
    "helpdesk.ops.demo",                  # texts of the demo's banner and personas
)


@dataclass(frozen=True)
class Job:
    """A periodic job (run by helpdesk.ops.jobs): `every` is seconds or settings -> seconds."""
    name: str
    fn: Callable[[Any], Any]
    every: Callable[[Any], float] | float
    everywhere: bool = False          # every process runs it (no cross-worker lock)
    at_start: bool = False            # the first run right at start, not one interval later


@dataclass(frozen=True)
class EntitySpec:
    """How one outbox entity reaches the CRM (run by helpdesk.sync.push).

    build(item) -> the record to send (a dataclass of integrations.crm), or raise Skip;
    parents(item) -> [(entity, id)] whose older queued items must go first;
    send(crm, record, key) -> what the CRM answered; write_back(item, answer) stores ids;
    refresh(item, record) -> the frozen record of a retry with what it lacks filled in
    (a ticket frozen before its guid was part of the body gets the ticket's fixed guid).
    Optional batch forms, for a drain's batch (a few statements, not a few an item):
    build_many(items) -> {item id: record}; an item left out is built alone by `build`
    (its Skip, its error); write_back_many([(item, answer)]) stores all or raises, and
    then the batch is written back item by item through `write_back`.
    """
    name: str
    record: type
    build: Callable[[Any], Any]
    send: Callable[[Any, Any, str], Any]
    parents: Callable[[Any], list[tuple[str, int]]] = lambda item: []
    write_back: Callable[[Any, Any], None] = lambda item, answer: None
    refresh: Callable[[Any, Any], Any] = lambda item, record: record
    build_many: Callable[[list], dict] | None = None
    write_back_many: Callable[[list], None] | None = None


@dataclass
class HelpdeskRegistry(Registry):
    """The engine's registry plus the helpdesk's own kinds: jobs and sync entities."""
    jobs: dict[str, Job] = field(default_factory=dict)
    sync_entities: dict[str, EntitySpec] = field(default_factory=dict)

    def register_job(self, job: Job) -> None:
        self._add(self.jobs, job.name, job)

    def register_sync_entity(self, spec: EntitySpec) -> None:
        self._add(self.sync_entities, spec.name, spec)

    def job(self, name: str, *, every: Callable[[Any], float] | float, everywhere: bool = False,
            at_start: bool = False):
        """Decorator: `@registry.job("sync_outbox", every=lambda s: s.sync.interval_seconds)`."""
        def deco(fn):
            self.register_job(Job(name, fn, every, everywhere, at_start))
            return fn
        return deco

    def sync_entity(self, name: str, record: type, *, send: Callable, parents: Callable | None = None,
                    write_back: Callable | None = None, refresh: Callable | None = None,
                    build_many: Callable | None = None, write_back_many: Callable | None = None):
        """Decorator over the entity's build(item): teaches the drain an outbox entity."""
        extra = {k: v for k, v in (("parents", parents), ("write_back", write_back),
                                   ("refresh", refresh), ("build_many", build_many),
                                   ("write_back_many", write_back_many)) if v}

        def deco(build):
            self.register_sync_entity(EntitySpec(name, record, build, send, **extra))
            return build
        return deco


def new_registry() -> HelpdeskRegistry:
    """An empty helpdesk registry holding the engine's built-in input types and filters
    and the helpdesk's own formats."""
    reg = HelpdeskRegistry()
    builtins.register(reg, phone_region=formats.PHONE_REGION)
    formats.register(reg)
    return reg


registry = new_registry()


def load() -> HelpdeskRegistry:
    """Import every registering module (MODULES); idempotent. Returns the registry."""
    for name in MODULES:
        importlib.import_module(name)
    return registry
