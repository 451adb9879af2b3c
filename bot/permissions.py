"""The Discord permissions the bot needs, in one list (attribute names of discord.Permissions).

`/video` refuses in a channel that lacks one, `/videoadmin channels allow` warns about the ones
missing there, `python -m bot doctor` reports them per server and channel, and the invite link
asks for exactly these. Plain data: no Discord import. A label is Discord's own name for the
permission, in the reader's language when rendered (`labels(…, locale)`); the reasons are for the
operator's doctor report, in English.
"""

from __future__ import annotations

from bot import i18n

# In a channel where /video runs: attribute → (label, why the bot needs it).
CHANNEL_PERMISSIONS: dict[str, tuple[i18n.Text, str]] = {
    "view_channel": (i18n.Text("View Channel"), "see the channels where /video runs"),
    "send_messages": (i18n.Text("Send Messages"), "post job cards and clips"),
    "embed_links": (i18n.Text("Embed Links"), "the job card is an embed"),
    "attach_files": (
        i18n.Text("Attach Files"),
        "the clip and the first-frame thumbnail are attachments",
    ),
    "read_message_history": (
        i18n.Text("Read Message History"),
        "post the clip as a reply to its job card",
    ),
}

# In the approval review channel: the review is an embed with a thumbnail, and no reply.
REVIEW_CHANNEL_PERMISSIONS: dict[str, tuple[i18n.Text, str]] = {
    attr: CHANNEL_PERMISSIONS[attr]
    for attr in ("view_channel", "send_messages", "embed_links", "attach_files")
}


def labels(
    permissions: dict[str, tuple[i18n.Text, str]], locale: str | None = None
) -> dict[str, str]:
    """attribute → label in the language of `locale`, for the checks that name what is missing."""
    return {attr: label.render(locale) for attr, (label, _) in permissions.items()}
