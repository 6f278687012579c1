"""Moved to `helpdesk.directory.tables`; this name is kept only so branches written against
it still import (helpdesk/actions, helpdesk/workgroup.py). Import the new home instead."""
from helpdesk.directory.tables import *  # noqa: F403 - the old import path, nothing of its own
from helpdesk.directory.tables import __all__  # noqa: F401 - star-import's list, re-exported
