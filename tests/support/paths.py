"""Where things are, for tests at any depth of tests/: the project root (the folder that holds
run.py), computed from this file so no test counts `..` to its own folder."""
from __future__ import annotations

import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTS = os.path.join(ROOT, "tests")
