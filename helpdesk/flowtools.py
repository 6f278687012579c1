"""The helpdesk's side of the engine's flow tools (engine.tools): what `run.py flows draw`
and `run.py flows test` run, and the job that hot-reloads flows and templates.

The tools are generic; this module gives them the helpdesk's folders, its checker
(helpdesk.app.check), its way to build an engine for a scenario (helpdesk.app.build_app)
and its scenario fixtures.
"""
from __future__ import annotations

import importlib
import logging
import sys

from engine.tools import diagrams, scenarios

from .app import PROJECT_ROOT, build_app, check, project_path
from .registry import registry

__all__ = ["draw", "test", "scenario_project", "FIXTURES", "FIXTURE_MODULES", "watch_flows"]

# Scenario fixtures (`fixtures: [crm]` in a scenario): `@FIXTURES.fixture("crm")`.
FIXTURES = scenarios.Fixtures()
# Modules that register fixtures, imported (when present) before scenarios run.
FIXTURE_MODULES = ("tests.support.fakes.scenario_fixtures",)


def draw(settings, args) -> int:
    """`python run.py flows draw`: diagrams of every flow in docs/flows/."""
    out_dir = project_path(getattr(args, "out", None) or diagrams.OUT_DIR)
    return diagrams.command(project_path(settings.engine.flows_dir), out_dir, PROJECT_ROOT,
                            lambda: check(settings))


def scenario_project() -> scenarios.Project:
    """What the scenario runner needs: a fresh app per scenario, the fixtures."""
    _load_fixture_modules()
    return scenarios.Project(build=lambda s: build_app(s).engine, root=PROJECT_ROOT,
                             fixtures=FIXTURES)


def test(settings, args) -> int:
    """`python run.py flows test [FILE ...]`: the scenarios in flows/tests/ (or FILEs)."""
    if not logging.getLogger().handlers:       # not when embedded (pytest, an app that logs already)
        from .ops import logs
        logs.configure(settings, console=False)   # the log file keeps tracebacks; failures print here
    paths = list(getattr(args, "files", None) or []) or \
        scenarios.scenario_files(project_path(settings.engine.flows_dir))
    if not paths:
        print("no scenarios in flows/tests/*.yaml", file=sys.stderr)
    return scenarios.run_paths(paths, settings, scenario_project())


def _load_fixture_modules() -> None:
    for name in FIXTURE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and not name.startswith(e.name):
                raise              # the module exists but one of its imports is missing


@registry.job("watch_flows", every=lambda s: s.engine.watch_seconds or 3600, everywhere=True)
def watch_flows(app) -> None:
    """The watcher of flows/ and templates/ (engine.tools.reload): runs in the jobs
    scheduler's thread; `watch_seconds: 0` turns it off."""
    if app.settings.engine.watch_seconds:
        app.services.reloader.poll()
