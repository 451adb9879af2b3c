"""The job card: posted before anything reaches Wiro, and kept true across crashes and outages.

`JobCards.post` stores the first frame, posts the card and records it; a job whose card is not
on record is never run. Every state change marks the job's card as behind
(`jobs.card_pending`), and only the presenter's landed edit clears the mark. `JobCards`
renders again every card still behind its job (at every start, then now and then by a sweep,
for `CARD_TRUTH_WINDOW`), and `close_unseen` closes the jobs a crash left before their card
was posted: refunded, never run. A collaborator of `JobService` (bot/jobs/service.py), which
starts and resumes the runners.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import ClassVar

from bot.background import BackgroundTasks
from bot.i18n import Text
from bot.jobs.contracts import Refused
from bot.jobs.outcomes import JobOutcomes
from bot.logs import job_logger
from bot.media.images import FirstFrame
from storage.api import IllegalTransition, Storage
from storage.approvals import ApprovalStatus
from storage.models import Job, JobState

# The lifecycle's logger: every line of a job reads "bot.jobs.service", whichever part wrote it.
log = logging.getLogger("bot.jobs.service")

# A card still behind its job is rendered again at every start and sweep for this long after
# the job last changed; then it is given up (logged). Older cards would be reposted (Discord
# cannot edit them after an hour), far from the conversation they belong to.
CARD_TRUTH_WINDOW = timedelta(hours=24)
# The sweep leaves alone cards changed this recently: their edit is likely still on its way.
CARD_SWEEP_SETTLE = timedelta(minutes=5)


class JobCards:
    """Posting the card, cards behind their job, and jobs a crash left without a card."""

    # How often cards whose edit failed for good are tried again (besides every start).
    card_sweep_seconds: ClassVar[float] = 600.0

    def __init__(
        self,
        *,
        outcomes: JobOutcomes,
        storage: Storage,
        clock: Callable[[], datetime],
        driving: Callable[[int], bool],
    ) -> None:
        self._outcomes = outcomes
        self._storage = storage
        self._clock = clock
        self._driving = driving  # whether a runner drives this job (`JobService.driving`)
        self._card_sweep = BackgroundTasks("cards")

    async def post(
        self, job: Job, frame: FirstFrame | None, thumbnail: bytes | None, note: str | None
    ) -> Job:
        """Store the first frame, post the card and record it; return the job with its card.

        Nothing reaches Wiro before the card is posted and recorded: a job the member never
        saw is refunded instead (here, or by `close_unseen` after a crash). Raises Refused."""
        presenter = self._outcomes.presenter
        assert presenter is not None  # checked by submit() before anything was written
        jlog = job_logger(log, job.id)
        try:
            if frame is not None:
                await self._storage.save_frame(
                    job.id, frame.data, frame.content_type, frame.filename
                )
        except Exception:
            jlog.exception("could not store the first frame")
            stored = Text("The bot could not store the image.")
            await self._outcomes.finish(job, JobState.FAILED, str(stored))
            raise Refused(
                Text(
                    "Something went wrong on our side while storing your image; your credits "
                    "were not used. Please try again."
                )
            ) from None
        try:
            message_id = await presenter.post_card(
                job, await self._outcomes.card_extras(job, note=note), thumbnail
            )
        except Exception as exc:
            jlog.warning("could not post the job card: %s", exc)
            posted = Text("The bot could not post in this channel.")
            await self._outcomes.finish(job, JobState.FAILED, str(posted))
            raise Refused(
                Text(
                    "I couldn't post the job card in this channel (check that I can send "
                    "messages, embed links and attach files here). Your credits were not used."
                )
            ) from None
        card = {"card_message_id": message_id, "card_posted_at": self._clock()}
        try:
            return await self._storage.update_job(job.id, **card)
        except Exception:
            # Not run: a job whose card is not on record is one resume_all would refund. The
            # failure carries the card id, so the card itself says so if this write lands.
            jlog.exception("could not record the job card")
            with contextlib.suppress(Exception):
                recorded = Text("The bot could not record this job.")
                await self._outcomes.finish(job, JobState.FAILED, str(recorded), **card)
            raise Refused(
                Text(
                    "Something went wrong on our side while starting your video; your credits "
                    "were not used. Please try again."
                )
            ) from None

    def start_sweep(self) -> None:
        """Start the sweep that retries cards whose edit failed for good (once)."""
        if not len(self._card_sweep):
            self._card_sweep.spawn(self._sweep_cards(), name="card-sweep")

    async def stop_sweep(self, timeout: float) -> None:
        """Stop the card sweep."""
        await self._card_sweep.cancel_all(timeout=timeout)

    async def close_unseen(self, job: Job) -> Job:
        """Refund and close a job that never started because its card was never recorded.

        Chosen over posting the card late and running it: the member was told nothing (their
        /video ended with the crash) and may well have asked again meanwhile, so running it
        could charge them twice; a card appearing minutes later without context confuses.
        The interaction token that could tell them privately is never stored (a credential),
        so the log and the audit line say it. A card Discord took just before the crash (its
        id never recorded) is found and shows the outcome instead of "Sending to Wiro…"."""
        jlog = job_logger(log, job.id)
        card_id = await self._find_lost_card(job)
        if card_id is None:
            jlog.warning(
                "closing a job whose card was never posted (state %s, user=%s); refunding, not run",
                job.state.value,
                job.user_id,
            )
            reason = Text(
                "The bot restarted before this request's card was posted, so it was not run. "
                "Its credits were refunded."
            )
            card: dict[str, object] = {}
        else:
            jlog.warning(
                "closing a job whose card (message %s) was posted but not recorded before a "
                "restart; refunding, not run",
                card_id,
            )
            reason = Text(
                "The bot restarted before this job could start, so it was not run. Its credits "
                "were refunded; Re-roll to ask again."
            )
            card = {"card_message_id": card_id, "card_posted_at": job.created_at}
        try:
            job = await self._outcomes.finish(job, JobState.FAILED, str(reason), **card)
        except IllegalTransition:
            return await self._storage.get_job(job.id)
        # A held request never got its review message either: close its review too.
        await self._storage.decide_approval(
            job.id,
            ApprovalStatus.CANCELLED,
            actor_id=None,
            reason="the request ended before review",
            now=self._clock(),
        )
        return job

    async def _find_lost_card(self, job: Job) -> int | None:
        presenter = self._outcomes.presenter
        if presenter is None:
            return None
        try:
            return await presenter.find_card(job)
        except Exception:
            job_logger(log, job.id).exception("could not look for the job's card")
            return None

    async def refresh_stale_cards(self, *, settled_for: timedelta = timedelta(0)) -> int:
        """Render again every card still marked as behind its job; return how many.

        Only changes of the last `CARD_TRUTH_WINDOW` (older marks are given up and logged),
        and only those at least `settled_for` old. Jobs a runner drives are left to it: its
        next render carries what this one cannot know (queue position, a delayed delivery)."""
        now = self._clock()
        forgotten = await self._storage.forget_stale_cards(now - CARD_TRUTH_WINDOW)
        if forgotten:
            log.warning(
                "gave up showing the latest state on %d cards unchanged for %s",
                forgotten,
                CARD_TRUTH_WINDOW,
            )
        shown = 0
        for job in await self._storage.stale_cards(now - CARD_TRUTH_WINDOW):
            if self._driving(job.id) or now - job.updated_at < settled_for:
                continue
            job_logger(log, job.id).info(
                "card may not show its %s state; rendering it again", job.state.value
            )
            await self._outcomes.render(job)
            shown += 1
        return shown

    async def _sweep_cards(self) -> None:
        """Retry cards whose last edit failed for good (a long Discord outage), now and then."""
        while True:
            await asyncio.sleep(self.card_sweep_seconds)
            try:
                await self.refresh_stale_cards(settled_for=CARD_SWEEP_SETTLE)
            except Exception:
                log.exception("card sweep failed; trying again at the next one")


def never_shown(job: Job) -> bool:
    """A job that has not reached Wiro and whose card was never posted (a crash in between)."""
    return job.card_message_id is None and job.state in (JobState.PENDING, JobState.WAITING)
