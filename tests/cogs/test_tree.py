"""The /videoadmin, /quota and /jobs command trees: names are interface (README command tables)."""

from __future__ import annotations

from unittest import mock

import discord
from discord import app_commands

from bot.app.video_bot import VideoBot
from cogs.admin.commands import AdminCog
from cogs.member_commands import GovernanceCog

# qualified name -> options in order (name, required)
ADMIN_TREE = {
    "videoadmin limit set": [
        ("scope", True), ("credits", True), ("period", True), ("target", False)
    ],
    "videoadmin limit clear": [("scope", True), ("target", False)],
    "videoadmin limit show": [("member", False)],
    "videoadmin channels allow": [("channel", True)],
    "videoadmin channels remove": [("channel", True)],
    "videoadmin channels list": [],
    "videoadmin pause": [("reason", False)],
    "videoadmin resume": [],
    "videoadmin block": [("user", True), ("reason", False)],
    "videoadmin unblock": [("user", True)],
    "videoadmin budget set": [("usd", True)],
    "videoadmin budget show": [],
    "videoadmin words add": [("word", True)],
    "videoadmin words remove": [("word", True)],
    "videoadmin words list": [],
    "videoadmin style add": [
        ("name", True), ("prompt", True), ("camera", False), ("model", False),
        ("resolution", False), ("duration", False),
    ],
    "videoadmin style remove": [("name", True)],
    "videoadmin style list": [],
    "videoadmin audit channel": [("channel", False)],
    "videoadmin refund": [("job", True)],
    "videoadmin cancel": [("job", True)],
    "videoadmin usage": [("days", False), ("user", False)],
    "videoadmin modrole set": [("role", True)],
    "videoadmin modrole clear": [],
    "videoadmin approval on": [("channel", True), ("trusted_role", False)],
    "videoadmin approval off": [],
    "videoadmin animate": [("who", False)],
    "videoadmin language set": [("language", True)],
    "videoadmin language show": [],
}  # fmt: skip


def _walk(node: app_commands.Group | app_commands.Command) -> list[app_commands.Command]:
    if isinstance(node, app_commands.Group):
        return [leaf for child in node.commands for leaf in _walk(child)]
    return [node]


def _cog(cls: type) -> object:
    return cls(mock.create_autospec(VideoBot, instance=True))


def test_videoadmin_tree_matches_the_product() -> None:
    (group,) = _cog(AdminCog).get_app_commands()  # type: ignore[attr-defined]
    assert isinstance(group, app_commands.Group) and group.name == "videoadmin"
    assert group.default_permissions == discord.Permissions(manage_guild=True)
    assert group.guild_only is True
    leaves = _walk(group)
    got = {c.qualified_name: [(p.name, p.required) for p in c.parameters] for c in leaves}
    assert got == ADMIN_TREE


def test_every_videoadmin_subcommand_rechecks_moderator() -> None:
    (group,) = _cog(AdminCog).get_app_commands()  # type: ignore[attr-defined]
    for command in _walk(group):
        names = [check.__qualname__ for check in command.checks]
        assert any(n.startswith("moderator_only.") for n in names), command.qualified_name


def test_option_choices_and_ranges() -> None:
    (group,) = _cog(AdminCog).get_app_commands()  # type: ignore[attr-defined]
    by_name = {c.qualified_name: {p.name: p for p in c.parameters} for c in _walk(group)}
    limit_set = by_name["videoadmin limit set"]
    assert [c.value for c in limit_set["scope"].choices] == ["server", "role", "user"]
    assert [c.value for c in limit_set["period"].choices] == ["day", "week", "month"]
    assert (limit_set["credits"].min_value, limit_set["credits"].max_value) == (0, 100_000)
    assert limit_set["target"].type is discord.AppCommandOptionType.mentionable
    usage = by_name["videoadmin usage"]
    assert (usage["days"].min_value, usage["days"].max_value) == (1, 366)
    assert by_name["videoadmin budget set"]["usd"].min_value == 0
    word = by_name["videoadmin words add"]["word"]
    assert (word.min_value, word.max_value) == (1, 50)
    for name in ("videoadmin channels allow", "videoadmin audit channel"):
        assert by_name[name]["channel"].channel_types == [
            discord.ChannelType.text, discord.ChannelType.news
        ]  # fmt: skip


def test_member_commands() -> None:
    commands = {c.name: c for c in _cog(GovernanceCog).get_app_commands()}  # type: ignore[attr-defined]
    assert set(commands) == {"quota", "jobs"}
    assert commands["quota"].parameters == []
    assert [(p.name, p.required) for p in commands["jobs"].parameters] == [("member", False)]
    assert all(c.guild_only for c in commands.values())
    for command in commands.values():
        assert 1 <= len(command.description) <= 100


def test_videoprivacy_is_a_guild_only_member_command() -> None:
    from cogs.consent import ConsentCog

    [command] = _cog(ConsentCog).get_app_commands()  # type: ignore[attr-defined]
    assert command.name == "videoprivacy" and command.guild_only
    [animate] = command.parameters
    assert (animate.name, animate.required) == ("animate", True)
    assert [c.value for c in animate.choices] == ["allow", "deny"]


def test_animate_rule_choices_are_the_products() -> None:
    (group,) = _cog(AdminCog).get_app_commands()  # type: ignore[attr-defined]
    [animate] = [c for c in _walk(group) if c.qualified_name == "videoadmin animate"]
    assert [c.value for c in animate.parameters[0].choices] == ["own", "anyone", "moderators"]


def test_video_options_are_the_products() -> None:
    from cogs.video import VideoCog

    cog = _cog(VideoCog)
    [command] = [c for c in cog.__cog_app_commands__ if c.name == "video"]  # type: ignore[attr-defined]
    assert [(p.name, p.required) for p in command.parameters] == [
        ("prompt", True),
        ("image", False),
        ("resolution", False),
        ("duration", False),
        ("prompt_optimizer", False),
        ("model", False),
        ("camera", False),
        ("style", False),
    ]
    by_name = {p.name: p for p in command.parameters}
    assert [c.value for c in by_name["model"].choices] == ["hailuo-2.3", "hailuo-2.3-fast"]
    assert by_name["camera"].autocomplete and by_name["style"].autocomplete


def test_animate_with_hailuo_is_a_guild_only_message_menu() -> None:
    from cogs.animate import StudioCog

    menu = _cog(StudioCog).menu  # type: ignore[attr-defined]
    assert menu.name == "Animate with Hailuo"
    assert menu.type is discord.AppCommandType.message
    assert menu.guild_only
    contexts = menu.allowed_contexts
    assert contexts.guild and not contexts.dm_channel and not contexts.private_channel
