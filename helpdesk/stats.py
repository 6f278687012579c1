"""Moved to `helpdesk.tickets.stats`; this name is kept only so branches written against it
still import (helpdesk/actions/tickets.py). Import the new home instead."""
from helpdesk.tickets.stats import *  # noqa: F403 - the old import path, nothing of its own
from helpdesk.tickets.stats import __all__  # noqa: F401 - star-import's list, re-exported
