"""Reserving a job: the atomic check of the limits and the job row with its `reserve` ledger row.

`JobReservations.reserve` asks the member's limit (`Admission.policy`) and the approval gate
(is this member's request held for a moderator?), then writes the job and its reservation in one
atomic transaction (`Storage.create_job_with_reservation`), which checks the same
limits again (`quota.check_limits`, passed in as `Policy.check`): two members racing for the last
credit cannot both win. A collaborator of `JobService` (bot/jobs/service.py), whose `submit`
checks first, reserves, then posts the card and starts the job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import bot.governance.quota as quota
from bot import camera
from bot.governance.admission import Admission, normalise_prompt
from bot.jobs._followup_reasons import on_its_way_words
from bot.jobs.contracts import LimitReached, Refused, VideoRequest
from bot.jobs.outcomes import JobOutcomes
from bot.logs import current_job, job_logger
from bot.media.images import FirstFrame
from storage.api import FollowUpInFlight, ReservationRefused, Storage
from storage.approvals import Hold
from storage.models import Job, NewJob

# The lifecycle's logger: every line of a job reads "bot.jobs.service", whichever part wrote it.
log = logging.getLogger("bot.jobs.service")


@dataclass(frozen=True)
class Reserved:
    """A reserved job, and the hold that keeps it for a moderator (None: it may start)."""

    job: Job
    hold: Hold | None


class JobReservations:
    """Reserve a job's credits atomically, held for a moderator where the server says so."""

    def __init__(
        self,
        *,
        outcomes: JobOutcomes,
        admission: Admission,
        storage: Storage,
        clock: Callable[[], datetime],
    ) -> None:
        self._outcomes = outcomes  # holds the approval gate, once the bot has one
        self._admission = admission
        self._storage = storage
        self._clock = clock

    async def reserve(self, req: VideoRequest, frame: FirstFrame | None, cost: int) -> Reserved:
        """Write the job and its reservation, or raise LimitReached or Refused."""
        policy = await self._admission.policy(req)
        gate = self._outcomes.gate
        hold = (
            await gate.hold_for(
                req.guild_id, req.user_id, role_ids=req.role_ids, manage_guild=req.manage_guild
            )
            if gate is not None
            else None
        )
        expected = await self._admission.expected_cost_usd(req.resolution, req.duration, req.model)
        try:
            job = await self._storage.create_job_with_reservation(
                new_job(req, frame, cost=cost, expected_cost_usd=expected),
                windows=policy.windows,
                check=policy.check,
                now=self._clock(),
                hold=hold,
            )
        except ReservationRefused as exc:
            assert isinstance(exc.refusal, quota.Refusal)
            raise LimitReached(exc.refusal) from None
        except FollowUpInFlight as exc:
            log.info("not reserved: %s", exc)
            raise Refused(on_its_way_words(exc.kind)) from None
        current_job.set(job.id)  # this interaction's task: its log lines name the job
        job_logger(log, job.id).info(
            "reserved %d credits for user=%s guild=%s model=%s settings=%s/%ss image=%s%s",
            cost,
            req.user_id,
            req.guild_id,
            req.model,
            req.resolution,
            req.duration,
            frame is not None,
            " (waits for a moderator)" if hold else "",
        )
        return Reserved(job, hold)


def new_job(
    req: VideoRequest, frame: FirstFrame | None, *, cost: int, expected_cost_usd: float | None
) -> NewJob:
    """The new job's row: the request, its first frame (checked), its cost and expected price."""
    return NewJob(
        guild_id=req.guild_id,
        channel_id=req.channel_id,
        user_id=req.user_id,
        prompt=normalise_prompt(req.prompt),
        resolution=req.resolution,
        duration=req.duration,
        prompt_optimizer=req.prompt_optimizer,
        has_image=frame is not None,
        image_sha256=frame.sha256 if frame else None,
        image_url=req.image_url,
        credits=cost,
        upload_limit=req.upload_limit,
        expected_cost_usd=expected_cost_usd,
        reroll_of=req.reroll_of,
        model=req.model,
        camera=camera.join_moves(req.camera),
        image_note=(frame.note if frame else None) or req.image_note,
        source_url=req.source_url,
        image_author_id=req.image_author_id,
        extends_job_id=req.extends_job_id,
        chain_seconds=req.chain_seconds,
        remake_of=req.remake_of,
        remix_of=req.remix_of,
        style=req.style,
        style_prompt=req.style_prompt,
    )
