"""`engine.outgoing` is the only writer of the outgoing queue's rows (their status, lease and
marks), and the queue has one name: a scan of every module of the product.

The scan reads the source (AST): a call of a write method (`update`, `insert`, `delete`...)
on the `Outgoing` model or a name bound to it (`O = outgoing.Outgoing`), a claim of its rows
(`lease_rows`), a row fetched from it and then changed or saved, or SQL text that writes the
`outgoing` table. Before this rule, the dispatcher, the sender and the bot each changed rows.
"""
from __future__ import annotations

import ast
import os
import re

import pytest

from tests.support.paths import ROOT

PRODUCT = ("engine", "helpdesk", "integrations", "run.py", "dev.py")
OWNER = os.path.join("engine", "outgoing.py")
WRITES = {"update", "insert", "insert_many", "insert_from", "replace", "replace_many", "delete",
          "delete_by_id", "delete_instance", "create", "get_or_create", "bulk_create",
          "bulk_update", "set_by_id", "save"}
FETCHES = {"get", "get_by_id", "get_or_none", "select", "first"}
SQL_WRITE = re.compile(r"\b(update|insert\s+into|delete\s+from)\s+\"?outgoing\b", re.I)


def product_files() -> list[str]:
    found = []
    for top in PRODUCT:
        path = os.path.join(ROOT, top)
        if path.endswith(".py"):
            found.append(path)
            continue
        for folder, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            found += [os.path.join(folder, f) for f in files if f.endswith(".py")]
    return sorted(found)


class _Writers(ast.NodeVisitor):
    """Collects `line: what` for every write of the outgoing table in one module."""

    def __init__(self):
        self.models: set[str] = set()      # names bound to the Outgoing model
        self.rows: set[str] = set()        # names bound to rows fetched from it
        self.found: list[str] = []

    def is_model(self, node: ast.AST) -> bool:
        return ((isinstance(node, ast.Name) and node.id in self.models)
                or (isinstance(node, ast.Attribute) and node.attr == "Outgoing"))

    def mentions_model(self, node: ast.AST) -> bool:
        return any(self.is_model(n) for n in ast.walk(node))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "Outgoing":
                self.models.add(alias.asname or alias.name)

    def visit_Assign(self, node: ast.Assign) -> None:
        targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        if self.is_model(node.value):
            self.models.update(targets)
        elif self.mentions_model(node.value) and _fetches(node.value):
            self.rows.update(targets)
        for target in node.targets:           # row.status = ... on a fetched row
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                    and target.value.id in self.rows:
                self.found.append(f"{node.lineno}: sets {target.value.id}.{target.attr}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in WRITES:
            if self.mentions_model(func.value):
                self.found.append(f"{node.lineno}: Outgoing.{func.attr}")
            elif isinstance(func.value, ast.Name) and func.value.id in self.rows:
                self.found.append(f"{node.lineno}: {func.value.id}.{func.attr}")
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name == "lease_rows" and any(self.mentions_model(a) for a in node.args):
            self.found.append(f"{node.lineno}: lease_rows over Outgoing")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and SQL_WRITE.search(node.value):
            self.found.append(f"{node.lineno}: SQL {node.value[:40]!r}")


def _fetches(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr in FETCHES for n in ast.walk(node))


def writers_in(source: str) -> list[str]:
    visitor = _Writers()
    visitor.visit(ast.parse(source))
    return visitor.found


def test_only_engine_outgoing_writes_an_outgoing_row():
    found = []
    for path in product_files():
        rel = os.path.relpath(path, ROOT)
        if rel == OWNER:
            continue
        with open(path, encoding="utf-8") as f:
            found += [f"{rel}:{w}" for w in writers_in(f.read())]
    assert found == []


@pytest.mark.parametrize("source", [
    # what the dispatcher, the sender and the bot did before
    "from engine import notify\n"
    "notify.Outgoing.update(status=notify.SENDING).where(notify.Outgoing.id == 1).execute()",
    "from .. import outgoing\nO = outgoing.Outgoing\nO.update(next_at=1).where(O.id == 2).execute()",
    "from engine.outgoing import Outgoing as Q\nQ.delete().execute()",
    "from engine.outgoing import Outgoing\nlease_rows(Outgoing.select(), status='sending', until=0)",
    "from engine.outgoing import Outgoing\nrow = Outgoing.get_by_id(3)\nrow.status = 'sent'",
    "from engine.outgoing import Outgoing\nrow = Outgoing.get_by_id(3)\nrow.save()",
    "db.execute_sql(\"UPDATE outgoing SET status = 'sent' WHERE id = %s\", (1,))",
])
def test_the_scan_sees_every_way_of_writing_a_row(source):
    assert writers_in(source) != []


def test_the_scan_lets_reads_and_the_owners_functions_pass():
    source = ("from engine import outgoing\n"
              "outgoing.enqueue(reply, key='k')\n"
              "outgoing.mark_sent(1, 2)\n"
              "n = outgoing.Outgoing.select().count()\n"
              "rows = outgoing.Outgoing.select().where(outgoing.Outgoing.chat_id == 1)\n")
    assert writers_in(source) == []


def test_the_queue_has_one_name():
    """The queue is `engine.outgoing`; the old name `engine.notify` is gone and nothing imports
    it (helpdesk.notifications is the domain's, another thing)."""
    assert not os.path.exists(os.path.join(ROOT, "engine", "notify.py"))
    old = re.compile(r"^\s*(from engine import .*\bnotify\b|from engine\.notify import|"
                     r"import engine\.notify|from \.\. import .*\bnotify\b|from \. import .*\bnotify\b)",
                     re.M)
    users = []
    for folder in ("engine", "helpdesk", "integrations", "tests", "bench"):
        for dirpath, dirs, files in os.walk(os.path.join(ROOT, folder)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                path = os.path.join(dirpath, name)
                if name.endswith(".py") and path != os.path.join(ROOT, "engine", "notify.py"):
                    with open(path, encoding="utf-8") as f:
                        if old.search(f.read()):
                            users.append(os.path.relpath(path, ROOT))
    assert users == []
