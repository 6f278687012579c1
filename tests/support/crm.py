"""Credentials of the CRM client tests: secret-looking values, so a test can prove that no
error message or log line ever carries one."""
from __future__ import annotations

LOGIN, PASSWORD, TOKEN = "bot", "Pa55-w0rd-SECRET", "T0ken-SECRET-1c"
