#!/usr/bin/env python3
"""The helpdesk bot's one command line: `python run.py --help`.

Started by a Python that lacks the dependencies (a fresh shell, `python run.py demo` after
`python3 dev.py demo` set up `.venv/`), it runs itself again in `.venv/`, so every command
README, docs and the bot print works as printed.
"""
import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")
VENV_PYTHON = os.path.join(VENV, "Scripts" if os.name == "nt" else "bin", "python")


def _in_venv_when_needed() -> None:
    if importlib.util.find_spec("transitions") is not None:
        return
    if os.path.exists(VENV_PYTHON) and os.path.realpath(sys.prefix) != os.path.realpath(VENV):
        os.execv(VENV_PYTHON, [VENV_PYTHON, os.path.abspath(__file__), *sys.argv[1:]])
    sys.exit("the bot's dependencies are not installed: run `python3 dev.py demo` once "
             "(it creates .venv/ and installs them), then this command again")


if __name__ == "__main__":
    _in_venv_when_needed()
    from helpdesk.ops.cli import main
    sys.exit(main())
