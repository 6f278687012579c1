"""Attack on tests/support/flowcheck.py's memo of Jinja compile options (`_options`): it
snapshots `vars(env)` by reference, so an attribute changed in place (here `env.extensions`,
which `Environment.add_extension` updates in place) compares equal to its own snapshot and the
old options are served: the compile cache then hands back code compiled without the extension.
Before the memo `_compile_options` was recomputed at every compile and saw the change."""
from __future__ import annotations

import jinja2
import pytest
from jinja2.ext import Extension
from jinja2.lexer import Token

from tests.support import flowcheck


class Upper(Extension):
    def filter_stream(self, stream):
        for token in stream:
            yield Token(token.lineno, "data", token.value.upper()) if token.type == "data" else token


def test_attack_an_extension_added_after_a_compile_is_not_served_the_old_code():
    with pytest.MonkeyPatch.context() as mp:
        flowcheck.install(mp)
        env = jinja2.Environment()
        assert env.from_string("attack memo hello").render() == "attack memo hello"
        env.add_extension(Upper)
        assert env.from_string("attack memo hello").render() == "ATTACK MEMO HELLO"
