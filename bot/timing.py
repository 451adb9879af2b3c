"""How fast the bot's clocks run: one object the composition root passes to the services.

In the product every field keeps its default (Discord's pacing and identify windows, Wiro's
poll pace, the operator's JOB_TIMEOUT_MINUTES, the sandbox's half-minute jobs, encodes at
niceness 19). Only a test run changes them, by building its own `Timing`
(tests/e2e/launch_bot.py for the bot process, the suite's own services in tests/): the product
never reads a test's variables.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Scales on the bot's waits, and the niceness of its video work."""

    # The fraction of JOB_TIMEOUT_MINUTES a job really gets (the words members read still name
    # JOB_TIMEOUT_MINUTES).
    deadline_scale: float = 1.0
    # On the Task/Detail pace while Wiro's socket is silent (bot.wiro.client.POLL_SECONDS).
    poll_scale: float = 1.0
    # On the per-channel Discord windows cards and new messages keep to (cogs/cards/pacing.py).
    pacing_scale: float = 1.0
    # On Discord's identify window between shards of one bucket (bot/app/shards.py).
    identify_scale: float = 1.0
    # On the stages of the sandbox's simulated tasks (WIRO_SANDBOX=true, Timings.realistic).
    sandbox_scale: float = 1.0
    # The video worker threads' niceness; None: the worker's own (19, bot/media/video/worker.py).
    video_niceness: int | None = None

    def scaled(self, factor: float) -> Timing:
        """The same timing with every wait (deadline, polls, pacing, identify, sandbox) times
        `factor`."""
        return dataclasses.replace(
            self,
            deadline_scale=self.deadline_scale * factor,
            poll_scale=self.poll_scale * factor,
            pacing_scale=self.pacing_scale * factor,
            identify_scale=self.identify_scale * factor,
            sandbox_scale=self.sandbox_scale * factor,
        )


# What the product runs with (every default).
PRODUCT = Timing()
