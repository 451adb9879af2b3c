"""Command bodies run end to end against spec'd Discord objects and a real database.

They are thin on purpose; this checks the wiring: options reach the right function, answers
are ephemeral with no mentions, refusals surface as `Refused` for the tree's error funnel.
"""

from __future__ import annotations

import types
from unittest import mock

import discord
import pytest

from bot.app.video_bot import VideoBot
from bot.governance.approval import ApprovalService
from bot.governance.budget_alerts import BudgetAlerts
from bot.jobs.contracts import Refused
from bot.jobs.service import JobService
from cogs.admin.commands import AdminCog
from cogs.audit import AuditPoster
from cogs.member_commands import GovernanceCog
from cogs.words import budget_alert_line
from storage.db import Database
from storage.models import JobState
from tests.cogs.conftest import (
    AUDIT_CHANNEL,
    GUILD,
    MOD,
    OTHER,
    ROLE_A,
    USER,
    make_interaction,
    make_job,
    make_member,
    make_role,
)


@pytest.fixture
def bot(db: Database, service: JobService) -> VideoBot:
    fake = mock.create_autospec(VideoBot, instance=True)
    fake.storage = db
    fake.jobs = service
    fake.approvals = ApprovalService(storage=db, jobs=service)
    fake.budget_alerts = BudgetAlerts(
        storage=db, post=mock.AsyncMock(return_value=False), words=budget_alert_line
    )
    fake.user = types.SimpleNamespace(id=1)
    return fake


def interaction_for(user: discord.Member, db: Database) -> mock.NonCallableMagicMock:
    interaction = make_interaction(user, db)
    interaction.response = mock.create_autospec(discord.InteractionResponse, instance=True)
    interaction.response.is_done.return_value = False
    interaction.followup = mock.create_autospec(discord.Webhook, instance=True)
    interaction.is_expired.return_value = False
    interaction.guild = None
    return interaction


def answer(interaction: mock.NonCallableMagicMock) -> tuple[str, dict]:
    """The one ephemeral answer the command sent (initial response or follow-up)."""
    sent = interaction.response.send_message.call_args or interaction.followup.send.call_args
    assert sent is not None, "no answer"
    args, kwargs = sent
    assert kwargs["ephemeral"] is True
    assert kwargs["allowed_mentions"].to_dict() == discord.AllowedMentions.none().to_dict()
    return args[0], kwargs


def commands_of(cog) -> dict[str, object]:
    out = {}
    for top in cog.get_app_commands():
        for leaf in getattr(top, "walk_commands", lambda top=top: [top])():
            if not hasattr(leaf, "commands"):
                out[leaf.qualified_name] = leaf
    return out


async def run(cog, name: str, interaction, **options) -> None:
    command = commands_of(cog)[name]
    await command.callback(cog, interaction, **options)  # type: ignore[attr-defined]


async def test_limit_set_and_show_through_the_commands(db: Database, bot) -> None:
    cog = AdminCog(bot)
    mod = interaction_for(make_member(MOD, manage_guild=True), db)
    await run(cog, "videoadmin limit set", mod, scope="role", credits=7, period="week",
              target=make_role(ROLE_A))  # fmt: skip
    assert "7 credits per week" in answer(mod)[0]
    mod = interaction_for(make_member(MOD, manage_guild=True), db)
    await run(cog, "videoadmin limit show", mod, member=make_member(USER, roles=(ROLE_A,)))
    assert f"For <@{USER}>: **7 credits per week**" in answer(mod)[0]
    with pytest.raises(Refused, match="leave `target` empty"):
        await run(cog, "videoadmin limit set", mod, scope="server", credits=1, period="day",
                  target=make_member(USER))  # fmt: skip


async def test_usage_command_attaches_the_csv(db: Database, bot) -> None:
    await make_job(db, JobState.FAILED)
    mod = interaction_for(make_member(MOD, manage_guild=True), db)
    await run(AdminCog(bot), "videoadmin usage", mod, days=30, user=None)
    mod.response.defer.assert_awaited_once()
    mod.response.is_done.return_value = True
    text, kwargs = answer(mod)
    assert "1 job (0 succeeded) by 1 member: 1 credit" in text
    assert kwargs["file"].filename.endswith("-30d.csv")


async def test_audit_channel_command_rearms_the_poster(db: Database, bot) -> None:
    poster = AuditPoster(bot)
    bot.get_cog.return_value = types.SimpleNamespace(audit=poster)  # the cards extension
    poster._warned.add((GUILD, AUDIT_CHANNEL))
    channel = mock.create_autospec(discord.TextChannel, instance=True)
    channel.id = AUDIT_CHANNEL
    channel.guild = mock.create_autospec(discord.Guild, instance=True)
    channel.guild.id = GUILD
    channel.guild.me = None  # permissions unknown: accepted
    mod = interaction_for(make_member(MOD, manage_guild=True), db)
    await run(AdminCog(bot), "videoadmin audit channel", mod, channel=channel)
    assert (await db.guild_settings(GUILD)).audit_channel_id == AUDIT_CHANNEL
    assert not poster._warned
    assert f"<#{AUDIT_CHANNEL}>" in answer(mod)[0]


async def test_quota_command(db: Database, bot) -> None:
    await db.set_limit(GUILD, "user", USER, 0, "day", MOD)
    member = interaction_for(make_member(USER), db)
    await run(GovernanceCog(bot), "quota", member)
    assert "no access" in answer(member)[0]


async def test_jobs_command_gates_other_members(db: Database, bot) -> None:
    job = await make_job(db, user_id=OTHER)
    cog = GovernanceCog(bot)
    member = interaction_for(make_member(USER), db)
    with pytest.raises(Refused, match="Only moderators"):
        await run(cog, "jobs", member, member=make_member(OTHER))
    mod = interaction_for(make_member(MOD, manage_guild=True), db)
    await run(cog, "jobs", mod, member=make_member(OTHER))
    assert f"`{job.id}`" in answer(mod)[0]
    own = interaction_for(make_member(USER), db)
    await run(cog, "jobs", own, member=None)
    assert "no video jobs" in answer(own)[0]


@pytest.mark.parametrize(
    ("manage_guild", "roles", "allowed"),
    [(True, (), True), (False, (ROLE_A,), True), (False, (), False)],
    ids=["manage-server", "mod-role", "member"],
)
async def test_every_admin_check_refuses_non_moderators(
    db: Database, bot, manage_guild: bool, roles: tuple[int, ...], allowed: bool
) -> None:
    from cogs.common import ModeratorOnly

    await db.set_mod_role(GUILD, ROLE_A, MOD)
    interaction = interaction_for(make_member(USER, manage_guild=manage_guild, roles=roles), db)
    leaves = commands_of(AdminCog(bot))
    assert len(leaves) == 29  # with `language set` and `language show`
    for command in leaves.values():
        for check in command.checks:  # type: ignore[attr-defined]
            if allowed:
                assert await check(interaction) is True
            else:
                with pytest.raises(ModeratorOnly):
                    await check(interaction)


async def test_used_up_budget_with_no_known_price_is_refused_before_the_image_is_read(
    db: Database, bot, wiro, clock
) -> None:
    """A fresh install (Wiro gave no price, no past runs) with this month's budget spent.

    The early check used to count the unknown cost as $0 and let it through, so the member's
    image was downloaded before the reservation refused, and that refusal left out when the
    budget resets. Both now run the same check: refused at once, reset time included."""
    from bot.wiro.schema import ToolInfo
    from cogs.video import VideoCog

    # Tool/Detail named the image field but published no prices: the run's cost is unknown.
    wiro.tool = ToolInfo.from_body(
        {"tool": [{"parameters": [{"items": [{"id": "inputImage", "type": "fileinput"}]}]}]}
    )
    assert wiro.tool.price_for("768P", 6) is None
    spent = await make_job(db, JobState.DELIVERING, user_id=OTHER)
    await db.charge(spent.id, total_cost_usd=0.50)
    await db.transition(spent.id, JobState.SUCCEEDED)
    await db.set_budget(GUILD, 0.50, MOD)
    image = mock.create_autospec(discord.Attachment, instance=True)
    image.size, image.url = 1000, "https://cdn.example/first.png"
    member = interaction_for(make_member(USER), db)
    member.channel_id = 55
    await run(VideoCog(bot), "video", member, prompt="a fox in the snow", image=image)
    text = answer(member)[0]
    assert "budget for the month is used up ($0.50 of $0.50" in text
    resets = clock().replace(month=clock().month % 12 + 1, day=1, hour=0, minute=0)
    assert f"It resets <t:{int(resets.timestamp())}:R>" in text
    image.read.assert_not_called()
    assert len(await db.jobs_for_guild(GUILD)) == 1  # nothing reserved
