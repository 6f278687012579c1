"""Fixtures of the payment tests: settings with every payment method on (`cfg`) and an app on them."""
from __future__ import annotations

import pytest
from pydantic import SecretStr

from tests.support.payments import GROUP, SBP_LINK, build


@pytest.fixture
def cfg(settings):
    s = settings.model_copy(deep=True)
    s.pay.use, s.pay.add_balance, s.pay.card, s.pay.sbp_static = True, True, True, True
    s.pay.sbp_static_link = SBP_LINK
    s.pay.amounts, s.pay.min_amount, s.pay.max_amount = [500, 1000], 100, 50000
    s.pay.payload_secret = SecretStr("test-secret")
    s.bot.payment = SecretStr("284685063:TEST:provider")
    s.notify.system.use, s.notify.system.work_group_id = True, GROUP
    s.notify.user.use, s.notify.user.need_to_pay_task, s.notify.user.task_is_paid = True, True, True
    s.notify.user.balance_replenished = True
    s.tickets.technicians = [777]
    return s


@pytest.fixture
def app(database, cfg, tmp_path):
    return build(cfg, tmp_path)
