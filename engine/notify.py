"""The old name of `engine.outgoing` (the outgoing message queue), kept only so branches
written against it still import; new code imports `engine.outgoing`. Nothing in this
repository imports it (tests/test_outgoing.py); delete it once those branches are merged."""
from .outgoing import *  # noqa: F403 - the old name re-exports every public name of the new
from .outgoing import __all__  # noqa: F401 - the same public names
