"""The one money parser, as the bot's own code imports it. Its core is
`integrations.money` (the CRM clients parse the CRM's amounts with it too, and
integrations must not import helpdesk); see that module for the rules and bounds.
"""
from __future__ import annotations

from integrations.money import KOPECKS, MAX_KOPECKS, MAX_TEXT, ROUBLES, MoneyError, parse_money

__all__ = ["MoneyError", "parse_money", "MAX_TEXT", "MAX_KOPECKS", "KOPECKS", "ROUBLES"]
