"""The Discord permissions the bot needs, in one list (attribute names of discord.Permissions).

`/video` refuses in a channel that lacks one, `/videoadmin channels allow` warns about the ones
missing there, `python -m bot doctor` reports them per server and channel, and the invite link
asks for exactly these. Plain data: no Discord import.
"""

from __future__ import annotations

# In a channel where /video runs: attribute → (label, why the bot needs it).
CHANNEL_PERMISSIONS: dict[str, tuple[str, str]] = {
    "view_channel": ("View Channel", "see the channels where /video runs"),
    "send_messages": ("Send Messages", "post job cards and clips"),
    "embed_links": ("Embed Links", "the job card is an embed"),
    "attach_files": ("Attach Files", "the clip and the first-frame thumbnail are attachments"),
    "read_message_history": ("Read Message History", "post the clip as a reply to its job card"),
}

# In the approval review channel: the review is an embed with a thumbnail, and no reply.
REVIEW_CHANNEL_PERMISSIONS: dict[str, tuple[str, str]] = {
    attr: CHANNEL_PERMISSIONS[attr]
    for attr in ("view_channel", "send_messages", "embed_links", "attach_files")
}


def labels(permissions: dict[str, tuple[str, str]]) -> dict[str, str]:
    """attribute → label, for the checks that name what is missing."""
    return {attr: label for attr, (label, _) in permissions.items()}
