"""No secrets in logs; bot.wiro stays independent of discord."""

from __future__ import annotations

import logging
import subprocess
import sys

from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript

from .conftest import KEY, SECRET, collect, submit


async def test_no_secret_or_token_in_logs(signed_sim: WiroSimulator, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    wiro = await make_client(signed_sim)
    signed_sim.script_next(TaskScript(ws="drop_mid", outcome="fail", generate=0.6))
    accepted = await submit(wiro)
    events = await collect(wiro, accepted.task_id, accepted.task_token)
    assert events[-1].kind == "failed"
    await wiro.stop(accepted.task_id, accepted.task_token)
    await make_client(signed_sim, api_secret="wrong")  # its refused Tool/Detail is logged
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert accepted.task_id in text  # task lines name the task...
    for secret in (KEY, SECRET, accepted.task_token):  # ...but never a credential
        assert secret not in text


def test_wiro_package_never_imports_discord():
    code = (
        "import sys, bot.wiro.client, bot.wiro.simulator.server, bot.wiro.models;"
        "print('discord' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
