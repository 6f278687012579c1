"""Implementations of the small CLI commands (console, demo, flows check, db)."""
from __future__ import annotations

import sys

from engine.console import Console
from helpdesk.app import build_app, check
from helpdesk.deliveries import Deliveries, log_undelivered
from helpdesk.desk import staff

from . import logs

__all__ = ["console", "demo", "flows_check", "db_init", "db_upgrade"]


def console(settings, args) -> int:
    logs.configure(settings, console=False)
    app = build_app(settings)
    _tell_undelivered(app, args.lang)
    Console(app.engine, user_id=args.user_id, language=args.lang).run()
    return 0


def demo(settings, args) -> int:
    """Demo data, both sides of the product in one terminal (`/as` switches person)."""
    logs.configure(settings, console=False)
    demo_console(settings, user_id=args.user_id, lang=args.lang).run()
    return 0


def demo_console(settings, *, user_id: int, lang: str, read=input, write=print,
                 connect: bool = True) -> Console:
    """The demo's terminal chat, its banner written: a work group and a technician when the
    settings have none, the demo people registered, every queued message delivered."""
    from helpdesk.ops import demo as demo_data
    demo_data.configure(settings)
    app = build_app(settings, connect=connect)
    _tell_undelivered(app, lang, write)
    seeded = demo_data.seed_demo()
    staff.seed(settings)                 # the demo technician on the roster (connect=False too)
    demo_data.seed_staff()               # ... named, with a dispatcher ("Назначить")
    demo_data.register_people()
    people = demo_data.personas(seeded, app.engine.flowset.templates, lang, user_id)
    write(demo_data.banner(seeded, lang, people))
    return Console(app.engine, user_id=user_id, language=lang, read=read, write=write,
                   personas=people, deliver_queued=True)


def _tell_undelivered(app, lang: str, write=print) -> None:
    """The terminal chat logs to a file: say what goes nowhere on the screen too, in the
    chat's language (the log keeps its English line)."""
    log_undelivered(app.settings)
    gaps = Deliveries.from_settings(app.settings).gaps()
    if gaps:
        write(app.engine.flowset.templates.render_label("bot/undelivered", lang, {"gaps": gaps}))


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


def db_makemigration(settings, args) -> int:
    """Write the next migration for what the models changed (a scratch database lends
    peewee-migrate its dialect: the configured one is not touched)."""
    import os

    from engine import storage
    from helpdesk.ops import migrations, schema
    storage.connect("sqlite:///:memory:")
    name = schema.make_migration(args.name, os.path.dirname(migrations.__file__))
    print(f"wrote helpdesk/ops/migrations/{name}.py: read it, commit it with the model"
          if name else "the migrations already match the models: nothing written")
    return 0


def db_upgrade(settings, args) -> int:
    from engine import storage
    from helpdesk.ops import schema
    storage.connect(settings.database.url)
    for line in schema.upgrade() or []:
        print(line)
    print("database upgraded")
    return 0
