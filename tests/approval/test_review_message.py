"""The review message and the moderators' approval words (pure, no Discord connection)."""

from __future__ import annotations

from datetime import timedelta

import discord
import pytest

from bot.governance.moderation import check_trusted_role
from bot.jobs.contracts import Refused
from cogs.admin.approval import approval_summary, check_review_channel, turn_off, turn_on
from cogs.approval import deny_form, render_review
from cogs.common import form_values
from storage.approvals import Approval, ApprovalSettings, ApprovalStatus
from storage.db import Database
from storage.models import Job
from tests.approval.conftest import GUILD, MOD, REVIEW, T0, TRUSTED, USER, held_job
from tests.factories import Clock

DAY = timedelta(hours=24)
SNOWFLAKE = 123456789012345678


def job(**fields: object) -> Job:
    base: dict[str, object] = {
        "id": 7, "guild_id": GUILD, "channel_id": 20, "user_id": USER,
        "prompt": "@everyone look <@123456789012345678> **bold** a cat",
        "resolution": "768P", "duration": 6,
        "prompt_optimizer": True, "credits": 1, "card_message_id": 99, "expected_cost_usd": 0.28,
        "created_at": T0, "updated_at": T0,
    }  # fmt: skip
    return Job.model_validate(base | fields)


def approval(status: ApprovalStatus = ApprovalStatus.WAITING, **fields: object) -> Approval:
    base: dict[str, object] = {
        "job_id": 7, "guild_id": GUILD, "user_id": USER, "status": status,
        "review_channel_id": REVIEW, "review_message_id": 5, "requested_at": T0,
        "expires_at": T0 + DAY,
    }  # fmt: skip
    return Approval.model_validate(base | fields)


def fields(embed: discord.Embed) -> dict[str, str]:
    return {f.name or "": f.value or "" for f in embed.fields}


def test_waiting_review_has_everything_a_moderator_needs_and_two_buttons() -> None:
    embed, view = render_review(job(), approval(), expiry=DAY, has_thumbnail=True)
    assert "waiting for approval" in (embed.title or "")
    # The prompt is inert text: no mention renders, no markdown applies.
    assert "@\u200beveryone" in (embed.description or "")
    assert "<@123456789012345678>" not in (embed.description or "") and "\\*\\*bold\\*\\*" in (
        embed.description or ""
    )
    shown = fields(embed)
    assert shown["Settings"].startswith("Hailuo 2.3 · 768P · 6 s")  # the model is named
    assert shown["Model"] == "hailuo-2.3" and shown["Camera"] == "none"
    assert shown["Requested by"] == f"<@{USER}>"
    assert shown["Expected cost"] == "1 credit reserved · about $0.28 at Wiro"
    assert shown["Expires"] == f"<t:{int((T0 + DAY).timestamp())}:R>"
    assert "Job 7" in shown["Card"]
    assert embed.thumbnail.url == "attachment://first-frame.jpg"
    assert view is not None
    assert [c.custom_id for c in view.children] == ["approval:approve:7", "approval:deny:7"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "extra", "title", "words"),
    [
        (ApprovalStatus.APPROVED, {"decided_by": MOD}, "Approved", f"Approved by <@{MOD}>"),
        (ApprovalStatus.DENIED, {"decided_by": MOD, "reason": f"too <@{SNOWFLAKE}> dark"},
         "Denied",
         f"Reason shown to the member: too <@\u200b{SNOWFLAKE}> dark"),
        (ApprovalStatus.EXPIRED, {}, "Expired", "within 24 hours"),
        (ApprovalStatus.CANCELLED, {"decided_by": USER}, "Cancelled", f"Cancelled by <@{USER}>"),
    ],
)  # fmt: skip
def test_decided_review_says_who_and_loses_its_buttons(
    status: ApprovalStatus, extra: dict[str, object], title: str, words: str
) -> None:
    decided = approval(status, decided_at=T0 + timedelta(minutes=3), **extra)
    embed, view = render_review(job(), decided, expiry=DAY)
    assert title in (embed.title or "") and view is None
    assert words in fields(embed)["Decision"]
    assert "Expires" not in fields(embed)


async def test_deny_form_asks_for_a_bounded_reason_and_is_not_kept_in_memory() -> None:
    form = deny_form(7)
    payload = form.to_dict()
    assert payload["custom_id"] == "approval:deny-form:7"
    [label] = payload["components"]
    assert label["component"]["custom_id"] == "reason"
    assert label["component"]["max_length"] == 300 and label["component"]["required"]
    assert form.is_finished()  # discord.py will not store it: the cog's listener answers it


def test_a_forms_answers_are_read_from_rows_and_labels() -> None:
    rows = [{"type": 1, "components": [{"type": 4, "custom_id": "reason", "value": "a"}]}]
    labels = [{"type": 18, "component": {"type": 4, "custom_id": "reason", "value": "b"}}]
    assert form_values(rows).get("reason") == "a"
    assert form_values(labels).get("reason") == "b"
    assert form_values(labels).get("other") is None


def test_review_channel_and_trusted_role_checks() -> None:
    check_review_channel(GUILD, GUILD, discord.Permissions.all())
    with pytest.raises(Refused, match="not in this server"):
        check_review_channel(GUILD + 1, GUILD, None)
    with pytest.raises(Refused, match="Attach Files"):
        check_review_channel(GUILD, GUILD, discord.Permissions(view_channel=True,
                             send_messages=True, embed_links=True))  # fmt: skip
    check_trusted_role(GUILD, GUILD, is_default=False)
    with pytest.raises(Refused, match="everyone"):
        check_trusted_role(GUILD, GUILD, is_default=True)
    with pytest.raises(Refused, match="not a role of this server"):
        check_trusted_role(GUILD + 1, GUILD, is_default=False)


async def test_turn_on_and_off(db: Database, clock: Clock) -> None:
    text = await turn_on(db, GUILD, REVIEW, TRUSTED, MOD, DAY)
    assert f"<#{REVIEW}>" in text and f"<@&{TRUSTED}>" in text and "24 hours" in text
    settings = await db.approval_settings(GUILD)
    assert settings is not None and settings.enabled
    summary = approval_summary(settings, 2, DAY)
    assert "**on**" in summary and "**2**" in summary and f"<@&{TRUSTED}>" in summary
    await held_job(db, clock)
    assert "1 request already waiting" in await turn_off(db, GUILD, MOD, 1)
    with pytest.raises(Refused, match="already off"):
        await turn_off(db, GUILD, MOD, 0)
    assert approval_summary(await db.approval_settings(GUILD), 0, DAY).startswith("Approval: off")
    assert approval_summary(None, 0, DAY).startswith("Approval: off")
    off = ApprovalSettings(guild_id=GUILD, enabled=False)
    assert "3 earlier requests" in approval_summary(off, 3, DAY)


# ------------------------------------------------------------------------------------------------
# The member's card, /jobs and the audit line for held requests
# ------------------------------------------------------------------------------------------------
def test_card_of_a_waiting_request_says_so_and_keeps_cancel() -> None:
    from bot.jobs.contracts import CardExtras
    from cogs.cards.render import render_card

    embed, view = render_card(job(), CardExtras(approval="waiting"))
    assert embed.title == "⏳ Waiting for a moderator"
    shown = fields(embed)
    assert "moderator will approve or deny" in shown["Stage"]
    assert shown["Credits"] == "1 reserved" and "ETA" not in shown
    assert view is not None
    assert [c.custom_id for c in view.children] == ["video:cancel:7"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("approval", "title"),
    [("denied", "⛔ Request denied"), ("expired", "⌛ Request expired"),
     ("cancelled", "🚫 Video cancelled"), (None, "🚫 Video cancelled")],
)  # fmt: skip
def test_card_of_a_request_ended_by_the_queue(approval: str | None, title: str) -> None:
    from bot.jobs.contracts import CardExtras
    from cogs.cards.render import render_card
    from storage.models import JobState

    ended = job(state=JobState.CANCELLED, outcome_reason="A moderator denied this request: no",
                finished_at=T0)  # fmt: skip
    embed, view = render_card(ended, CardExtras(approval=approval))
    assert embed.title == title and view is None
    assert fields(embed)["Credits"] == "1 refunded"


def test_jobs_and_audit_words_for_held_requests() -> None:
    from cogs.audit import audit_line
    from cogs.member_commands import job_status_words
    from storage.models import JobState

    assert job_status_words(job(), approval=ApprovalStatus.WAITING) == "⏳ waiting for a moderator"
    cancelled = job(state=JobState.CANCELLED, finished_at=T0, outcome_reason="x")
    assert "denied" in job_status_words(cancelled, approval=ApprovalStatus.DENIED)
    assert "expired" in job_status_words(cancelled, approval=ApprovalStatus.EXPIRED)
    assert job_status_words(cancelled, approval=ApprovalStatus.CANCELLED) == "🚫 cancelled"
    denied = approval(ApprovalStatus.DENIED, decided_by=MOD, reason="too dark")
    line = audit_line(cancelled, denied)
    assert line.startswith("⛔") and f"denied by <@{MOD}> (too dark)" in line
    assert "1 credit refunded" in line
    assert "expired" in audit_line(cancelled, approval(ApprovalStatus.EXPIRED))
    assert "🚫" in audit_line(cancelled) and "(x)" in audit_line(cancelled)  # an ordinary cancel


def test_review_shows_the_studio_model_and_camera_moves_when_the_job_has_them() -> None:
    studio = job().model_copy(update={"model": "hailuo-2.3-fast", "camera": "Pan left,Zoom in"})
    shown = fields(render_review(studio, approval(), expiry=DAY)[0])
    assert shown["Model"] == "hailuo-2.3-fast" and shown["Camera"] == "Pan left, Zoom in"
