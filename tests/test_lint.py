"""The linter's escape hatch is explained: every `noqa` names its rule and says why
(`# noqa: BLE001 - the reason`). ruff itself runs in `dev.py test`, before pytest, and its
RUF100 rule reports a `noqa` that suppresses nothing."""
from __future__ import annotations

import os
import re

from tests.support.paths import ROOT

SKIP = {".venv", ".git", "build", "data", "logs", "__pycache__"}
NOQA = re.compile(r"#\s*noqa\b")
JUSTIFIED = re.compile(r"#\s*noqa: [A-Z]+[0-9]+(,\s*[A-Z]+[0-9]+)* - \S")


def python_files() -> list[str]:
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP and not d.startswith(".")]
        found += [os.path.join(folder, f) for f in files if f.endswith(".py")]
    return sorted(found)


def test_every_noqa_names_a_rule_and_a_reason():
    bare = []
    for path in python_files():
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if NOQA.search(line) and not JUSTIFIED.search(line):
                    bare.append(f"{os.path.relpath(path, ROOT)}:{n}: {line.strip()}")
    assert bare == []
