"""Wiring: settings -> database, services, flows, engine, in plain code and dependency order.

`build_app` is the one place that builds a running bot; `build_services` the one place that
builds what actions reach through `step.services` (and jobs through `app.services`). Nothing
is found by module or attribute name. Built at call time, never at import time, so tests
build as many independent apps as they need; building one imports no transport (Telegram,
HTTP server): those are imported by the commands that start them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from engine import Engine, FlowSet, check_flowset, load_flowset, storage
from engine.tools.reload import Reloader
from integrations.crm import CrmClient
from integrations.dadata import DadataClient

from . import payments
from .config import PROJECT_ROOT, Settings, project_path
from .desk import assign, group, ratings, sla, staff, topics
from .ops import schema
from .registry import load, registry
from .services import crm_client, dadata_client
from .tickets import TicketService
from .tickets.notifications import Notifier

__all__ = ["App", "Services", "build_app", "build_services", "build_flowset", "check",
           "PROJECT_ROOT", "project_path"]

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What actions reach through `step.services` (jobs and the API through `app.services`).

    The directory, registration, payments and sync modules are functions over the database
    that take what they need as arguments: they hold nothing to build, so they are no field.
    """
    settings: Settings
    crm: CrmClient            # settings crm.*: the outbox sync and the jobs (retries)
    crm_lookup: CrmClient     # the same CRM for calls a user waits on: no retry, timeout <= 5 s
    dadata: DadataClient      # settings dadata.*: company by INN, no retry
    notifier: Notifier        # ticket notifications, queued in the change's transaction
    tickets: TicketService    # every ticket operation (rights, history, outbox, notifications)
    reloader: Reloader        # hot reload of flows/ and templates/ (job watch_flows, /reload)


@dataclass
class App:
    """One bot: its settings, its services and the engine that carries them to the actions.
    `build_app` fills `services` and `engine`; an `App(settings)` alone is enough for what
    reads only settings (the OpenAPI spec)."""
    settings: Settings
    services: Services = field(init=False)
    engine: Engine = field(init=False)


def _flow_options(settings: Settings) -> dict:
    e = settings.engine
    return dict(languages=e.languages, default_language=e.default_language,
                menu_flow=e.menu_flow, commands=e.commands, root=PROJECT_ROOT, timezone=e.timezone,
                restricted={"settings": (e.template_settings,
                                         "engine.template_settings in settings.yaml")})


def check(settings: Settings) -> list[str]:
    """Every problem of the flow set (empty when it can be loaded)."""
    load()     # every registration: helpdesk.registry.MODULES
    e = settings.engine
    return check_flowset(project_path(e.flows_dir), project_path(e.templates_dir), registry,
                         **_flow_options(settings))[2]


def build_flowset(settings: Settings) -> FlowSet:
    load()     # every registration: helpdesk.registry.MODULES
    e = settings.engine
    return load_flowset(project_path(e.flows_dir), project_path(e.templates_dir), registry,
                        **_flow_options(settings))


def build_app(settings: Settings, *, connect: bool = True) -> App:
    """Connect the database, create missing tables, build the services, load the flows,
    build the engine."""
    if connect:
        storage.connect(settings.database.url)
        schema.init()
        staff.seed(settings)          # settings tickets.technicians only seed the roster
        group.follow_moves(settings)  # a work group upgraded to a supergroup: its new id
    app = App(settings)
    app.services = build_services(app)
    app.engine = Engine(build_flowset(settings), registry, services=app.services,
                        max_auto_steps=settings.engine.max_auto_steps)
    return app


# The support desk's reactions to a ticket change (helpdesk/desk), in this order.
DESK_LISTENERS: tuple = (
    topics.follow_ticket,             # the ticket's topic: renamed, closed, reopened
    assign.notify_assignee,           # the technician a dispatcher assigned is told
    sla.on_ticket_change,             # the ticket's SLA timers: started, paused, stopped
    ratings.on_ticket_change,         # a done ticket asks its author for a rating
)


def build_services(app: App) -> Services:
    """Every service of `app`, each built from settings and the ones above it.

    The notifier and the reloader look up `app.engine` when they run, not now: the engine
    is built after the services, since it is what carries them to the actions. The
    reloader is built before the first load, so an edit made during it is seen."""
    settings = app.settings
    payments.warn_unusable_options(settings)
    crm = crm_client(settings)
    crm_lookup = crm_client(settings, interactive=True)
    dadata = dadata_client(settings)
    notifier = Notifier(settings, lambda: app.engine.flowset.templates,
                        listeners=DESK_LISTENERS)
    tickets = TicketService(settings, notifier)
    e = settings.engine
    reloader = Reloader(lambda: app.engine, lambda: build_flowset(app.settings),
                        project_path(e.flows_dir), project_path(e.templates_dir))
    log.info("services: crm=%s dadata=%s", settings.crm.kind,
             "on" if dadata.enabled else "off (no api key)")
    return Services(settings=settings, crm=crm, crm_lookup=crm_lookup, dadata=dadata,
                    notifier=notifier, tickets=tickets, reloader=reloader)
