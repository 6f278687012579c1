"""The shape of the project (issue 12): in helpdesk/ ("rooms by bounded context") every module
says its job in a docstring, none grows past 400 lines, and every table lives in its
context's package; tests/ mirrors the packages ("tests a newcomer navigates"): the tests of
helpdesk/tickets/ are in tests/helpdesk/tickets/, what tests share is in tests/support/."""
from __future__ import annotations

import ast
import os

from helpdesk.app import PROJECT_ROOT
from helpdesk.ops import schema

MAX_LINES = 400
# Moved under engine/ by another branch of the same refactor; not split here.
MOVING = {"helpdesk/scenarios.py"}
CONTEXTS = ("helpdesk.directory.", "helpdesk.registration.", "helpdesk.tickets.",
            "helpdesk.payments.", "helpdesk.privacy.", "helpdesk.sync.", "helpdesk.api.",
            "helpdesk.ops.", "helpdesk.desk.")


def modules() -> list[str]:
    out = []
    for folder, _, files in os.walk(os.path.join(PROJECT_ROOT, "helpdesk")):
        out += [os.path.relpath(os.path.join(folder, f), PROJECT_ROOT) for f in files if f.endswith(".py")]
    return sorted(out)


def source(path: str) -> str:
    with open(os.path.join(PROJECT_ROOT, path), encoding="utf-8") as f:
        return f.read()


def test_every_module_says_its_job():
    assert [p for p in modules() if not ast.get_docstring(ast.parse(source(p)))] == []


def test_no_module_over_400_lines():
    big = {p: source(p).count("\n") for p in modules() if p not in MOVING}
    assert {p: n for p, n in big.items() if n > MAX_LINES} == {}


def test_every_helpdesk_table_lives_in_its_context():
    tables = [m for m in schema.load_models() if m.__module__.startswith("helpdesk.")]
    assert tables and [f"{m.__module__}.{m.__name__}" for m in tables
                       if not m.__module__.startswith(CONTEXTS)] == []


# --- tests/ mirrors the packages -------------------------------------------------------------

TESTS = os.path.join(PROJECT_ROOT, "tests")
# The only test files directly in tests/: they hold the project as a whole (its layout, its
# `noqa`s, its architecture map), no one package. Every other test lives in the folder of
# the package it tests.
WHOLE_PROJECT = {"test_layout.py", "test_lint.py", "test_docs_architecture.py"}
SUPPORT = "support"          # shared builders, fakes, harness, network guard (and their tests)
FIXTURES = "fixtures"        # data files beside the tests that read them


def folders_of_tests() -> list[str]:
    """Every folder under tests/ outside the fixtures' data, relative to tests/ ('' is
    tests/ itself)."""
    out = []
    for folder, dirs, _ in os.walk(TESTS):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", FIXTURES))
        rel = os.path.relpath(folder, TESTS).replace(os.sep, "/")
        out.append("" if rel == "." else rel)
    return out


def mirrors_a_package(folder: str) -> bool:
    """tests/<path> mirrors the project's package <path> (a folder with an __init__.py)."""
    return os.path.isfile(os.path.join(PROJECT_ROOT, *folder.split("/"), "__init__.py"))


def test_no_test_file_lies_flat_in_tests():
    flat = [f for f in os.listdir(TESTS) if f.endswith(".py")]
    assert sorted(set(flat) - WHOLE_PROJECT - {"__init__.py", "conftest.py"}) == []


def test_every_test_folder_mirrors_a_package_or_is_the_support_package():
    folders = [f for f in folders_of_tests() if f]
    assert "helpdesk/tickets" in folders and "support" in folders     # the walk sees them
    strays = [f for f in folders if not (f == SUPPORT or f.startswith(SUPPORT + "/") or mirrors_a_package(f))]
    assert strays == []


def test_every_test_folder_is_a_package():
    """tests.helpdesk.sync.test_crash and tests.engine.telegram.test_crash may share a file
    name only because each folder is a package of its own."""
    missing = [f or "." for f in folders_of_tests() if not os.path.isfile(os.path.join(TESTS, f, "__init__.py"))]
    assert missing == []


def test_fixtures_hold_data_and_sit_in_a_mirrored_folder():
    found = []
    for folder, dirs, files in os.walk(TESTS):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        rel = os.path.relpath(folder, TESTS).replace(os.sep, "/")
        if os.path.basename(folder) == FIXTURES:
            found.append(rel)
            parent = rel.rpartition("/")[0]
            assert parent and mirrors_a_package(parent), f"tests/{rel}: beside no package's tests"
        if f"/{FIXTURES}/" in f"/{rel}/":
            assert [f for f in files if f.startswith("test_") and f.endswith(".py")] == [], rel
    assert found                                                 # the walk sees them


def test_no_test_module_imports_another():
    """Shared builders live in tests/support/ and shared fixtures in a folder's conftest.py:
    a test module importing another test module hides where a helper lives (and runs that
    module's tests' imports twice)."""
    imports = []
    for folder, dirs, files in os.walk(TESTS):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", FIXTURES)]
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(folder, f)
            for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                    [a.name for a in node.names] if isinstance(node, ast.Import) else []
                imports += [f"{os.path.relpath(path, PROJECT_ROOT)}: {n}" for n in names
                            if n.startswith("tests.") and (n.rpartition(".")[2].startswith("test_")
                                                           or n.endswith(".conftest"))]
    assert imports == []
