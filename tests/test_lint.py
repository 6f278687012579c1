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


# --- what pyproject admits is what CI runs ----------------------------------------------------

def _project() -> dict:
    import tomllib
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def _pins() -> dict[str, str]:
    from packaging.utils import canonicalize_name
    pins = {}
    with open(os.path.join(ROOT, ".ci", "constraints.txt"), encoding="utf-8") as f:
        for line in f:
            if "==" in line and not line.startswith("#"):
                name, version = line.strip().split("==")
                pins[canonicalize_name(name)] = version
    return pins


def _requirements():
    from packaging.requirements import Requirement
    project = _project()
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += extra
    return [Requirement(line) for line in lines]


def test_every_dependency_floor_is_the_version_ci_installs():
    """A floor below the locked version would admit a release CI never ran."""
    from packaging.utils import canonicalize_name
    pins, wrong = _pins(), []
    for req in _requirements():
        pin = pins.get(canonicalize_name(req.name))
        floors = [s.version for s in req.specifier if s.operator == ">="]
        if pin is None or pin not in req.specifier or floors != [pin]:
            wrong.append(f"{req}: locked {pin}")
    assert wrong == []


def test_the_tests_run_on_the_python_and_versions_pyproject_admits():
    """This run (CI's) is on a Python pyproject admits, with the locked versions installed."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from packaging.specifiers import SpecifierSet
    from packaging.utils import canonicalize_name
    assert platform.python_version() in SpecifierSet(_project()["requires-python"])
    drift = {}
    for req in _requirements():
        try:
            installed = version(req.name)
        except PackageNotFoundError:       # an extra this run does not install (bench)
            continue
        if installed != _pins()[canonicalize_name(req.name)]:
            drift[req.name] = installed
    assert drift == {}, "installed versions differ from .ci/constraints.txt: run python3 dev.py test"
