"""Discord helpers shared by every cog: replying safely, who counts as a moderator, the tree.

One error funnel, `answer_error`: the command tree's `on_error` and `guarded` (which every
button, form and menu handler runs through) turn known refusals into a short ephemeral answer
and anything else into a logged error plus a plain apology with an error id, never a traceback
and never "The application did not respond".
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot import i18n
from bot.catalogue import MODELS
from bot.jobs.contracts import Refused
from cogs.words import refused_words

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot
    from storage.models import Job

log = logging.getLogger(__name__)

# The settings `/video` and `/videoadmin style add` offer, as the catalogue's models have them
# (durations apart: one `app_commands.choices(...)` call must share one value type).
_SETTINGS = [setting for model in MODELS.values() for setting in model.settings]
MODEL_CHOICES = [app_commands.Choice(name=m.id, value=m.id) for m in MODELS.values()]
RESOLUTION_CHOICES = [
    app_commands.Choice(name=r, value=r) for r in dict.fromkeys(r for r, _ in _SETTINGS)
]
DURATION_CHOICES = [
    app_commands.Choice(name=f"{d} seconds", value=d)
    for d in sorted(dict.fromkeys(d for _, d in _SETTINGS))
]

NO_MENTIONS = discord.AllowedMentions.none()


async def reply(interaction: discord.Interaction[VideoBot], content: str, **kwargs: Any) -> None:
    """Answer ephemerally, whether or not the interaction was acknowledged, if still possible."""
    kwargs.setdefault("allowed_mentions", NO_MENTIONS)
    try:
        if interaction.response.is_done():
            if interaction.is_expired():
                log.info("interaction %s expired before we could answer", interaction.id)
                return
            await interaction.followup.send(content, ephemeral=True, **kwargs)
        else:
            await interaction.response.send_message(content, ephemeral=True, **kwargs)
    except discord.HTTPException as exc:
        log.warning("could not answer interaction %s: %s", interaction.id, exc)


async def is_moderator(interaction: discord.Interaction[VideoBot]) -> bool:
    """Manage Server, or the moderator role set with /videoadmin modrole."""
    member = interaction.user
    if not isinstance(member, discord.Member) or interaction.guild_id is None:
        return False
    if member.guild_permissions.manage_guild:
        return True
    bot = interaction.client
    settings = await bot.storage.guild_settings(interaction.guild_id)
    return settings.mod_role_id is not None and any(
        role.id == settings.mod_role_id for role in member.roles
    )


def role_ids(user: discord.abc.User | discord.Member) -> frozenset[int]:
    """The member's role ids (empty outside a guild)."""
    if isinstance(user, discord.Member):
        return frozenset(role.id for role in user.roles)
    return frozenset()


def manages_guild(user: discord.abc.User | discord.Member) -> bool:
    """Whether the member holds Manage Server (a moderator, whatever the moderator role)."""
    return isinstance(user, discord.Member) and user.guild_permissions.manage_guild


def guild_and_actor(interaction: discord.Interaction[VideoBot]) -> tuple[int, int]:
    """The server and the member of a guild-only command."""
    assert interaction.guild_id is not None
    return interaction.guild_id, interaction.user.id


async def started_words(bot: VideoBot, job_id: int, credits: int, locale: str | None = None) -> str:
    """'Your video is on its way (job 7, 1 credit)' or, held, 'Your request is waiting…', in
    the language of `locale` (the member's: only they read it)."""
    from storage.approvals import ApprovalStatus

    amount = i18n.ngettext(locale, "{count} credit", "{count} credits", credits).format(
        count=i18n.number(locale, credits)
    )
    if await bot.approvals.state_of(job_id) is ApprovalStatus.WAITING:
        held = i18n.gettext(
            locale,
            "This server reviews videos first: your request is waiting for a moderator "
            "(job {id}, {amount} reserved; refunded if it is denied or expires)",
        )
        return held.format(id=job_id, amount=amount)
    return i18n.gettext(locale, "Your video is on its way (job {id}, {amount})").format(
        id=job_id, amount=amount
    )


def error_id() -> str:
    return secrets.token_hex(3)


class ModeratorOnly(app_commands.CheckFailure):
    """Raised by the moderator check; answered ephemerally in the member's language."""

    def __init__(self, text: i18n.Text) -> None:
        super().__init__(str(text))
        self.text = text


def moderator_only() -> Any:
    """An app-command check: Manage Server or the moderator role (checked when run)."""

    async def predicate(interaction: discord.Interaction[VideoBot]) -> bool:
        if await is_moderator(interaction):
            return True
        raise ModeratorOnly(
            i18n.Text("Only moderators (Manage Server, or the bot's moderator role) can do this.")
        )

    return app_commands.check(predicate)


async def answer_error(
    interaction: discord.Interaction[Any], error: BaseException, where: str
) -> None:
    """The one error funnel: a refusal or a failed check becomes a short private answer;
    anything else is logged with an error id and the member gets a plain apology with that id
    (never a traceback, never "The application did not respond")."""
    original = getattr(error, "original", error)
    locale = interaction.locale.value  # only this member reads the answer
    if isinstance(original, Refused):
        await reply(interaction, refused_words(original, locale))
        return
    if isinstance(error, ModeratorOnly):
        await reply(interaction, i18n.words(locale, error.text))
        return
    if isinstance(error, app_commands.NoPrivateMessage):
        await reply(interaction, i18n.gettext(locale, "This command only works in a server."))
        return
    if isinstance(error, app_commands.CheckFailure):
        text = i18n.gettext(locale, "You are not allowed to use this command here.")
        await reply(interaction, text)
        return
    if isinstance(error, app_commands.TransformerError):
        text = i18n.gettext(locale, "I couldn't understand `{value}`.")
        await reply(interaction, text.format(value=error.value))
        return
    ref = error_id()
    log.error("error ref=%s in %s", ref, where, exc_info=original)
    sorry = i18n.gettext(locale, "Sorry, something went wrong on our side (error {ref}).")
    await reply(interaction, sorry.format(ref=ref))


async def guarded(
    interaction: discord.Interaction[Any],
    handler: Callable[[discord.Interaction[Any]], Awaitable[object]],
    where: str | None = None,
) -> None:
    """Run a button, form or menu handler through the funnel.

    discord.py only logs what a `DynamicItem` callback raises (no view's `on_error` sees it), so
    every persistent button's callback goes through here."""
    try:
        await handler(interaction)
    except Exception as exc:
        custom_id = interaction.data.get("custom_id", "?") if interaction.data else "?"
        await answer_error(interaction, exc, where or f"component {custom_id}")


async def on_app_command_error(
    interaction: discord.Interaction[Any], error: app_commands.AppCommandError
) -> None:
    """The command tree's error handler: slash commands' and menus' errors go to the one funnel
    (`answer_error`). Set on the tree by the `cogs.errors` extension."""
    command = interaction.command.qualified_name if interaction.command else "?"
    await answer_error(interaction, error, f"/{command}")


class ListenedForm(discord.ui.Modal):
    """A form answered by a listener from its custom_id (`submitted_form`), never kept in
    discord.py's memory (it is sent stopped): a form opened before a restart is answered after
    it the same way, and an open form costs nothing while the member types."""

    def __init__(self, title: str, custom_id: str) -> None:
        super().__init__(title=title[:45], custom_id=custom_id)
        self.stop()

    def add_field(self, component: Any, text: str, description: str | None = None) -> None:
        """One field with its label and description cut to Discord's lengths (45, 100)."""
        short = description[:100] if description else None
        self.add_item(discord.ui.Label(text=text[:45], description=short, component=component))


def submitted_form(
    interaction: discord.Interaction[Any], form_id: re.Pattern[str]
) -> tuple[int, dict[str, Any]] | None:
    """The job id and the answers (`form_values`) of a submitted form whose custom_id matches
    `form_id` (with a `job_id` group); None for any other interaction."""
    if interaction.type is not discord.InteractionType.modal_submit:
        return None
    data: dict[str, Any] = interaction.data or {}  # type: ignore[assignment]
    match = form_id.fullmatch(str(data.get("custom_id", "")))
    if match is None:
        return None
    return int(match["job_id"]), form_values(data.get("components") or [])


def form_values(components: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The one reader of a form's answers: custom_id → value (a text input) or values (a
    select), from a MODAL_SUBMIT's components (action rows or labels)."""
    found: dict[str, Any] = {}
    for top in components:
        inner = [top["component"]] if "component" in top else top.get("components") or []
        for item in inner:
            if "custom_id" in item:
                found[item["custom_id"]] = item.get("value", item.get("values"))
    return found


async def stored_thumbnail(bot: VideoBot, job: Job) -> bytes | None:
    """A small picture of the job's first frame for a card or a review (None when the job has
    no image, the frame is gone, or it cannot be read: the message goes out without one)."""
    if not job.has_image:
        return None
    from bot.media.images import make_thumbnail  # Pillow, loaded with the first picture

    frame = await bot.storage.load_frame(job.id)
    if frame is None:
        return None
    try:
        return await asyncio.to_thread(make_thumbnail, frame.data)
    except Exception:
        log.warning(
            "job=%s could not build the thumbnail of its first frame", job.id, exc_info=True
        )
        return None
