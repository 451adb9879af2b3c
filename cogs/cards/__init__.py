"""The public job card: how it looks, its buttons, and how edits reach Discord.

One module per concern:

- `render`: `render_card` is pure (job row → embed + view) so it can be tested and screenshotted;
- `text`: the prompt as inert text, the settings line, links and the clip's header line;
- `buttons`: the persistent Cancel and Re-roll buttons (`DynamicItem`s);
- `pacing`: `CardEditor` coalesces and paces card edits per channel (final states first) and
  `SendPacer` spaces new messages, so Discord's rate limits are never hit;
- `presenter`: `DiscordPresenter` implements `bot.jobs.service.JobPresenter`: it posts cards and
clips
  through the bot token (never the 15-minute interaction token).
"""

from cogs.cards.buttons import CancelButton, RerollButton
from cogs.cards.pacing import EDIT_INTERVAL_SECONDS, CardEditor, SendPacer
from cogs.cards.presenter import (
    CARD_MAX_EDIT_AGE,
    DEFAULT_UPLOAD_LIMIT,
    INTERACTION_MARGIN,
    DiscordPresenter,
)
from cogs.cards.render import THUMBNAIL_NAME, progress_bar, render_card
from cogs.cards.text import (
    card_link,
    delivery_header,
    duration_words,
    prompt_as_text,
    requester_only,
    settings_line,
)

__all__ = [
    "CARD_MAX_EDIT_AGE",
    "DEFAULT_UPLOAD_LIMIT",
    "EDIT_INTERVAL_SECONDS",
    "INTERACTION_MARGIN",
    "THUMBNAIL_NAME",
    "CancelButton",
    "CardEditor",
    "DiscordPresenter",
    "RerollButton",
    "SendPacer",
    "card_link",
    "delivery_header",
    "duration_words",
    "progress_bar",
    "prompt_as_text",
    "render_card",
    "requester_only",
    "settings_line",
]
