"""The wiring (helpdesk.app): one function builds every service by name, and building the
app for the console or a test loads no transport (Telegram, HTTP server)."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

from helpdesk.app import PROJECT_ROOT, Services, build_app
from integrations.crm import CrmClient

TRANSPORTS = ("telegram", "fastapi", "uvicorn", "aiohttp", "starlette")

# What `python run.py console` runs up to the chat loop (helpdesk.ops.commands.console), then
# the transports among the loaded top-level packages.
CONSOLE = """
import sys
from helpdesk import config
from helpdesk.ops import cli, commands
from helpdesk.app import build_app
app = build_app(config.load(environ={"DATABASE__URL": sys.argv[1]}))
print(" ".join(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2:]))))
"""
# What a test does: settings from settings.yaml, the app on an already connected database.
TEST = """
import sys
from engine import storage
from helpdesk import config
from helpdesk.ops import schema
from helpdesk.app import build_app
storage.connect(sys.argv[1])
schema.init()
app = build_app(config.load(environ={}), connect=False)
print(" ".join(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2:]))))
"""


def _loaded_transports(code: str, db_url: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, db_url, *TRANSPORTS], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_building_the_console_app_loads_no_transport(db_url):
    assert _loaded_transports(CONSOLE, db_url) == ""


def test_building_an_app_as_tests_do_loads_no_transport(db_url):
    assert _loaded_transports(TEST, db_url) == ""


def test_every_service_is_a_typed_field_built_once(settings):
    app = build_app(settings, connect=False)
    services = app.services
    assert app.engine.services is services
    assert [f.name for f in dataclasses.fields(Services)] == [
        "settings", "crm", "crm_lookup", "dadata", "notifier", "tickets", "reloader"]
    assert services.settings is settings and services.tickets.notifier is services.notifier
    assert isinstance(services.crm, CrmClient) and services.crm is not services.crm_lookup
    assert not hasattr(app, "extras") and not hasattr(services, "extras")
