"""`python run.py ...`: one CLI for everything an operator runs.

Each subcommand's implementation lives in the module that owns the feature and is imported
only when that subcommand runs (the bot's dependencies are not loaded by `flows check`).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from engine.errors import BotError, FlowConfigError, SettingsError

__all__ = ["main"]

log = logging.getLogger(__name__)

# name -> (help, "module:function", extra-arguments builder)
COMMANDS: dict[str, tuple[str, str]] = {
    "console": ("terminal chat on the same engine (no Telegram needed)", "helpdesk.ops.commands:console"),
    "demo": ("seed demo data and open the terminal chat", "helpdesk.ops.commands:demo"),
    "bot": ("run the Telegram bot (polling or webhook, see settings bot.mode)", "helpdesk.ops.bot:run"),
    "api": ("run the REST API for the CRM", "helpdesk.api.server:run"),
    "report": ("write tickets CSV and a PNG chart for a period", "helpdesk.tickets.reports:run"),
    "health": ("JSON state of the running bot/api processes and the inbox; non-zero exit when unhealthy",
               "helpdesk.ops.health:run"),
}
GROUPS: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "flows": ("flows: check, draw, test", {
        "check": ("list every problem of every flow file; non-zero exit on any", "helpdesk.ops.commands:flows_check"),
        "draw": ("write diagrams of every flow to docs/flows/", "helpdesk.flowtools:draw"),
        "test": ("run the YAML dialog scenarios in flows/tests/", "helpdesk.flowtools:test"),
    }),
    "db": ("database: init, upgrade, makemigration", {
        "init": ("create every table (safe to re-run)", "helpdesk.ops.commands:db_init"),
        "upgrade": ("apply the migrations the database has not had, without losing rows",
                    "helpdesk.ops.commands:db_upgrade"),
        "makemigration": ("write the next migration for what the models changed",
                          "helpdesk.ops.commands:db_makemigration"),
    }),
    "sync": ("CRM outbox: status, run", {
        "status": ("show the outbox queue", "helpdesk.sync.cli:status"),
        "run": ("drain the outbox once", "helpdesk.sync.cli:run_once"),
    }),
}
ARGUMENTS = {
    "bot": [(("--workers",), dict(type=int, help="webhook worker processes (PostgreSQL)"))],
    "report": [(("--from",), dict(dest="date_from", required=True, help="YYYY-MM-DD")),
               (("--to",), dict(dest="date_to", required=True, help="YYYY-MM-DD")),
               (("--out",), dict(default="reports", help="output folder")),
               (("--lang",), dict(default=None, help="the chart's language (default: the templates' default)"))],
    "db makemigration": [(("name",), dict(help="what it changes, e.g. desk_sla"))],
    "flows test": [(("files",), dict(nargs="*", help="scenario files (default: flows/tests/*.yaml)"))],
    "console": [(("--user-id",), dict(type=int, default=700000001, help="your Telegram id in the chat")),
                (("--lang",), dict(default="ru", help="ru or en"))],
    "demo": [(("--user-id",), dict(type=int, default=700000001, help="your Telegram id in the chat")),
             (("--lang",), dict(default="ru", help="ru or en"))],
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run.py", description="Telegram helpdesk bot on a YAML flow engine")
    p.add_argument("--settings", help="settings file (default: $SETTINGS_FILE or ./settings.yaml)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (text, target) in COMMANDS.items():
        cmd = sub.add_parser(name, help=text, description=text)
        _arguments(cmd, name)
        cmd.set_defaults(target=target)
    for group, (text, children) in GROUPS.items():
        g = sub.add_parser(group, help=text, description=text)
        gsub = g.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
        for name, (ctext, target) in children.items():
            c = gsub.add_parser(name, help=ctext, description=ctext)
            _arguments(c, f"{group} {name}")
            c.set_defaults(target=target)
    return p


def _arguments(cmd: argparse.ArgumentParser, name: str) -> None:
    for flags, options in ARGUMENTS.get(name, []):
        cmd.add_argument(*flags, **options)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        from helpdesk import config
        settings = config.load(args.settings)
        return _call(args.target, settings, args) or 0
    except SettingsError as e:
        _print_problems("settings", e.problems)
        return 2
    except FlowConfigError as e:
        _print_problems("flows", e.problems)
        return 1
    except BotError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _call(target: str, settings, args) -> int | None:
    module, func = target.split(":")
    try:
        fn = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as e:
        print(f"error: this command is not available in this build ({e})", file=sys.stderr)
        return 3
    return fn(settings, args)


def _print_problems(what: str, problems: list[str]) -> None:
    for line in problems:
        print(line, file=sys.stderr)
    print(f"{len(problems)} problem(s) in {what}", file=sys.stderr)
