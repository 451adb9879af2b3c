"""The public job card: how it looks, its buttons, and how edits reach Discord.

One module per concern (import each name from its module):

- `render`: `render_card` is pure (job row, extras, locale → embed + view) so it can be tested
  and screenshotted; the card and the clip message are in the server's language, the forms and
  private answers of its buttons in the clicking member's (issue 24);
- `text`: the prompt as inert text, the settings line, links and the clip's header line;
- `buttons` and `studio`: the persistent buttons (`DynamicItem`s) and the Extend and Remix forms;
- `pacing`: `CardEditor` coalesces and paces card edits per channel (final states first) and
  `SendPacer` spaces new messages, so Discord's rate limits are never hit;
- `presenter`: `DiscordPresenter` implements `bot.jobs.contracts.JobPresenter`: it posts cards
  and clips through the bot token (never the 15-minute interaction token);
- `cog`: the extension that builds the presenter and the audit poster and registers the buttons.
"""
