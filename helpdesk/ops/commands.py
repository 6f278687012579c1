"""Implementations of the small CLI commands (console, demo, flows check, db)."""
from __future__ import annotations

import sys

from engine.console import Console
from helpdesk.app import build_app, check

from . import logs

__all__ = ["console", "demo", "flows_check", "db_init", "db_upgrade"]


def console(settings, args) -> int:
    logs.configure(settings, console=False)
    app = build_app(settings)
    Console(app.engine, user_id=args.user_id, language=args.lang).run()
    return 0


def demo(settings, args) -> int:
    logs.configure(settings, console=False)
    app = build_app(settings)
    banner = _seed_demo()
    if banner:
        print(banner)
    Console(app.engine, user_id=args.user_id, language=args.lang).run()
    return 0


def _seed_demo() -> str:
    try:
        from helpdesk.ops import demo as demo_data
    except ImportError:
        return ""
    return demo_data.banner(demo_data.seed_demo()) if hasattr(demo_data, "banner") else ""


def flows_check(settings, args) -> int:
    problems = check(settings)
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} problem(s); the flow set will not be loaded", file=sys.stderr)
        return 1
    print("flows OK")
    return 0


def db_init(settings, args) -> int:
    from engine import storage
    from helpdesk.ops import schema
    storage.connect(settings.database.url)
    schema.init()
    print("database ready")
    return 0


def db_upgrade(settings, args) -> int:
    from engine import storage
    from helpdesk.ops import schema
    storage.connect(settings.database.url)
    for line in schema.upgrade() or []:
        print(line)
    print("database upgraded")
    return 0
