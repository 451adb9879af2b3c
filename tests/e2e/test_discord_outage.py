"""End to end: the real bot against a Discord that fails, refuses and forgets (issue 12).

Discord's faults are scripted on the double per test (tests/discord_double/faults.py). A paid clip
is never failed or refunded because Discord had a bad minute: its post is retried with the same
nonce for DELIVERY_RETRY_MINUTES (6 s here), and only then linked on the card.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.wiro.simulator.tasks import TaskScript
from tests.discord_double import ATTACH_FILES, READ_MESSAGE_HISTORY, Message
from tests.discord_double.world import Channel, Member
from tests.e2e.conftest import ROOMY_LIMITS, Stack, VideoRun, fake_clip

pytestmark = pytest.mark.asyncio(loop_scope="module")

STACK_ENV = {
    **ROOMY_LIMITS,
    "DELIVERY_RETRY_MINUTES": "0.1",  # 6 s: retries come every 0.3-0.6 s
}
ON_ITS_WAY = "on its way"


async def _start(
    stack: Stack, name: str, *, generate: float = 1.5, clip: bytes | None = None
) -> tuple[Member, Channel, VideoRun]:
    """A member asks for a clip in a channel of their own; return once the card is up."""
    member = stack.member(name)
    channel = stack.channel(f"outage-{name}")
    stack.sim.script_next(TaskScript(generate=generate, clip=clip or fake_clip(80_000)))
    run = await stack.video(f"{name} under a failing Discord", user=member, channel=channel)
    assert run.card is not None and run.job_id is not None, run.reply
    return member, channel, run


def _clip_posts(stack: Stack, channel: Channel) -> list[int | None]:
    """Statuses of the bot's message posts in a channel after its card (0: no answer)."""
    return [c.status for c in stack.dd.calls("POST", f"/channels/{channel.id}/messages")][1:]


def _card_said(card: Message, text: str) -> bool:
    """Whether any version of the card (earlier edits included) contained `text`."""
    versions = [*card.history, {"embeds": card.embeds}]
    return any(text in str(v.get("embeds")) for v in versions)


async def test_503s_on_the_clip_post_are_outlasted_and_it_posts_once(stack: Stack) -> None:
    _, channel, run = await _start(stack, "erin")
    assert run.card is not None and run.job_id is not None
    stack.dd.fail("POST", f"/channels/{channel.id}/messages", status=503, times=3)

    assert await stack.wait_final(run.card) == "✅ Video ready"
    [message] = stack.clip_messages(run.job_id, channel)
    assert message.attachments and message.type == 19  # attached, as a reply to the card
    assert _clip_posts(stack, channel) == [503, 503, 503, 200]
    posts = stack.dd.calls("POST", f"/channels/{channel.id}/messages")[1:]
    nonces = {c.json["nonce"] for c in posts}
    assert len(nonces) == 1  # every try carried the same nonce
    assert _card_said(run.card, ON_ITS_WAY)
    assert stack.field(run.card, "Charged") == "1 credit"


async def test_a_dropped_connection_after_the_post_does_not_post_twice(stack: Stack) -> None:
    _, channel, run = await _start(stack, "frank")
    assert run.card is not None and run.job_id is not None
    stack.dd.drop_connection("POST", f"/channels/{channel.id}/messages", after=True)

    assert await stack.wait_final(run.card) == "✅ Video ready"
    [message] = stack.clip_messages(run.job_id, channel)
    retry = stack.dd.calls("POST", f"/channels/{channel.id}/messages")[-1]
    assert _clip_posts(stack, channel) == [0, 200]
    assert retry.json["_deduplicated_to"] == str(message.id)  # Discord returned the stored one
    assert str(message.id) in (stack.field(run.card, "Clip") or "")


async def test_429s_without_usable_headers_are_retried(stack: Stack) -> None:
    _, channel, run = await _start(stack, "gina")
    assert run.card is not None and run.job_id is not None
    stack.dd.cloudflare_ban("POST", f"/channels/{channel.id}/messages", times=2)

    assert await stack.wait_final(run.card) == "✅ Video ready"
    assert len(stack.clip_messages(run.job_id, channel)) == 1
    assert _clip_posts(stack, channel) == [429, 429, 200]


async def test_global_and_shared_429s_with_a_wait_are_waited_out(stack: Stack) -> None:
    """A 429 in Discord's shape (Via, retry_after; global or shared scope, a body code) is
    waited out by discord.py itself: one post, nothing for the bot to retry."""
    _, channel, run = await _start(stack, "gwen")
    assert run.card is not None and run.job_id is not None
    posts = f"/channels/{channel.id}/messages"
    stack.dd.rate_limit("POST", posts, scope="global", retry_after=0.3)
    stack.dd.rate_limit("POST", posts, scope="shared", code=20028, retry_after=0.2)

    assert await stack.wait_final(run.card) == "✅ Video ready"
    assert len(stack.clip_messages(run.job_id, channel)) == 1
    assert _clip_posts(stack, channel) == [429, 429, 200]
    assert not _card_said(run.card, ON_ITS_WAY)  # never refused as far as the bot knows


async def test_an_outage_longer_than_the_window_links_the_clip_and_charges(
    stack: Stack,
) -> None:
    _, channel, run = await _start(stack, "hank")
    assert run.card is not None and run.job_id is not None
    fault = stack.dd.fail("POST", f"/channels/{channel.id}/messages", status=503, times=-1)
    try:
        assert await stack.wait_final(run.card, timeout=30) == "✅ Video ready"
    finally:
        fault.times = 0
    assert stack.clip_messages(run.job_id, channel) == []
    note = stack.field(run.card, "Note") or ""
    assert stack.sim.output_host in note and "Discord was unavailable" in note
    assert stack.field(run.card, "Charged") == "1 credit"  # delivered, not refunded
    assert fault.hits >= 5  # it kept trying over the window


async def test_the_final_card_edit_outlasts_503s(stack: Stack) -> None:
    _, channel, run = await _start(stack, "iris", generate=2.0)
    assert run.card is not None and run.job_id is not None
    card = run.card
    edits = f"/channels/{channel.id}/messages/{card.id}"
    fault = stack.dd.fail("PATCH", edits, status=503, times=-1)
    await stack.wait_clip(run.job_id, channel)
    posted = len(stack.dd.calls())
    # The final edit is refused for a while, then Discord is back.
    await stack.dd.wait_for(
        lambda: sum(1 for c in stack.dd.world.calls[posted:] if c.status == 503) >= 2, 10
    )
    fault.times = 0
    assert await stack.wait_final(card, timeout=15) == "✅ Video ready"
    assert stack.field(card, "Charged") == "1 credit"


async def test_the_nonce_of_a_deleted_clip_still_gets_the_clip_posted_once(
    stack: Stack,
) -> None:
    _, channel, run = await _start(stack, "jack")
    assert run.card is not None and run.job_id is not None
    posts = f"/channels/{channel.id}/messages"
    stack.dd.drop_connection("POST", posts, after=True)  # stored, but the bot never hears
    stack.dd.fail("POST", posts, status=503, times=2)  # time for a moderator to delete it
    [lost] = await stack.dd.wait_for(lambda: stack.clip_messages(run.job_id, channel), 15)
    await stack.dd.delete_message(lost)

    assert await stack.wait_final(run.card) == "✅ Video ready"
    [message] = stack.clip_messages(run.job_id, channel)
    assert message.id != lost.id and message.attachments
    calls = stack.dd.calls("POST", posts)[1:]
    assert [c.error_code for c in calls if c.status == 404] == [10008]
    assert calls[-1].json["nonce"] != calls[0].json["nonce"]  # a fresh nonce, stored
    assert str(message.id) in (stack.field(run.card, "Clip") or "")


async def test_reply_refused_without_read_message_history_posts_a_plain_message(
    stack: Stack,
) -> None:
    _, channel, run = await _start(stack, "kate")
    assert run.card is not None and run.job_id is not None
    await stack.dd.set_overwrite(channel, stack.dd.bot_role(), deny=READ_MESSAGE_HISTORY)

    assert await stack.wait_final(run.card) == "✅ Video ready"
    [message] = stack.clip_messages(run.job_id, channel)
    assert message.type == 0 and message.message_reference is None and message.attachments
    refused = [c for c in stack.dd.calls("POST", f"/channels/{channel.id}/messages") if c.status]
    assert [c.error_code for c in refused][-2:] == [160002, None]


async def test_attach_files_taken_away_mid_job_links_the_clip(stack: Stack) -> None:
    _, channel, run = await _start(stack, "liam")
    assert run.card is not None and run.job_id is not None
    await stack.dd.set_overwrite(channel, stack.dd.bot_role(), deny=ATTACH_FILES)

    assert await stack.wait_final(run.card) == "✅ Video ready"
    [message] = stack.clip_messages(run.job_id, channel)
    assert not message.attachments and stack.sim.output_host in message.content
    assert "may not attach files" in message.content
    assert stack.field(run.card, "Charged") == "1 credit"


async def test_the_up_front_check_reads_channel_overwrites(stack: Stack) -> None:
    member = stack.member("mona")
    locked = stack.channel("outage-locked")
    await stack.dd.set_overwrite(locked, stack.dd.bot_role(), deny=ATTACH_FILES)
    runs, messages = len(stack.sim.runs), len(stack.dd.messages_in(locked))

    refused = await stack.video("no files here", user=member, channel=locked)
    assert refused.card is None and "Attach Files" in refused.reply, refused.reply
    assert len(stack.sim.runs) == runs and len(stack.dd.messages_in(locked)) == messages
    # The same member, the same server, another channel: allowed.
    stack.sim.script_next(TaskScript(clip=fake_clip(50_000)))
    fine = await stack.video("files here", user=member, channel=stack.channel("outage-open"))
    assert fine.card is not None, fine.reply


async def test_an_edit_refused_with_30046_posts_a_fresh_card(stack: Stack) -> None:
    config = stack.dd.world.config
    _, channel, run = await _start(stack, "nina", generate=3.0)
    assert run.card is not None and run.job_id is not None
    old_card = run.card
    config.old_edit_age, config.old_edit_allowance = 3600, 0
    try:
        stack.dd.age_message(old_card.id, 2 * 3600)  # Discord thinks the card is 2 h old
        refused = await stack.dd.wait_for(
            lambda: [c for c in stack.dd.calls("PATCH", f"*/{old_card.id}") if c.status == 429],
            15,
        )
        assert refused[0].error_code == 30046
        new_card = await stack.dd.wait_for(
            lambda: next(
                (
                    m
                    for m in stack.dd.messages_in(channel)
                    if m.id != old_card.id
                    and m.embeds
                    and f"Job {run.job_id}" in str(m.embeds[0].get("footer"))
                ),
                None,
            ),
            10,
        )
        await stack.dd.wait_for(lambda: old_card.deleted, 5)  # the stale card is removed
        assert await stack.wait_final(new_card) == "✅ Video ready"
    finally:
        config.old_edit_age = None


async def test_a_restart_finds_a_clip_more_than_100_messages_after_its_card(
    stack: Stack,
) -> None:
    member, channel, run = await _start(stack, "olga", generate=3.0)
    assert run.card is not None and run.job_id is not None
    for i in range(150):  # a busy channel while the clip is being made
        await stack.dd.post_message(f"chatter {i}", user=member, channel=channel)
    posts = f"/channels/{channel.id}/messages"
    stack.dd.drop_connection("POST", posts, after=True)  # the clip is stored...
    down = stack.dd.fail("POST", posts, status=503, times=-1)  # ...and Discord goes down
    [clip] = await stack.dd.wait_for(lambda: stack.clip_messages(run.job_id, channel), 15)
    await stack.dd.wait_for(lambda: down.hits >= 1, 5)
    assert stack.bot is not None
    await stack.bot.kill()  # the bot dies before it learned the clip's id
    down.times = 0
    stack.dd.world.config.nonce_window = 0  # long after: Discord no longer deduplicates
    try:
        before = len(stack.dd.calls("POST", posts))
        await stack.start_bot()
        assert await stack.wait_final(run.card, timeout=20) == "✅ Video ready"
        assert stack.clip_messages(run.job_id, channel) == [clip]
        assert len(stack.dd.calls("POST", posts)) == before  # nothing posted again
        assert str(clip.id) in (stack.field(run.card, "Clip") or "")
        await asyncio.sleep(0.3)  # settle: a second post would show up by now
        assert stack.clip_messages(run.job_id, channel) == [clip]
    finally:
        stack.dd.world.config.nonce_window = 5 * 60


async def test_a_card_deleted_before_the_clip_gets_a_plain_clip_and_a_fresh_card(
    stack: Stack,
) -> None:
    """The clip replies to its card with fail_if_not_exists false: a card deleted meanwhile
    gets a plain message, not a 400 ("Message Reference Structure"); the final state goes to a
    fresh card."""
    _, channel, run = await _start(stack, "pete", generate=2.0)
    assert run.card is not None and run.job_id is not None
    old = run.card
    edits = stack.dd.fail("PATCH", f"/channels/{channel.id}/messages/{old.id}", times=-1)
    await stack.dd.delete_message(old)  # a moderator removes the card mid-job
    clip = await stack.wait_clip(run.job_id, channel)
    edits.times = 0
    assert clip.type == 0 and clip.message_reference is None and clip.attachments

    def fresh_card() -> Message | None:
        for m in stack.dd.messages_in(channel):
            if m.id != old.id and m.embeds and f"Job {run.job_id}" in str(m.embeds[0]):
                return m
        return None

    card = await stack.dd.wait_for(fresh_card, 15)
    assert await stack.wait_final(card) == "✅ Video ready"
    assert str(clip.id) in (stack.field(card, "Clip") or "")
    assert len(stack.clip_messages(run.job_id, channel)) == 1


async def test_no_cancel_a_refund_and_a_restart_during_an_outage(stack: Stack) -> None:
    """While a finished clip waits for Discord: the card offers no Cancel, a moderator's refund
    says why not yet (nothing changes), a crash loses nothing, and the clip is posted once after
    the restart."""
    _, channel, run = await _start(stack, "nora")
    assert run.card is not None and run.job_id is not None
    fault = stack.dd.fail("POST", f"/channels/{channel.id}/messages", status=503, times=-1)
    await stack.dd.wait_for(lambda: fault.hits >= 1, 20)
    await stack.dd.wait_for(lambda: run.card is not None and not run.card.custom_ids(), 10)
    answer = await stack.admin("refund", {"job": run.job_id})
    assert "being posted right now" in answer and "refund again" in answer, answer
    assert stack.bot is not None
    await stack.bot.kill()
    fault.times = 0
    await stack.start_bot()
    assert await stack.wait_final(run.card, timeout=30) == "✅ Video ready"
    assert len(stack.clip_messages(run.job_id, channel)) == 1
    assert stack.field(run.card, "Charged") == "1 credit"
    assert "Refunded 1 credit" in await stack.admin("refund", {"job": run.job_id})
