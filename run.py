#!/usr/bin/env python3
"""The helpdesk bot's one command line: `python run.py --help`."""
import sys

from helpdesk.ops.cli import main

if __name__ == "__main__":
    sys.exit(main())
