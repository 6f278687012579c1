"""dev.py's test command runs its passes side by side (issue 15): each pass's output is
printed whole, in order, never interleaved with the other's, and the command fails when any
pass fails or runs no test."""
from __future__ import annotations

import sys

import dev

SLOW_THEN_LINES = "import time; time.sleep(1); print('first a'); print('first b')"
FAST_LINES = "print('second a'); print('second b')"


def test_outputs_come_whole_and_in_order_though_the_later_pass_ends_first(capfd):
    codes = dev.run_side_by_side([("one", [sys.executable, "-c", SLOW_THEN_LINES], {}),
                                  ("two", [sys.executable, "-c", FAST_LINES], {})])
    out = capfd.readouterr().out
    assert codes == [0, 0]
    assert out.index("== test suite on one ==") < out.index("first a") < out.index("first b") \
        < out.index("== test suite on two ==") < out.index("second a") < out.index("second b")


def test_each_pass_keeps_its_exit_code_no_tests_included(capfd):
    no_tests = "import sys; print('no tests ran'); sys.exit(5)"     # pytest's code for it
    codes = dev.run_side_by_side([("one", [sys.executable, "-c", "pass"], {}),
                                  ("two", [sys.executable, "-c", no_tests], {})])
    assert codes == [0, 5]
    assert "no tests ran" in capfd.readouterr().out
