"""End to end: every member in their own language (issue 24), the real bot against the doubles.

An answer only one member sees follows that member's Discord client (`locale`); a public
message (the card, the clip message, the audit line) follows the server: the language a
moderator set with `/videoadmin language set`, else Discord's `guild_locale`, else English.

Each test sets the server's language it needs first, so that any one of them can run alone
(`pytest -k`) and none relies on another having run before it. The expected words come from the
catalogs (`bot.i18n`), and each test also checks they are not the English ones, so a sentence
missing from a catalog cannot pass by reading English on both sides.
"""

from __future__ import annotations

import re

import pytest

from bot import i18n
from bot.wiro.simulator.tasks import TaskScript
from cogs.language import language_set_words, language_show_words
from tests.discord_double.world import Channel, Member, Message
from tests.e2e.conftest import CARD_LINK, Stack, fake_clip

pytestmark = pytest.mark.asyncio(loop_scope="module")

STACK_ENV = {
    "DEFAULT_QUOTA_CREDITS": "1000",
    "MAX_JOBS_PER_USER": "25",
    "MAX_JOBS_PER_GUILD": "40",
}

MODERATORS_ONLY = "Only moderators (Manage Server, or the bot's moderator role) can do this."
QUOTA_HEADING = "**Your video quota in this server**"
READY_TITLE = "✅ Video ready"
FOOTER = "Job {id}"
CLIP_HEADER = "{who} your video is ready (job {id})."
BLOCKED = "Your prompt contains a word this server has blocked (“{word}”)."


def translated(locale: str, english: str) -> str:
    """`english` in `locale` from the catalog; fails if the catalog leaves it English."""
    words = i18n.gettext(locale, english)
    assert words != english, f"{locale} catalog has no translation of {english!r}"
    return words


async def server_language(stack: Stack, code: str) -> None:
    """The moderator (English client) sets this server's language."""
    answer = await stack.admin("language set", {"language": code})
    assert answer == language_set_words(i18n.SOURCE, code)


async def made_video(stack: Stack, member: Member, prompt: str) -> tuple[Message, int, Message]:
    """A `/video` that succeeds: its card, its job id and its clip message, found without
    reading words (the answer links the card, the footer ends in the job id, the clip message
    replies to the card), so that they are found in any language."""
    stack.sim.script_next(TaskScript(clip=fake_clip(100_000)))
    run = await stack.video(prompt, user=member)
    link = CARD_LINK.search(run.reply)
    assert link is not None, run.reply
    card = stack.dd.world.messages[int(link.group(1))]
    footer = card.embeds[0]["footer"]["text"]
    found = re.search(r"\d+", footer)
    assert found is not None, footer
    clip = await stack.dd.wait_for(lambda: clip_message(stack, card), 20)
    # The card's last edit (the outcome) follows the clip.
    await stack.dd.wait_for(lambda: stack.title(card).startswith("✅") or None, 10)
    return card, int(found.group()), clip


def clip_message(stack: Stack, card: Message) -> Message | None:
    """The message that replies to the card with the clip."""
    channel: Channel | int = card.channel_id
    for message in stack.dd.messages_in(channel):
        ref = message.message_reference or {}
        if str(ref.get("message_id")) == str(card.id) and message.attachments:
            return message
    return None


# ----- a server nobody set a language for: Discord's -----
async def test_first_without_a_language_set_the_servers_discord_language_applies(
    stack: Stack,
) -> None:
    # First in the module (loadscope runs a module's tests in order on one stack): once a
    # moderator sets a language, the server keeps one.
    guild = stack.dd.guild
    assert guild is not None
    english = await stack.admin("language show")
    assert english.startswith("This server's public messages are in English: none was set"), english
    # The owner switches the server to Spanish in Server Settings: GUILD_UPDATE, then the
    # interactions carry guild_locale es-ES.
    await stack.dd.set_preferred_locale(guild, "es-ES")
    try:
        shown = await stack.admin("language show")
        assert shown == language_show_words(i18n.SOURCE, None, "es-ES")
        assert "Español, the server's language in Discord" in shown, shown
        tr = await stack.admin(
            "language show", user=stack.member("emre", roles=[stack.mod_role], locale="tr")
        )
        assert tr == language_show_words("tr", None, "es-ES") and tr != shown, tr
    finally:
        await stack.dd.set_preferred_locale(guild, "en-US")


# ----- a member whose Discord is Turkish, in an English server -----
async def test_a_turkish_member_is_refused_in_turkish_and_an_english_one_in_english(
    stack: Stack,
) -> None:
    await server_language(stack, "en-US")
    ayse = stack.member("ayse", locale="tr")
    answer = await stack.admin("language show", user=ayse)
    assert answer == translated("tr", MODERATORS_ONLY)
    # The same refusal to a member whose client is English stays word for word English.
    assert await stack.admin("language show", user=stack.member("amy")) == MODERATORS_ONLY


async def test_a_turkish_member_reads_quota_in_turkish(stack: Stack) -> None:
    await server_language(stack, "en-US")
    ayse = stack.member("ayse-quota", locale="tr")
    answer = await stack.answer(await stack.dd.slash("quota", user=ayse))
    assert answer.startswith(translated("tr", QUOTA_HEADING)), answer
    assert "Cost per video" not in answer and "Jobs in progress" not in answer, answer
    english = await stack.answer(await stack.dd.slash("quota", user=stack.member("amy-quota")))
    assert english.startswith(QUOTA_HEADING), english


async def test_the_card_of_a_turkish_members_video_in_an_english_server_stays_english(
    stack: Stack,
) -> None:
    await server_language(stack, "en-US")
    ayse = stack.member("ayse-video", locale="tr")
    card, job_id, clip = await made_video(stack, ayse, "a lighthouse in a storm")
    assert stack.title(card) == READY_TITLE
    assert card.embeds[0]["footer"]["text"] == FOOTER.format(id=job_id)
    assert stack.field(card, "Charged") == "1 credit"
    assert clip.content.startswith(CLIP_HEADER.format(who=f"<@{ayse.user.id}>", id=job_id))


async def test_a_turkish_member_opens_a_turkish_form_from_an_english_card(stack: Stack) -> None:
    await server_language(stack, "en-US")
    ayse = stack.member("ayse-remix", locale="tr")
    card, job_id, _ = await made_video(stack, ayse, "a kite over the sea")
    opened = await stack.dd.click(card, f"video:remix:{job_id}", user=ayse)
    await stack.dd.wait_for_ack(opened)
    assert opened.ack_type == 9 and opened.response_data is not None
    assert opened.response_data["title"] == translated("tr", "Remix this video")[:45]
    assert stack.title(card) == READY_TITLE  # the card itself stays the server's English


async def test_a_turkish_member_is_refused_a_blocked_word_in_turkish(stack: Stack) -> None:
    await server_language(stack, "en-US")
    await stack.admin("words add", {"word": "yasak"})
    try:
        run = await stack.video("a yasak dance", user=stack.member("ayse-words", locale="tr"))
        assert run.card is None
        assert run.reply == translated("tr", BLOCKED).format(word="yasak")
    finally:
        await stack.admin("words remove", {"word": "yasak"})


# ----- a server set to Spanish -----
async def test_a_moderator_sets_spanish_and_reads_the_answers_in_their_own_language(
    stack: Stack,
) -> None:
    jonas = stack.member("jonas", roles=[stack.mod_role], locale="de")
    done = await stack.admin("language set", {"language": "es-ES"}, user=jonas)
    assert done == language_set_words("de", "es-ES")
    assert "Español" in done and done != language_set_words(i18n.SOURCE, "es-ES"), done
    shown = await stack.admin("language show", user=jonas)
    assert shown == language_show_words("de", "es-ES", "en-US")
    set_with = (
        "This server's public messages are in {language}, set with `/videoadmin language set`."
    )
    assert shown.startswith(translated("de", set_with).format(language="Español")), shown
    # A moderator whose client is English reads it in English, Spanish still the server's.
    english = await stack.admin("language show")
    assert english == (
        "This server's public messages are in Español, set with `/videoadmin language set`. "
        "Answers only one member sees stay in that member's Discord language."
    )


async def test_in_a_spanish_server_an_english_member_is_still_answered_in_english(
    stack: Stack,
) -> None:
    await server_language(stack, "es-ES")
    answer = await stack.answer(await stack.dd.slash("quota", user=stack.member("amy-es")))
    assert answer.startswith(QUOTA_HEADING), answer


async def test_a_spanish_server_gets_a_spanish_card_and_clip_message(stack: Stack) -> None:
    await server_language(stack, "es-ES")
    amy = stack.member("amy-card")  # her client is English: the card is public, so Spanish
    card, job_id, clip = await made_video(stack, amy, "un faro en la tormenta")
    assert stack.title(card) == translated("es-ES", READY_TITLE)
    footer = card.embeds[0]["footer"]["text"]
    assert footer != FOOTER.format(id=job_id) and str(job_id) in footer, footer
    header = translated("es-ES", CLIP_HEADER).format(who=f"<@{amy.user.id}>", id=job_id)
    assert clip.content.startswith(header), clip.content


async def test_a_spanish_server_gets_a_spanish_audit_line(stack: Stack) -> None:
    audit = stack.channel("queue")
    assert "Every finished job" in await stack.admin("audit channel", {"channel": audit.id})
    await server_language(stack, "es-ES")
    _, job_id, _ = await made_video(stack, stack.member("amy-audit"), "un barco de papel")

    def line() -> Message | None:
        return next((m for m in stack.dd.messages_in(audit) if f"`{job_id}`" in m.content), None)

    posted = await stack.dd.wait_for(line, 10)
    charged = i18n.ngettext("es-ES", "{count} credit charged", "{count} credits charged", 1)
    assert charged != "{count} credit charged", "es catalog lacks the audit line's credits"
    assert charged.format(count=1) in posted.content, posted.content
    assert " done " not in posted.content and "charged" not in posted.content, posted.content
