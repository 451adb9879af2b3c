"""End to end: /video from the slash command to the posted clip, failures, cancel, delivery paths.

One bot, double and simulator for the module; every test uses its own member (and channel where
card pacing matters) so their credits and limits do not interact.
"""

from __future__ import annotations

import asyncio
import io
import re
from typing import Any

import pytest
from PIL import Image

from bot.wiro.simulator.tasks import TaskScript
from tests.e2e.conftest import ROOMY_LIMITS, Stack, fake_clip, gif, png, window

pytestmark = pytest.mark.asyncio(loop_scope="module")

STACK_ENV = ROOMY_LIMITS


async def test_text_to_video_posts_the_clip_and_a_done_card(stack: Stack) -> None:
    member = stack.member("alice")
    clip = fake_clip(150_000)
    stack.sim.script_next(TaskScript(clip=clip, totalcost="0.28"))
    runs = len(stack.sim.runs)
    run = await stack.video("a red fox running through snow", user=member)

    assert run.interaction.ack_latency is not None and run.interaction.ack_latency < 3.0
    assert run.card is not None and run.job_id is not None, run.reply
    assert str(run.card.id) in run.reply  # the ephemeral answer links the card
    assert await stack.wait_final(run.card) == "✅ Video ready"
    message = await stack.wait_clip(run.job_id)
    [attachment] = message.attachments
    assert attachment["filename"].endswith(".mp4")
    assert stack.dd.blob(attachment["url"]) == clip
    assert f"<@{member.user.id}>" in message.content
    # The card: done, time taken, credits charged, a link to the clip and Re-roll.
    assert stack.field(run.card, "Time taken")
    assert stack.field(run.card, "Charged") == "1 credit"
    assert str(message.id) in (stack.field(run.card, "Clip") or "")
    assert run.card.custom_ids() == [
        f"video:reroll:{run.job_id}",
        f"video:extend:{run.job_id}",
        f"video:remix:{run.job_id}",
        f"video:remake:{run.job_id}",
        f"video:delete:{run.job_id}",
    ]
    assert len(stack.sim.runs) == runs + 1
    assert stack.sim.runs[-1].fields["prompt"] == "a red fox running through snow"
    assert stack.sim.runs[-1].image is None


async def test_image_to_video_sends_the_attached_frame_to_wiro(stack: Stack) -> None:
    member = stack.member("bob")
    frame = png(720, 480, "orange")
    clip = fake_clip(120_000)
    stack.sim.script_next(TaskScript(clip=clip))
    run = await stack.video("the sun sets", user=member, image=frame, resolution="1080P")

    assert run.card is not None and run.job_id is not None, run.reply
    assert run.interaction.ack_latency is not None and run.interaction.ack_latency < 3.0
    assert await stack.wait_final(run.card) == "✅ Video ready"
    message = await stack.wait_clip(run.job_id)
    assert stack.dd.blob(message.attachments[0]["url"]) == clip
    record = stack.sim.runs[-1]
    assert record.image == frame  # the bytes the member attached, fetched from the CDN
    assert record.fields["resolution"] == "1080P"
    assert stack.field(run.card, "Charged") == "2 credits"
    assert run.card.custom_ids() == [
        f"video:reroll:{run.job_id}",
        f"video:extend:{run.job_id}",
        f"video:remix:{run.job_id}",
        f"video:delete:{run.job_id}",
    ]
    # The card keeps the first-frame thumbnail it was posted with.
    assert run.card.embeds[0]["thumbnail"]["url"].startswith(("attachment://", "http"))


async def test_an_image_hailuo_would_refuse_is_fixed_and_sent(stack: Stack) -> None:
    # An animated GIF of 1500×400 (wider than 5:2): its first frame, centre-cropped, as a PNG.
    member = stack.member("gifer")
    stack.sim.script_next(TaskScript(clip=fake_clip(100_000)))
    run = await stack.video("waves", user=member, image=("wide.gif", gif(1500, 400), "image/gif"))
    assert run.card is not None and run.job_id is not None, run.reply
    assert "Animated GIF" in run.reply and "Centre-cropped" in run.reply
    assert await stack.wait_final(run.card) == "✅ Video ready"
    sent = Image.open(io.BytesIO(stack.sim.runs[-1].image or b""))
    assert sent.format == "PNG" and sent.size == (999, 400)
    assert sent.convert("RGB").getpixel((500, 200)) == (255, 0, 0)  # the first (red) frame


BAD_IMAGES = {
    "not an image": (("notes.png", b"just some text, not a picture", "image/png"), "not an image"),
    "too small": (("small.png", png(400, 299), "image/png"), "at least 300"),
    "thin strip": (("strip.gif", gif(3000, 200), "image/gif"), "at least 300"),
    "21 MB of nothing": (
        ("huge.png", b"\x89PNG" + bytes(21 * 1024 * 1024), "image/png"),
        "not an image",
    ),
}


async def refused_before_wiro(stack: Stack, prompt: str, **options: Any) -> str:
    """Send a /video that must be refused before anything reaches Wiro; return the refusal."""
    runs = len(stack.sim.runs)
    run = await stack.video(prompt, **options)
    assert run.card is None, run.reply
    assert len(stack.sim.runs) == runs
    return run.reply


@pytest.mark.parametrize("case", list(BAD_IMAGES))
async def test_bad_image_is_refused_before_anything_is_spent(stack: Stack, case: str) -> None:
    spec, words = BAD_IMAGES[case]
    messages = len(stack.dd.messages_in())
    reply = await refused_before_wiro(stack, "a cat", user=stack.member(), image=spec)
    assert words.lower() in reply.lower()
    assert len(stack.dd.messages_in()) == messages  # no public card


@pytest.mark.parametrize(
    ("prompt", "options", "words"),
    [
        ("   ", {}, "empty"),
        ("x" * 2001, {}, "2000"),
        ("a cat", {"resolution": "1080P", "duration": 10}, "6 seconds"),
    ],
    ids=["whitespace", "too long", "1080P 10 s"],
)
async def test_bad_request_is_refused_before_anything_is_spent(
    stack: Stack, prompt: str, options: dict[str, object], words: str
) -> None:
    reply = await refused_before_wiro(stack, prompt, user=stack.member(), **options)
    assert words in reply


async def test_mentions_in_the_prompt_ping_nobody(stack: Stack) -> None:
    member, victim = stack.member("pinger"), stack.member("victim")
    role = stack.dd.add_role("artists")
    channel = stack.dd.channel
    prompt = (
        f"hi <@{victim.user.id}> and <@!{victim.user.id}> <@&{role.id}> @everyone @here "
        f"<#{channel.id}>"  # type: ignore[union-attr]
    )
    run = await stack.video(prompt, user=member)
    assert run.card is not None and run.job_id is not None, run.reply
    assert await stack.wait_final(run.card) == "✅ Video ready"
    clip = await stack.wait_clip(run.job_id)
    # Wiro gets the prompt as typed; Discord gets it inert.
    assert stack.sim.runs[-1].fields["prompt"] == prompt
    shown = run.card.embeds[0]["description"]
    for raw in (
        f"<@{victim.user.id}>",
        f"<@!{victim.user.id}>",
        f"<@&{role.id}>",
        "@everyone",
        "@here",
        f"<#{channel.id}>",
    ):  # type: ignore[union-attr]
        assert raw not in shown, (raw, shown)
    assert "everyone" in shown  # still readable
    # Every message the bot ever sent in this module says who may be pinged: nobody but the
    # requester of a finished clip.
    bot_id = stack.dd.world.bot_user.id
    sent = [m for m in stack.dd.world.messages.values() if m.author.id == bot_id and not m.loading]
    assert len(sent) > 5
    for msg in sent:
        allowed = msg.allowed_mentions
        assert allowed is not None, msg
        assert allowed.get("parse") == [], (msg.content, allowed)
        assert not allowed.get("roles"), (msg.content, allowed)
        assert victim.user.id not in {int(u) for u in allowed.get("users") or []}
    assert {int(u) for u in clip.allowed_mentions.get("users") or []} == {member.user.id}


async def test_paused_server_refuses_until_resumed(stack: Stack) -> None:
    member = stack.member()
    answer = await stack.admin("pause", {"reason": "maintenance"})
    assert "pause" in answer.lower()
    try:
        reply = await refused_before_wiro(stack, "a cat", user=member)
        assert "paused" in reply and "maintenance" in reply
    finally:
        await stack.admin("resume")
    run = await stack.video("a cat", user=member)
    assert run.card is not None, run.reply
    assert await stack.wait_final(run.card) == "✅ Video ready"


async def test_blocked_member_is_refused(stack: Stack) -> None:
    member = stack.member("troll")
    await stack.admin("block", {"user": member.user.id, "reason": "spam"})
    try:
        reply = await refused_before_wiro(stack, "a cat", user=member)
        assert "blocked" in reply and "spam" in reply
        other = await stack.video("a dog", user=stack.member())  # others are not affected
        assert other.card is not None
        await stack.wait_final(other.card)
    finally:
        await stack.admin("unblock", {"user": member.user.id})


async def test_channel_not_allowed_is_refused(stack: Stack) -> None:
    allowed = stack.channel("videos-only")
    answer = await stack.admin("channels allow", {"channel": allowed.id})
    assert f"<#{allowed.id}>" in answer, answer
    try:
        reply = await refused_before_wiro(stack, "a cat", user=stack.member())
        assert "not enabled in this channel" in reply and f"<#{allowed.id}>" in reply
    finally:
        await stack.admin("channels remove", {"channel": allowed.id})


async def test_blocked_word_is_refused(stack: Stack) -> None:
    await stack.admin("words add", {"word": "forbidden"})
    try:
        reply = await refused_before_wiro(stack, "a FORBIDDEN dance", user=stack.member())
        assert "blocked" in reply and "forbidden" in reply.lower()
    finally:
        await stack.admin("words remove", {"word": "forbidden"})


async def test_cancel_by_requester_refunds_and_others_are_refused(stack: Stack) -> None:
    member, other = stack.member("canceller"), stack.member("bystander")
    stack.sim.script_next(TaskScript(generate=30))
    run = await stack.video("a slow sunrise", user=member)
    assert run.card is not None and run.job_id is not None, run.reply
    card = run.card
    await stack.dd.wait_for(lambda: "Generating" in stack.title(card), 10)
    assert await stack.used_credits(member) == 1
    cancel_id = f"video:cancel:{run.job_id}"
    before = [dict(e) for e in card.embeds]
    answer = await stack.click(card, cancel_id, user=other)
    assert "Only the member who asked" in answer
    assert card.embeds == before
    assert not any(p in ("/Task/Cancel", "/Task/Kill") for p, _ in stack.sim.requests)

    answer = await stack.click(card, cancel_id, user=member)
    assert "ancel" in answer
    assert await stack.wait_final(card) == "🚫 Video cancelled"
    assert f"<@{member.user.id}>" in (stack.field(card, "What happened") or "")
    assert stack.field(card, "Credits") == "1 refunded"
    assert any(p == "/Task/Kill" for p, _ in stack.sim.requests)
    assert await stack.used_credits(member) == 0
    assert stack.clip_messages(run.job_id) == []


async def test_moderator_cancels_a_members_job_while_queued_at_wiro(stack: Stack) -> None:
    member = stack.member("queued-member")
    stack.sim.script_next(TaskScript(queue=30))
    run = await stack.video("stuck in the queue", user=member)
    assert run.card is not None and run.job_id is not None, run.reply
    card = run.card
    await stack.dd.wait_for(lambda: "Queued at Wiro" in stack.title(card), 10)
    answer = await stack.click(card, f"video:cancel:{run.job_id}", user=stack.moderator)
    assert "ancel" in answer
    assert await stack.wait_final(card) == "🚫 Video cancelled"
    assert f"<@{stack.moderator.user.id}>" in (stack.field(card, "What happened") or "")
    assert any(p == "/Task/Cancel" for p, _ in stack.sim.requests)  # queued: Cancel, not Kill
    assert await stack.used_credits(member) == 0


async def test_monthly_budget_counts_jobs_in_flight(stack: Stack) -> None:
    first, second = stack.member("budget-a"), stack.member("budget-b")
    # The simulator's Tool/Detail prices 768P/6 s at $0.28: leave room for one more run, not two.
    shown = await stack.admin("budget show")
    spent = sum(
        float(x) for x in re.findall(r"(?:Spent this month|in progress): \$([0-9.]+)", shown)
    )
    cap = round(spent + 0.5, 2)
    assert f"{cap:.2f}" in await stack.admin("budget set", {"usd": cap})
    try:
        stack.sim.script_next(TaskScript(queue=30))
        running = await stack.video("the one that fits", user=first)
        assert running.card is not None and running.job_id is not None, running.reply
        # The card is posted before the job's Run reaches Wiro: count runs once it has.
        await stack.dd.wait_for(
            lambda: any(r.fields.get("prompt") == "the one that fits" for r in stack.sim.runs),
            10.0,
        )
        runs_before = len(stack.sim.runs)
        refused = await stack.video("the one that does not", user=second)
        assert refused.card is None
        assert "budget" in refused.reply
        assert len(stack.sim.runs) == runs_before
        await stack.click(running.card, f"video:cancel:{running.job_id}", user=first)
        assert await stack.wait_final(running.card) == "🚫 Video cancelled"
    finally:
        await stack.admin("budget set", {"usd": 1000})


async def test_wiro_failure_is_explained_and_refunded(stack: Stack) -> None:
    member = stack.member("unlucky")
    stack.sim.script_next(TaskScript(outcome="fail"))
    run = await stack.video("something the provider refuses", user=member)
    assert run.card is not None and run.job_id is not None, run.reply
    assert await stack.wait_final(run.card) == "❌ Video failed"
    what = stack.field(run.card, "What happened") or ""
    assert len(what) > 10 and "task_error" not in what and "{" not in what, what
    assert stack.field(run.card, "Credits") == "1 refunded"
    assert run.card.custom_ids() == [f"video:reroll:{run.job_id}"]
    assert stack.clip_messages(run.job_id) == []
    assert await stack.used_credits(member) == 0


async def test_silent_socket_still_delivers_by_polling(stack: Stack) -> None:
    clip = fake_clip(90_000)
    # Still running at the bot's first poll, so only a later poll can see the end.
    stack.sim.script_next(TaskScript(ws="silent", clip=clip, generate=1.0))
    run = await stack.video("quiet socket", user=stack.member())
    assert run.card is not None and run.job_id is not None, run.reply
    message = await stack.wait_clip(run.job_id, timeout=30)
    assert stack.dd.blob(message.attachments[0]["url"]) == clip
    assert await stack.wait_final(run.card) == "✅ Video ready"


async def test_clip_over_the_upload_limit_is_linked_with_the_reason(stack: Stack) -> None:
    stack.sim.script_next(TaskScript(clip=fake_clip(11 * 1024 * 1024)))
    run = await stack.video("a long high quality clip", user=stack.member())
    message = await stack.wait_linked_clip(run)
    assert "upload limit" in message.content
    assert await stack.wait_final(run.card) == "✅ Video ready"
    assert "upload limit" in (stack.field(run.card, "Note") or "")
    assert [c for c in stack.dd.world.calls if c.status == 413] == []


async def test_clip_over_the_server_limit_but_within_the_members_is_attached(
    stack: Stack,
) -> None:
    # The member's Nitro raises their interaction's upload limit above the server's 10 MiB:
    # while the token lives, the clip goes out as a public follow-up instead of a link.
    clip = fake_clip(11 * 1024 * 1024)
    stack.sim.script_next(TaskScript(clip=clip))
    member = stack.member("nitro", upload_limit=50 * 1024 * 1024)
    run = await stack.video("a long high quality clip", user=member)
    assert run.card is not None and run.job_id is not None, run.reply
    message = await stack.wait_clip(run.job_id, timeout=30)
    assert not message.flags & 64  # public, not ephemeral
    assert stack.dd.blob(message.attachments[0]["url"]) == clip
    assert await stack.wait_final(run.card) == "✅ Video ready"
    assert [c for c in stack.dd.world.calls if c.status == 413] == []


async def test_job_outlives_the_interaction_token(stack: Stack) -> None:
    channel = stack.channel("expiry")
    clip = fake_clip(80_000)
    stack.sim.script_next(TaskScript(generate=1.5, clip=clip))
    run = await stack.video("a very long render", user=stack.member(), channel=channel)
    assert run.card is not None and run.job_id is not None, run.reply
    ttl = stack.dd.world.config.token_ttl
    stack.dd.world.config.token_ttl = 0.0  # every interaction token is now expired
    try:
        mark = len(stack.dd.world.calls)
        message = await stack.wait_clip(run.job_id, channel)
        assert stack.dd.blob(message.attachments[0]["url"]) == clip
        assert await stack.wait_final(run.card) == "✅ Video ready"
        later = stack.dd.world.calls[mark:]
        # Card edits and the clip went through the bot token, never the expired webhook.
        assert any(c.method == "PATCH" and c.path.endswith(f"/{run.card.id}") for c in later)
        assert [c for c in later if c.path.startswith("/webhooks/")] == []
        assert [c for c in later if (c.status or 0) >= 400] == []
    finally:
        stack.dd.world.config.token_ttl = ttl


async def test_wiro_busy_queues_locally_then_runs_once(stack: Stack) -> None:
    member = stack.member("queued")
    # A job of an earlier test still on its way could take one of the "busy" answers below and
    # stand in line first: start from a quiet bot.
    await stack.wait_no_jobs_in_flight()
    # Two long tasks occupy Wiro; then Wiro answers "busy" (code 96) twice.
    stack.sim.script_next(TaskScript(generate=3))
    stack.sim.script_next(TaskScript(generate=5))
    first = await stack.video("blocker one", user=stack.member())
    second = await stack.video("blocker two", user=stack.member())
    assert first.card is not None and second.card is not None

    # Both blockers' Runs must have been received and accepted before Wiro turns "busy": with
    # only the first one seen, the second could take a "busy" answer and stand in line first.
    def blockers_accepted() -> bool:
        accepted = [r for r in stack.sim.runs if r.fields.get("prompt", "").startswith("blocker")]
        return len([r for r in accepted if r.task_id]) == 2

    await stack.dd.wait_for(blockers_accepted, 10)
    stack.sim.busy_runs = 2
    channel = stack.channel("queue")
    run = await stack.video("waits its turn", user=member, channel=channel)
    assert run.card is not None and run.job_id is not None, run.reply
    card = run.card
    await stack.dd.wait_for(lambda: stack.field(card, "Queue"), 10)
    assert "#1" in (stack.field(card, "Queue") or "")
    assert "Waiting" in stack.title(card)
    await stack.wait_clip(run.job_id, channel, timeout=30)
    assert await stack.wait_final(card) == "✅ Video ready"
    mine = [r for r in stack.sim.runs if r.fields.get("prompt") == "waits its turn"]
    assert len(mine) == 3  # two "busy" answers, then accepted
    assert [r.task_id is not None for r in mine] == [False, False, True]
    for blocker in (first.card, second.card):
        assert await stack.wait_final(blocker) == "✅ Video ready"


async def test_twenty_concurrent_jobs_never_hit_a_rate_limit(stack: Stack) -> None:
    channel = stack.channel("flood")
    config = stack.dd.world.config
    # Discord's per-channel limits on edits and on new messages (cards, clips) are both on.
    # The stack runs Discord's windows (and the bot's pacing) at TIME_SCALE: same shape, faster.
    config.buckets = {
        ("PATCH", "/channels/{channel_id}/messages/{message_id}"): (5, window(5.0)),
        ("POST", "/channels/{channel_id}/messages"): (5, window(5.0)),
        ("POST", "/webhooks/{app_id}/{token}"): (5, window(2.0)),
        ("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}"): (5, window(2.0)),
    }
    config.rate_limits = True
    mark = len(stack.dd.world.calls)
    try:
        runs = await asyncio.gather(
            *(
                stack.video(
                    f"crowd scene {i}", user=stack.member(f"m{i}"), channel=channel, timeout=60
                )
                for i in range(20)
            )
        )
        cards = [r.card for r in runs]
        assert all(c is not None for c in cards), [r.reply for r in runs]
        assert all(
            r.interaction.ack_latency is not None and r.interaction.ack_latency < 3 for r in runs
        )
        titles = await asyncio.gather(*(stack.wait_final(c, timeout=60) for c in cards))  # type: ignore[arg-type]
        assert set(titles) == {"✅ Video ready"}
        for r in runs:
            assert len(stack.clip_messages(r.job_id, channel)) == 1  # type: ignore[arg-type]
    finally:
        config.rate_limits = False
    calls = stack.dd.world.calls[mark:]
    assert [c for c in calls if c.status == 429] == []
    assert stack.dd.world.rate_limit_hits == 0
    # What Discord enforces is above: not one 429. The bot's own pacing keeps card edits in the
    # channel within 5 per 5 s (scaled). These are arrival times at the double, each late by the
    # jitter of a loaded machine (up to tenths of a second, and a late edit shortens the gap
    # before it), so: no five edits ever bunch within half a window (unpaced ones arrive
    # milliseconds apart), and over the whole run the rate is at most 5 per window (jitter moves
    # only the two ends of that span).
    edits = sorted(
        c.at
        for c in calls
        if c.method == "PATCH" and c.path.startswith(f"/channels/{channel.id}/messages/")
    )
    assert len(edits) >= 20
    gaps = [round(b - a, 3) for a, b in zip(edits, edits[5:], strict=False)]
    assert min(gaps) >= 0.5 * window(5.0), gaps
    span = edits[-1] - edits[0]
    assert span >= 0.9 * window(5.0) * (len(edits) - 5) / 5, (span, len(edits))


async def test_quota_and_jobs_answer_ephemerally(stack: Stack) -> None:
    member = stack.member("curious")
    run = await stack.video("one for the list", user=member)
    assert run.card is not None and run.job_id is not None
    await stack.wait_final(run.card)
    assert await stack.used_credits(member) == 1
    inter = await stack.dd.slash("jobs", user=member)
    text = await stack.answer(inter)
    assert [m.ephemeral for m in stack.dd.replies(inter)] == [True]
    assert str(run.job_id) in text and str(run.card.id) in text


async def test_videoadmin_is_refused_to_a_plain_member(stack: Stack) -> None:
    member = stack.member("wannabe")
    inter = await stack.dd.slash("videoadmin pause", user=member)
    answer = await stack.answer(inter)
    assert "Only moderators" in answer
    assert all(m.ephemeral for m in stack.dd.replies(inter))
    run = await stack.video("still allowed", user=stack.member())  # nothing was paused
    assert run.card is not None, run.reply
    await stack.wait_final(run.card)
