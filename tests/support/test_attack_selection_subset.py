"""Attack on tests/support/test_selection.py's stale-list check: it takes "a listed id whose
module is in this run but is not collected" for a renamed test, so any run that selects part
of a module (a node id, -k, --lf, --deselect) fails with "not a test any more; run
`python3 dev.py census`" although the list is fresh."""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_attack_running_one_test_of_a_listed_module_beside_the_selection_tests_passes():
    # the SQLite pass's own environment: no test database, pass or xdist worker of ours (named
    # by prefix: a module naming the URL would be run again, needlessly, on PostgreSQL)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
         "tests/support/test_selection.py", "tests/engine/test_engine.py::test_cancel_returns_to_menu"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-1500:]
