"""docs/architecture.md names each hop of a message and of a ticket as `file:function`: every
one must exist, so the map cannot drift from the code."""
from __future__ import annotations

import ast
import os
import re

from helpdesk.app import PROJECT_ROOT

DOC = os.path.join(PROJECT_ROOT, "docs", "architecture.md")
HOP = re.compile(r"`([\w/]+\.py):([\w.]+)")


def _defined(path: str) -> set[str]:
    """Top-level names (functions, classes, assignments) and Class.method names of a module."""
    tree = ast.parse(open(os.path.join(PROJECT_ROOT, path), encoding="utf-8").read(), path)
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
        if isinstance(node, ast.ClassDef):
            names |= {f"{node.name}.{m.name}" for m in node.body
                      if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return names


def test_every_hop_in_the_architecture_doc_exists():
    text = open(DOC, encoding="utf-8").read()
    hops = HOP.findall(text)
    assert len(hops) >= 15                                   # both paths are described
    missing = [f"{path}:{name}" for path, name in hops
               if not os.path.exists(os.path.join(PROJECT_ROOT, path)) or name not in _defined(path)]
    assert missing == []


def test_the_message_path_has_at_most_ten_hops():
    text = open(DOC, encoding="utf-8").read()
    section = text.split("## One message, from update to reply")[1].split("\n## ")[0]
    steps = re.findall(r"^\d+\. ", section, re.M)
    assert 1 <= len(steps) <= 10
