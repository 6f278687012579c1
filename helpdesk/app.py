"""Wiring: settings -> database, flows, engine, integrations. Built in `main()`, never at
import time, so tests build as many independent apps as they need."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from engine import Engine, FlowSet, check_flowset, load_flowset, storage

from .config import Settings
from .registry import load, registry

__all__ = ["App", "build_app", "build_flowset", "check", "PROJECT_ROOT", "project_path"]

log = logging.getLogger(__name__)
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def project_path(path: str) -> str:
    """Relative paths in settings are relative to the project folder."""
    return path if os.path.isabs(path) else os.path.join(PROJECT_ROOT, path)


@dataclass
class App:
    """What actions reach through `step.services`."""
    settings: Settings
    engine: Engine | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # integrations (crm, dadata, notifier ...) are attached by their modules' setup
        extras = self.__dict__.get("extras", {})
        if name in extras:
            return extras[name]
        raise AttributeError(name)


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
    """Connect the database, create missing tables, load flows, build the engine."""
    if connect:
        storage.connect(settings.database.url)
        _create_schema()
    app = App(settings)
    _setup_services(app)
    app.engine = Engine(build_flowset(settings), registry, services=app,
                        max_auto_steps=settings.engine.max_auto_steps)
    return app


def _create_schema() -> None:
    try:
        from helpdesk import schema
    except ImportError:
        storage.create_schema()
    else:
        schema.init()


def _setup_services(app: App) -> None:
    """Let every helpdesk module that has `setup(app)` attach its services."""
    import importlib
    import pkgutil
    import helpdesk
    for mod in pkgutil.iter_modules(helpdesk.__path__):
        module = importlib.import_module(f"helpdesk.{mod.name}")
        setup = getattr(module, "setup_services", None)
        if callable(setup):
            setup(app)
