"""Consent for Animate: the rule (a table), the check against a real database, and where the
image's author is named (card, review, /jobs, audit line)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

import bot.governance.consent as consent
from bot.jobs.contracts import CardExtras, Refused, VideoRequest
from cogs.approval import render_review
from cogs.audit import audit_line
from cogs.cards.render import render_card
from cogs.consent import privacy_words, rule_words
from cogs.member_commands import job_line
from storage.approvals import Approval, ApprovalStatus
from storage.db import Database
from storage.models import AnimateRule, Job, JobState
from tests.cogs.conftest import CHANNEL, GUILD, MOD, MOD_ROLE, OTHER, T0, USER, make_job
from tests.factories import Clock, open_database

OWN, ANYONE, MODS = AnimateRule.OWN, AnimateRule.ANYONE, AnimateRule.MODERATORS


@pytest.mark.parametrize(
    ("rule", "author", "is_mod", "refused", "expected"),
    [
        (OWN, USER, False, False, None),
        (OWN, USER, False, True, None),  # refusing others never stops the author
        (OWN, OTHER, False, False, consent.OWN_ONLY),
        (OWN, OTHER, True, False, consent.OWN_ONLY),  # own means own, moderators too
        (ANYONE, OTHER, False, False, None),
        (ANYONE, OTHER, False, True, consent.AUTHOR_REFUSED),
        (MODS, OTHER, False, False, consent.MODERATORS_ONLY),
        (MODS, OTHER, True, False, None),
        (MODS, OTHER, True, True, consent.AUTHOR_REFUSED),
    ],
)
def test_the_rule(
    rule: AnimateRule, author: int, is_mod: bool, refused: bool, expected: str | None
) -> None:
    got = consent.refusal(
        rule,
        requester_id=USER,
        author_id=author,
        requester_is_moderator=is_mod,
        author_refused=refused,
    )
    assert got == expected


def test_moderator_is_manage_server_or_the_mod_role() -> None:
    assert consent.is_moderator(None, (), True)
    assert consent.is_moderator(MOD_ROLE, {MOD_ROLE}, False)
    assert not consent.is_moderator(MOD_ROLE, {1}, False)
    assert not consent.is_moderator(None, {MOD_ROLE}, False)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "bot.sqlite3", clock=Clock(T0))
    try:
        yield database
    finally:
        await database.close()


def request(
    author: int | None, *, roles: frozenset[int] = frozenset(), **kw: object
) -> VideoRequest:
    return VideoRequest(
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=USER,
        role_ids=roles,
        prompt="move",
        image_author_id=author,
        **kw,  # type: ignore[arg-type]
    )


async def test_the_check_reads_the_servers_rule_and_the_authors_choice(db: Database) -> None:
    assert await db.animate_rule(GUILD) is OWN  # no row: the default
    await consent.check(db, request(None))  # /video: no author
    await consent.check(db, request(USER))  # their own image
    with pytest.raises(Refused, match="only images from your own messages"):
        await consent.check(db, request(OTHER))

    await consent.set_rule(db, GUILD, "moderators", MOD)
    assert await db.animate_rule(GUILD) is MODS
    with pytest.raises(Refused, match="only moderators"):
        await consent.check(db, request(OTHER))
    await consent.check(db, request(OTHER, manage_guild=True))
    await db.set_mod_role(GUILD, MOD_ROLE, MOD)
    await consent.check(db, request(OTHER, roles=frozenset({MOD_ROLE})))

    await consent.set_rule(db, GUILD, "anyone", MOD)
    await consent.check(db, request(OTHER))
    assert await db.set_animate_refusal(GUILD, OTHER, True) is True
    assert await db.set_animate_refusal(GUILD, OTHER, True) is False  # already so
    with pytest.raises(Refused, match="asked that their images not be animated"):
        await consent.check(db, request(OTHER, manage_guild=True))
    # Per server: the same member's choice elsewhere changes nothing here.
    assert await db.animate_refused_by(GUILD + 1, OTHER) is False
    assert await db.set_animate_refusal(GUILD, OTHER, False) is True
    await consent.check(db, request(OTHER))
    # Every change of the rule is in the moderators' audit log.
    actions = [e.action for e in await db.audit_log(GUILD)]
    assert actions.count("animate.rule") == 2


async def test_an_unknown_rule_is_refused_and_changes_nothing(db: Database) -> None:
    with pytest.raises(Refused, match="not a rule"):
        await consent.set_rule(db, GUILD, "everyone", MOD)
    assert await db.animate_rule(GUILD) is OWN
    assert await db.audit_log(GUILD) == []


async def test_the_bots_messages_belong_to_the_member_whose_job_posted_them(
    db: Database,
) -> None:
    job = await make_job(db, JobState.PENDING)
    await db.update_job(job.id, card_message_id=555, card_posted_at=T0)
    assert await db.requester_of_message(GUILD, 555) == USER
    assert await db.requester_of_message(GUILD + 1, 555) is None  # another server's id
    assert await db.requester_of_message(GUILD, 556) is None


def animated(**fields: object) -> Job:
    base: dict[str, object] = {
        "id": 7, "guild_id": GUILD, "channel_id": CHANNEL, "user_id": USER, "prompt": "wind",
        "resolution": "768P", "duration": 6, "prompt_optimizer": True, "credits": 1,
        "has_image": True, "source_url": "https://discord.com/channels/1/2/3",
        "image_author_id": OTHER, "card_message_id": 99, "state": JobState.SUCCEEDED,
        "created_at": T0, "updated_at": T0,
    }  # fmt: skip
    return Job.model_validate(base | fields)


def test_the_author_is_named_where_the_job_is_shown() -> None:
    job = animated()
    mention = f"<@{OTHER}>"
    embed, _ = render_card(job, CardExtras())
    [source] = [f.value for f in embed.fields if f.name == "Source"]
    assert f"Image by {mention}" in (source or "")
    assert f"from {mention}'s image" in audit_line(job)
    assert f"from {mention}'s image" in job_line(job)
    waiting = Approval(
        job_id=7, guild_id=GUILD, user_id=USER, status=ApprovalStatus.WAITING,
        review_channel_id=1, review_message_id=5, requested_at=T0,
        expires_at=T0 + timedelta(hours=24),
    )  # fmt: skip
    review, _ = render_review(job, waiting, expiry=timedelta(hours=24))
    assert [f.value for f in review.fields if f.name == "Image by"] == [mention]


def test_a_members_own_image_names_nobody_else() -> None:
    for job in (animated(image_author_id=USER), animated(image_author_id=None)):
        embed, _ = render_card(job, CardExtras())
        assert "Image by" not in str([f.value for f in embed.fields])
        assert "'s image" not in audit_line(job) and "'s image" not in job_line(job)


def test_the_words() -> None:
    assert "(`own`, the default)" in rule_words(OWN)
    assert "moderators anyone's" in rule_words(MODS, changed=True)
    assert "/videoprivacy animate:deny" in rule_words(ANYONE)
    assert privacy_words(True, True).startswith("Done: nobody else")
    assert privacy_words(True, False).startswith("Already so:")
    assert privacy_words(False, True).startswith("Done: others may")
