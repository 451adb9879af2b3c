"""Fixtures for the approval queue and budget alerts: a real database, a hand-moved clock, and
recording stand-ins for the job lifecycle and the Discord side."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from bot.governance.approval import ApprovalService
from cogs.approval import approved_line
from storage.api import IllegalTransition
from storage.approvals import Approval, Hold
from storage.db import Database
from storage.models import Job, JobState, NewJob
from tests import factories
from tests.factories import Clock, reservation_args

T0 = factories.T0  # the suite's "now": where the `clock` fixture (tests/conftest.py) starts
GUILD, CHANNEL, REVIEW, USER, MOD, MOD2 = 10, 20, 30, 40, 50, 51
TRUSTED, MODROLE = 60, 70


@dataclass
class LedgerJobs:
    """JobControl over the real job table: release records, withdraw refunds like JobService."""

    db: Database
    released: list[int] = field(default_factory=list)

    async def release(self, job_id: int) -> None:
        self.released.append(job_id)

    async def withdraw(self, job_id: int, reason: str, *, by: int | None) -> Job | None:
        try:
            return await self.db.transition(
                job_id, JobState.CANCELLED, settle="refund", outcome_reason=reason,
                cancelled_by=by,
            )  # fmt: skip
        except IllegalTransition:
            return None


@dataclass
class RecordingReviews:
    """ReviewPresenter that remembers the review messages and audit lines."""

    fail_post: bool = False
    has_audit_channel: bool = True
    posted: list[tuple[Job, Approval]] = field(default_factory=list)
    updates: list[tuple[Job, Approval]] = field(default_factory=list)
    lines: list[tuple[int, str]] = field(default_factory=list)

    async def post_review(self, job: Job, approval: Approval) -> int:
        if self.fail_post:
            raise RuntimeError("Missing Access")
        self.posted.append((job, approval))
        return 700_000 + job.id

    async def update_review(self, job: Job, approval: Approval) -> None:
        self.updates.append((job, approval))

    async def audit(self, guild_id: int, text: str) -> bool:
        if not self.has_audit_channel:
            return False
        self.lines.append((guild_id, text))
        return True

    async def audit_approval(self, job: Job, approval: Approval) -> bool:
        return await self.audit(job.guild_id, approved_line(job, approval))


@pytest.fixture
def jobs(db: Database) -> LedgerJobs:
    return LedgerJobs(db)


@pytest.fixture
def reviews() -> RecordingReviews:
    return RecordingReviews()


@pytest.fixture
def service(
    db: Database, jobs: LedgerJobs, reviews: RecordingReviews, clock: Clock
) -> ApprovalService:
    return ApprovalService(
        storage=db, jobs=jobs, presenter=reviews, expiry=timedelta(hours=24),
        clock=clock, system_actor=lambda: 999,
    )  # fmt: skip


async def held_job(db: Database, clock: Clock, *, user: int = USER, credits: int = 1) -> Job:
    """A pending job with its credits reserved and a waiting review row, as submit() makes."""
    return await hold_job(db, clock(), clock() + timedelta(hours=24), user=user, credits=credits)


async def hold_job(
    db: Database, now: datetime, expires_at: datetime, *, user: int = USER, credits: int = 1
) -> Job:
    new = NewJob(guild_id=GUILD, channel_id=CHANNEL, user_id=user, prompt="a cat", credits=credits)
    return await db.create_job_with_reservation(
        new,
        **reservation_args(now=now),
        hold=Hold(REVIEW, expires_at),  # type: ignore[arg-type]
    )
