"""Builders of projects for tests: copies of the shipped flows and templates (tests edit them)
and an app or a check on them; a one-flow project with the engine's own texts."""
from __future__ import annotations

import os
import shutil

from helpdesk.app import build_app, check
from tests.support.paths import ROOT, TESTS

ENGINE_TEXTS = os.path.join(TESTS, "engine", "fixtures", "engine_templates", "ru")


def copied(tmp_path):
    """Copies of the shipped flows and templates under tmp_path (tests edit them)."""
    shutil.copytree(os.path.join(ROOT, "flows"), tmp_path / "flows", ignore=shutil.ignore_patterns("tests"))
    shutil.copytree(os.path.join(ROOT, "templates"), tmp_path / "templates")
    return tmp_path / "templates", tmp_path / "flows"


def app_on_copied_flows(settings, tmp_path, **engine_updates):
    """An app serving copies of the shipped flows and templates (tests then edit them), with
    a work group so that the call-back dialog the tests walk is offered."""
    copied(tmp_path)
    engine = settings.engine.model_copy(update={
        "flows_dir": str(tmp_path / "flows"), "templates_dir": str(tmp_path / "templates"),
        **engine_updates})
    notify = settings.notify.model_copy(update={"system": settings.notify.system.model_copy(
        update={"work_group_id": settings.notify.system.work_group_id or -100777})})
    return build_app(settings.model_copy(update={"engine": engine, "notify": notify}), connect=False)


def _pointed(settings, tmp_path):
    engine = settings.engine.model_copy(update={"flows_dir": str(tmp_path / "flows"),
                                                "templates_dir": str(tmp_path / "templates")})
    return settings.model_copy(update={"engine": engine})


def checked(settings, tmp_path) -> list[str]:
    """`flows check` of the copies under tmp_path: every problem, as the admin reads it."""
    return check(_pointed(settings, tmp_path))


def engine_project(tmp_path, flow: str, texts: dict[str, str]):
    """A one-flow project for engine tests: flows/main.yaml, the engine's own Russian texts
    (common/, console/) and `texts` (name -> source). Returns (flows dir, templates dir, ru)."""
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "main.yaml").write_text(flow, encoding="utf-8")
    ru = tmp_path / "templates" / "ru"
    for folder in ("common", "console"):
        shutil.copytree(os.path.join(ENGINE_TEXTS, folder), ru / folder)
    for name, source in texts.items():
        (ru / f"{name}.j2").write_text(source, encoding="utf-8")
    return str(tmp_path / "flows"), str(tmp_path / "templates"), ru
