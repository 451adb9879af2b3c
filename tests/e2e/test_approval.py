"""End to end: the approval queue and budget alerts, with the real bot against the doubles.

One stack for most tests (expiry long enough not to interfere); the expiry and the restart get
stacks of their own. The review channel, the audit channel, the trusted role and a second
moderator exist before the bot connects, as they would in a real server.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.wiro.simulator.tasks import TaskScript
from tests.discord_double import SEND_MESSAGES
from tests.discord_double.world import Channel, Member, Message, Role
from tests.e2e.conftest import Stack, VideoRun, fake_clip, png

pytestmark = pytest.mark.asyncio(loop_scope="module")

WAITING_TITLE = "⏳ Waiting for a moderator"
DENIED_TITLE = "⛔ Request denied"
EXPIRED_TITLE = "⌛ Request expired"
BASE_ENV = {"DEFAULT_QUOTA_CREDITS": "100", "MAX_JOBS_PER_USER": "5", "MAX_JOBS_PER_GUILD": "40"}


class ApprovalStack(Stack):
    """A stack with a review channel, an audit channel, a trusted role and a second moderator."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        super().__init__(tmp, env)
        self.review: Channel = self.channel("review")
        self.audit: Channel = self.channel("audit")
        self.trusted: Role = self.dd.add_role("regulars")
        self.second_mod: Member = self.dd.add_member(name="mod2", roles=[self.mod_role])

    async def turn_on(self) -> str:
        return await self.admin(
            "approval on", {"channel": self.review.id, "trusted_role": self.trusted.id}
        )

    def reviews(self, job_id: int) -> list[Message]:
        """The review messages of a job (there must be exactly one)."""
        return [
            m
            for m in self.dd.messages_in(self.review)
            if f"approval:approve:{job_id}" in m.custom_ids()
            or any(f"Job {job_id} ·" in (e.get("footer") or {}).get("text", "") for e in m.embeds)
        ]

    async def review_of(self, job_id: int) -> Message:
        found = await self.dd.wait_for(lambda: self.reviews(job_id), 10)
        assert len(found) == 1, found
        return found[0]

    async def held(self, prompt: str, member: Member, **options: object) -> VideoRun:
        """A member's /video that must wait; checks the card and the answer say so."""
        run = await self.video(prompt, user=member, **options)
        assert run.card is not None and run.job_id is not None, run.reply
        assert "waiting for a moderator" in run.reply, run.reply
        assert self.title(run.card) == WAITING_TITLE
        return run

    async def deny(self, review: Message, job_id: int, reason: str, user: Member) -> str:
        opened = await self.dd.click(review, f"approval:deny:{job_id}", user=user)
        await self.dd.wait_for_ack(opened)
        assert opened.ack_type == 9, "Deny must open a form"
        submitted = await self.dd.submit_modal(opened, {"reason": reason})
        return await self.answer(submitted)

    def audit_lines(self) -> list[Message]:
        return self.dd.messages_in(self.audit)


async def start_stack(tmp: Path, env: dict[str, str]) -> ApprovalStack:
    s = ApprovalStack(tmp, env)
    await s.start()
    return s


async def stop_stack(s: ApprovalStack, failed: bool) -> None:
    if failed:
        for bot in s.processes:
            bot.dump()
    await s.stop()
    if not failed:
        s.assert_clean()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApprovalStack]:
    s = await start_stack(tmp_path_factory.mktemp("approval"), BASE_ENV)
    failed = True
    try:
        assert "Approval is on" in await s.turn_on()
        assert "Every finished job" in await s.admin("audit channel", {"channel": s.audit.id})
        yield s
        failed = False
    finally:
        await stop_stack(s, failed)


async def test_approve_starts_the_job_and_the_review_says_who(stack: ApprovalStack) -> None:
    member = stack.member("kid")
    frame = png(640, 360, "purple")
    stack.sim.script_next(TaskScript(clip=fake_clip(90_000)))
    runs = len(stack.sim.runs)
    run = await stack.held("a dragon made of <@&1234567890123456789> clouds", member, image=frame)
    assert run.card is not None and run.job_id is not None
    assert stack.field(run.card, "Credits") == "1 reserved"
    assert run.card.custom_ids() == [f"video:cancel:{run.job_id}"]
    review = await stack.review_of(run.job_id)
    embed = review.embeds[0]
    assert "waiting for approval" in embed["title"]
    assert "<@\u200b&1234567890123456789>" in embed["description"]  # inert prompt
    assert review.allowed_mentions == {"parse": []} or not (review.allowed_mentions or {}).get(
        "parse"
    )
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Requested by"] == f"<@{member.user.id}>"
    assert fields["Expected cost"].startswith("1 credit reserved")
    assert fields["Model"] == "hailuo-2.3" and "first frame" in fields["Settings"]
    assert embed["thumbnail"]["url"].startswith(("attachment://", "http"))
    assert review.attachments, "the review carries the first-frame thumbnail"
    assert len(stack.sim.runs) == runs  # reserved and carded, and not sent to Wiro

    answer = await stack.click(review, f"approval:approve:{run.job_id}", user=stack.moderator)
    assert f"Approved job {run.job_id}" in answer, answer
    assert await stack.wait_final(run.card) == "✅ Video ready"
    await stack.wait_clip(run.job_id)
    assert stack.sim.runs[-1].image == frame
    decided = review.embeds[0]
    assert decided["title"].startswith("✅ Approved")
    assert f"<@{stack.moderator.user.id}>" in str(decided["fields"])
    assert review.custom_ids() == []  # the buttons are gone
    lines = [m.content for m in stack.audit_lines()]
    assert any(f"Job `{run.job_id}`" in line and "approved by" in line for line in lines), lines
    jobs_text = await stack.answer(await stack.dd.slash("jobs", user=member))
    assert "done" in jobs_text


async def test_deny_with_a_reason_refunds_and_the_member_sees_it(stack: ApprovalStack) -> None:
    member = stack.member("edgy")
    run = await stack.held("something the moderators will not like", member)
    assert run.card is not None and run.job_id is not None
    quota_text = await stack.answer(await stack.dd.slash("quota", user=member))
    assert re.search(r"Used [^:]*: \*\*1\*\*", quota_text), quota_text  # reserved at once
    review = await stack.review_of(run.job_id)
    answer = await stack.deny(review, run.job_id, "Not for this server, sorry", stack.moderator)
    assert f"Denied job {run.job_id}" in answer, answer
    await stack.dd.wait_for(lambda: stack.title(run.card) == DENIED_TITLE, 10)  # type: ignore[arg-type]
    assert "Not for this server, sorry" in (stack.field(run.card, "What happened") or "")
    assert stack.field(run.card, "Credits") == "1 refunded"
    quota_text = await stack.answer(await stack.dd.slash("quota", user=member))
    assert re.search(r"Used [^:]*: \*\*0\*\*", quota_text), quota_text
    assert review.embeds[0]["title"].startswith("⛔ Denied") and review.custom_ids() == []
    jobs_text = await stack.answer(await stack.dd.slash("jobs", user=member))
    assert "denied" in jobs_text, jobs_text
    usage = await stack.admin("usage", {"user": member.user.id})
    assert "1 denied" in usage, usage


async def test_members_cannot_review_and_a_member_may_cancel_while_waiting(
    stack: ApprovalStack,
) -> None:
    member, other = stack.member("impatient"), stack.member("nosy")
    run = await stack.held("a slow snail", member)
    assert run.card is not None and run.job_id is not None
    review = await stack.review_of(run.job_id)
    refused = await stack.click(review, f"approval:approve:{run.job_id}", user=other)
    assert "Only moderators" in refused
    answer = await stack.click(run.card, f"video:cancel:{run.job_id}", user=member)
    assert "cancelled" in answer, answer
    await stack.wait_final(run.card)
    assert stack.field(run.card, "Credits") == "1 refunded"
    await stack.dd.wait_for(lambda: review.custom_ids() == [], 10)
    assert "Cancelled" in review.embeds[0]["title"]


async def test_moderators_and_trusted_members_skip_the_queue(stack: ApprovalStack) -> None:
    for who in (stack.moderator, stack.member("regular", roles=[stack.trusted])):
        stack.sim.script_next(TaskScript(clip=fake_clip(40_000)))
        run = await stack.video("a quick one", user=who)
        assert run.card is not None and run.job_id is not None, run.reply
        assert "waiting" not in run.reply
        assert await stack.wait_final(run.card) == "✅ Video ready"
        assert stack.reviews(run.job_id) == []


async def test_two_moderators_at_once_make_one_decision(stack: ApprovalStack) -> None:
    member = stack.member("popular")
    stack.sim.script_next(TaskScript(clip=fake_clip(40_000)))
    run = await stack.held("everyone wants to decide", member)
    assert run.card is not None and run.job_id is not None
    review = await stack.review_of(run.job_id)
    runs = len(stack.sim.runs)
    clicks = await asyncio.gather(
        stack.dd.click(review, f"approval:approve:{run.job_id}", user=stack.moderator),
        stack.dd.click(review, f"approval:approve:{run.job_id}", user=stack.second_mod),
    )
    answers = sorted([await stack.answer(c) for c in clicks])
    assert sum("Approved job" in a for a in answers) == 1, answers
    assert sum("already approved by" in a for a in answers) == 1, answers
    assert await stack.wait_final(run.card) == "✅ Video ready"
    assert len(stack.sim.runs) == runs + 1  # one run, not two
    # A Deny form opened before the approval, submitted after it, changes nothing.
    late = stack.member("late")
    second = await stack.held("decided while the form was open", late)
    assert second.job_id is not None
    review2 = await stack.review_of(second.job_id)
    opened = await stack.dd.click(review2, f"approval:deny:{second.job_id}", user=stack.moderator)
    await stack.dd.wait_for_ack(opened)
    stack.sim.script_next(TaskScript(clip=fake_clip(40_000)))
    assert "Approved" in await stack.click(
        review2, f"approval:approve:{second.job_id}", user=stack.second_mod
    )
    submitted = await stack.dd.submit_modal(opened, {"reason": "too late"})
    assert "already approved by" in await stack.answer(submitted)
    assert second.card is not None
    assert await stack.wait_final(second.card) == "✅ Video ready"


async def test_limit_show_and_turning_it_off(stack: ApprovalStack) -> None:
    member = stack.member("queued")
    run = await stack.held("waits while approval is turned off", member)
    assert run.job_id is not None
    shown = await stack.admin("limit show")
    assert "Approval: **on**" in shown and f"<#{stack.review.id}>" in shown, shown
    assert "Waiting now: **1**" in shown, shown
    assert "approval.on" in shown
    assert "still need a decision" in await stack.admin("approval off")
    stack.sim.script_next(TaskScript(clip=fake_clip(40_000)))
    now_free = await stack.video("starts at once", user=stack.member("free"))
    assert now_free.card is not None and "waiting" not in now_free.reply
    review = await stack.review_of(run.job_id)
    assert "Approved" in await stack.click(
        review, f"approval:approve:{run.job_id}", user=stack.moderator
    )
    assert "Approval is on" in await stack.turn_on()


async def test_a_review_channel_the_bot_cannot_post_in_is_refused(stack: ApprovalStack) -> None:
    locked = stack.channel("flood")  # known to the bot from GUILD_CREATE
    await stack.dd.set_overwrite(locked, stack.dd.bot_role(), deny=SEND_MESSAGES)
    answer = await stack.admin("approval on", {"channel": locked.id})
    assert "can't post reviews in that channel" in answer and "Send Messages" in answer, answer
    shown = await stack.admin("limit show")  # the review channel did not move
    assert f"<#{stack.review.id}>" in shown and f"<#{locked.id}>" not in shown, shown
    refused = await stack.admin("approval on", {"channel": stack.review.id}, user=stack.member())
    assert "moderator" in refused.lower(), refused


async def test_budget_alerts_once_each_in_the_audit_channel(stack: ApprovalStack) -> None:
    """Last in the module: it uses up the server's budget."""
    before = len(stack.audit_lines())
    shown = await stack.admin("budget show")
    match = re.search(r"Spent this month: \$([0-9.,]+)", shown)
    assert match, shown
    spent = float(match.group(1).replace(",", ""))  # the module's earlier runs
    await stack.admin("budget set", {"usd": round(spent + 10.0, 2)})
    for cost in ("8.5", "2.0"):
        stack.sim.script_next(TaskScript(clip=fake_clip(30_000), totalcost=cost))
        run = await stack.video("spend", user=stack.moderator)
        assert run.card is not None, run.reply
        assert await stack.wait_final(run.card) == "✅ Video ready"

    def alerts() -> list[Message]:
        return [m for m in stack.audit_lines()[before:] if "budget" in m.content]

    found = await stack.dd.wait_for(lambda: len(alerts()) == 2 and alerts(), 10)
    assert "80 %" in found[0].content and "reached" in found[1].content
    for message in found:
        assert (message.allowed_mentions or {}).get("parse", []) == []
        assert "<@" not in message.content
    refused = await stack.video("over budget", user=stack.moderator)
    assert refused.card is None and "budget" in refused.reply
    # `budget set` checks the alerts before it answers: once answered, no line was repeated.
    await stack.admin("budget set", {"usd": round(spent + 10.0, 2)})
    assert len(alerts()) == 2


async def test_expiry_refunds_an_unreviewed_request(tmp_path: Path) -> None:
    s = await start_stack(tmp_path, {**BASE_ENV, "APPROVAL_EXPIRY_HOURS": "0.001"})  # 3.6 s
    failed = True
    try:
        await s.turn_on()
        member = s.member("forgotten")
        run = await s.held("nobody looks at this", member)
        assert run.card is not None and run.job_id is not None
        review = await s.review_of(run.job_id)
        await s.dd.wait_for(lambda: s.title(run.card) == EXPIRED_TITLE, 20)  # type: ignore[arg-type]
        assert "expired" in (s.field(run.card, "What happened") or "")
        assert s.field(run.card, "Credits") == "1 refunded"
        await s.dd.wait_for(lambda: review.custom_ids() == [], 10)
        assert "Expired" in review.embeds[0]["title"]
        usage = await s.admin("usage", {"user": member.user.id})
        assert "1 expired" in usage, usage
        assert s.sim.runs == []
        failed = False
    finally:
        await stop_stack(s, failed)


async def test_a_restart_while_waiting_keeps_the_wait_and_the_buttons(tmp_path: Path) -> None:
    s = await start_stack(tmp_path, BASE_ENV)
    failed = True
    try:
        await s.turn_on()
        member = s.member("patient")
        approved = await s.held("approved after a restart", member)
        denied = await s.held("denied after a restart", member)
        assert approved.job_id is not None and denied.job_id is not None
        review_a = await s.review_of(approved.job_id)
        review_d = await s.review_of(denied.job_id)
        opened = await s.dd.click(review_d, f"approval:deny:{denied.job_id}", user=s.moderator)
        await s.dd.wait_for_ack(opened)
        assert s.bot is not None
        await s.bot.kill()
        await s.start_bot()
        # The restart resumes both jobs, and each runner stops at once: they still wait.
        for job_id in (approved.job_id, denied.job_id):
            await s.wait_log(f"job={job_id} waits for a moderator; not started")
        assert s.sim.runs == []
        assert s.title(approved.card) == WAITING_TITLE  # type: ignore[arg-type]
        s.sim.script_next(TaskScript(clip=fake_clip(40_000)))
        assert "Approved" in await s.click(
            review_a, f"approval:approve:{approved.job_id}", user=s.moderator
        )
        assert approved.card is not None
        assert await s.wait_final(approved.card) == "✅ Video ready"
        # The Deny form opened before the restart is still honoured.
        submitted = await s.dd.submit_modal(opened, {"reason": "opened before the restart"})
        assert "Denied" in await s.answer(submitted)
        await s.dd.wait_for(lambda: s.title(denied.card) == DENIED_TITLE, 10)  # type: ignore[arg-type]
        assert len(s.sim.runs) == 1
        failed = False
    finally:
        await stop_stack(s, failed)
