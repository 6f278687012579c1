"""Moved to `helpdesk.ops.logs`; this name is kept only so branches written against it still
import (helpdesk/scenarios.py). Import the new home instead."""
from helpdesk.ops.logs import *  # noqa: F403 - the old import path, nothing of its own
from helpdesk.ops.logs import __all__  # noqa: F401 - star-import's list, re-exported
