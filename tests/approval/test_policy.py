"""Who waits for a moderator, and how the queue words its times and reasons (pure)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.governance.approval import clean_reason, expiry_words, must_wait
from bot.governance.budget_alerts import BudgetAlert, thresholds_passed
from bot.jobs.contracts import Refused
from cogs.words import budget_alert_line
from storage.approvals import ApprovalSettings
from tests.approval.conftest import GUILD, MODROLE, REVIEW, T0, TRUSTED

ON = ApprovalSettings(guild_id=GUILD, enabled=True, review_channel_id=REVIEW,
                      trusted_role_id=TRUSTED)  # fmt: skip
ON_NO_TRUSTED = ON.model_copy(update={"trusted_role_id": None})
OFF = ON.model_copy(update={"enabled": False})


@pytest.mark.parametrize(
    ("settings", "roles", "manage_guild", "mod_role", "waits"),
    [
        (None, set(), False, None, False),  # never configured
        (OFF, set(), False, None, False),  # turned off
        (ON, set(), False, None, True),  # a plain member waits
        (ON, {123}, False, MODROLE, True),  # other roles do not help
        (ON, set(), True, None, False),  # Manage Server is a moderator
        (ON, {MODROLE}, False, MODROLE, False),  # the moderator role too
        (ON, {MODROLE}, False, None, True),  # ...only while it is the moderator role
        (ON, {TRUSTED}, False, None, False),  # the trusted role skips the queue
        (ON_NO_TRUSTED, {TRUSTED}, False, None, True),  # no trusted role set: nobody is
    ],
    ids=[
        "unset",
        "off",
        "member",
        "other-role",
        "manage-guild",
        "mod-role",
        "stale-mod-role",
        "trusted",
        "no-trusted-role",
    ],
)
def test_who_waits(
    settings: ApprovalSettings | None,
    roles: set[int],
    manage_guild: bool,
    mod_role: int | None,
    waits: bool,
) -> None:
    assert must_wait(settings, role_ids=roles, manage_guild=manage_guild,
                     mod_role_id=mod_role) is waits  # fmt: skip


@pytest.mark.parametrize(
    ("expiry", "words"),
    [
        (timedelta(hours=24), "24 hours"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(hours=1.5), "90 minutes"),
        (timedelta(hours=0.25), "15 minutes"),
        (timedelta(seconds=7.2), "7 seconds"),
    ],
)
def test_expiry_words(expiry: timedelta, words: str) -> None:
    assert expiry_words(expiry) == words


def test_deny_reason_is_one_trimmed_line_and_required() -> None:
    assert clean_reason("  too\n  scary \t for kids ") == "too scary for kids"
    with pytest.raises(Refused, match="reason"):
        clean_reason(" \n ")
    with pytest.raises(Refused, match="300"):
        clean_reason("x" * 301)


@pytest.mark.parametrize(
    ("spent", "budget", "passed"),
    [
        (0.0, 10.0, ()),
        (7.99, 10.0, ()),
        (8.0, 10.0, (80,)),
        (9.99, 10.0, (80,)),
        (10.0, 10.0, (80, 100)),
        (12.0, 10.0, (80, 100)),
        (5.0, None, ()),  # no budget
        (0.0, 0.0, ()),  # a $0 budget refuses every run: nothing to announce
    ],
)
def test_thresholds_passed(spent: float, budget: float | None, passed: tuple[int, ...]) -> None:
    assert thresholds_passed(spent, budget) == passed


def test_alert_lines_name_the_amounts_and_ping_nobody() -> None:
    resets = T0 + timedelta(days=5)
    eighty = budget_alert_line(BudgetAlert(80, 8.4, 10.0, resets))
    full = budget_alert_line(BudgetAlert(100, 10.2, 10.0, resets))
    assert "80 %" in eighty and "$8.40" in eighty and "$10.00" in eighty
    assert f"<t:{int(resets.timestamp())}:R>" in eighty
    assert "reached" in full and "$10.20" in full and "budget set" in full
    for line in (eighty, full):
        assert "<@" not in line and "@everyone" not in line and "@here" not in line


def test_manage_server_from_the_cached_server_and_roles() -> None:
    """The gate's own view of who is a moderator, for entry points that do not pass it."""
    import types

    import discord

    from bot.app.video_bot import manages_guild_by_roles

    def role(**perms: bool) -> types.SimpleNamespace:
        return types.SimpleNamespace(permissions=discord.Permissions(**perms))

    roles = {1: role(manage_guild=True), 2: role(administrator=True), 3: role(send_messages=True)}
    guild = types.SimpleNamespace(
        owner_id=99, default_role=role(view_channel=True), get_role=roles.get
    )
    check = manages_guild_by_roles
    assert check(guild, 5, frozenset({1})) and check(guild, 5, frozenset({2}))  # type: ignore[arg-type]
    assert check(guild, 99, frozenset())  # type: ignore[arg-type]  # the owner
    assert not check(guild, 5, frozenset({3, 404}))  # type: ignore[arg-type]
    assert not check(None, 5, frozenset({1}))
