"""Render the README's pictures of the job card from the bot's real embed data.

    .venv/bin/python scripts/render_readme_images.py [OUT_DIR]   (default: docs/images)

Builds `storage.models.Job` rows and `bot.jobs.service.CardExtras`, calls `cogs.cards.render_card`
(the function the bot uses to post and edit cards), and draws `embed.to_dict()` and the view's
buttons as a Discord-like dark message with Pillow. Nothing about the card is hand-written here:
change the card and re-run this to refresh the pictures.

Fonts: DejaVu Sans (apt-get install fonts-dejavu-core) and, for emoji, Noto Color Emoji
(fonts-noto-color-emoji). Without them the script still runs, with Pillow's built-in font and
emoji left out.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.catalogue import DEFAULT_ANIMATE_PROMPT  # noqa: E402
from bot.jobs.contracts import CardExtras  # noqa: E402
from bot.media.images import allowed_crop  # noqa: E402
from cogs.cards.presenter import clip_view  # noqa: E402
from cogs.cards.render import render_card  # noqa: E402
from storage.models import Job, JobState, Stage  # noqa: E402

S = 2  # pixel scale: draw at 2x so the text stays sharp on high-density screens
WIDTH = 720

BG = (49, 51, 56)
EMBED_BG = (43, 45, 49)
TEXT = (219, 222, 225)
HEADER = (242, 243, 245)
MUTED = (148, 155, 164)
LINK = (0, 168, 252)
MENTION_BG = (60, 66, 112)
MENTION_FG = (201, 205, 251)
CODE_BG = (30, 31, 34)
APP_BADGE = (88, 101, 242)
BUTTON = {
    "danger": (218, 55, 60),
    "secondary": (78, 80, 88),
    "primary": (88, 101, 242),
    "success": (36, 128, 70),
}

BOT_NAME = "Hailuo"
NAMES = {222: "mira"}  # user ids in the example → display names for mentions
NOW = datetime(2026, 11, 26, 17, 6, 10, tzinfo=UTC)  # the moment the picture is "taken"

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/TTF", "/usr/share/fonts")
EMOJI_FONTS = (
    "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
    "/usr/share/fonts/noto/NotoColorEmoji.ttf",
)


# ----------------------------------------------------------------------------------------------
# Fonts
# ----------------------------------------------------------------------------------------------
@cache
def font(kind: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu at `size` (1x units), else Pillow's default font."""
    names = {
        "regular": "DejaVuSans.ttf",
        "bold": "DejaVuSans-Bold.ttf",
        "mono": "DejaVuSansMono.ttf",
    }
    for directory in FONT_DIRS:
        for path in Path(directory).rglob(names[kind]):
            return ImageFont.truetype(str(path), size * S)
    return ImageFont.load_default(size * S)


@cache
def emoji_font() -> ImageFont.FreeTypeFont | None:
    for path in EMOJI_FONTS:
        if Path(path).exists():
            try:
                return ImageFont.truetype(path, 109)  # the only size a CBDT colour font has
            except OSError:
                return None
    return None


def is_emoji(ch: str) -> bool:
    code = ord(ch)
    return code >= 0x1F000 or code in (0x2705, 0x274C, 0x231B, 0x23F3, 0x2728, 0x2B50)


@cache
def emoji_image(ch: str, size: int) -> Image.Image | None:
    face = emoji_font()
    if face is None:
        return None
    canvas = Image.new("RGBA", (136, 128), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((0, 0), ch, font=face, embedded_color=True)
    box = canvas.getbbox()
    if box is None:
        return None
    return canvas.crop(box).resize((size, size), Image.Resampling.LANCZOS)


# ----------------------------------------------------------------------------------------------
# Discord's markdown, the subset the card uses
# ----------------------------------------------------------------------------------------------
@dataclass
class Run:
    text: str
    style: str = "regular"  # regular, bold, code, mention, link, muted


TOKEN = re.compile(
    r"\*\*(?P<bold>.+?)\*\*|`(?P<code>[^`]+)`|<@!?(?P<user>\d+)>|<t:(?P<ts>\d+):(?P<tsf>\w)>"
    r"|\[(?P<label>[^\]]+)\]\((?P<url>[^)]+)\)|\\(?P<esc>.)"
)


def relative(moment: datetime) -> str:
    """Discord's `<t:…:R>` as the client shows it at NOW."""
    seconds = (moment - NOW).total_seconds()
    minutes = round(abs(seconds) / 60)
    if minutes < 1:
        words = f"{round(abs(seconds))} seconds"
    elif minutes == 1:
        words = "a minute"
    else:
        words = f"{minutes} minutes"
    return f"in {words}" if seconds > 0 else f"{words} ago"


def parse(text: str, base: str = "regular") -> list[Run]:
    runs: list[Run] = []
    pos = 0
    for match in TOKEN.finditer(text):
        if match.start() > pos:
            runs.append(Run(text[pos : match.start()], base))
        if match["bold"] is not None:
            runs.extend(
                Run(r.text, "bold" if r.style == "regular" else r.style)
                for r in parse(match["bold"], base)
            )
        elif match["code"] is not None:
            runs.append(Run(match["code"], "code"))
        elif match["user"] is not None:
            runs.append(Run("@" + NAMES.get(int(match["user"]), "member"), "mention"))
        elif match["ts"] is not None:
            moment = datetime.fromtimestamp(int(match["ts"]), UTC)
            runs.append(Run(relative(moment), "code-ish"))
        elif match["label"] is not None:
            runs.append(Run(match["label"], "link"))
        else:
            runs.append(Run(match["esc"], base))
        pos = match.end()
    if pos < len(text):
        runs.append(Run(text[pos:], base))
    return runs


def run_font(style: str, size: int) -> Any:
    if style == "bold":
        return font("bold", size)
    if style == "code":
        return font("mono", size - 1)
    return font("regular", size)


def run_colour(style: str, colour: tuple[int, int, int]) -> tuple[int, int, int]:
    return {"mention": MENTION_FG, "link": LINK, "code-ish": TEXT}.get(style, colour)


class Writer:
    """Lays out rich text into lines of width `width` and draws it (or only measures it)."""

    def __init__(self, draw: ImageDraw.ImageDraw | None, image: Image.Image | None) -> None:
        self.draw = draw
        self.image = image

    def text(
        self,
        x: int,
        y: int,
        text: str,
        width: int,
        *,
        size: int = 15,
        colour: tuple[int, int, int] = TEXT,
        base: str = "regular",
        line_height: int | None = None,
    ) -> int:
        """Draw wrapped markdown text at (x, y) in 1x units; return the height used."""
        height = line_height or round(size * 1.38)
        cy = y
        for paragraph in text.split("\n"):
            cx = x
            for run in parse(paragraph, base):
                face = run_font(run.style, size)
                for piece in re.findall(r"\S+\s*|\s+", run.text):
                    w = self._measure(piece, face, size)
                    if cx + w > x + width and cx > x and piece.strip():
                        cx = x
                        cy += height
                    self._draw(cx, cy, piece, face, size, height, run.style, colour)
                    cx += w
            cy += height
        return cy - y

    def _measure(self, piece: str, face: Any, size: int) -> float:
        total = 0.0
        for ch in piece:
            if ch == "\ufe0f":
                continue
            total += (size + 3) if is_emoji(ch) else face.getlength(ch) / S
        return total

    def _draw(
        self, x: float, y: int, piece: str, face: Any, size: int, height: int, style: str, colour
    ) -> None:
        if self.draw is None or self.image is None:
            return
        w = self._measure(piece.rstrip(), face, size)
        top = y + (height - size * 1.2) / 2
        if style == "mention":
            self.draw.rounded_rectangle(
                [x * S - 2 * S, top * S, (x + w) * S + 2 * S, (top + size * 1.25) * S],
                radius=3 * S,
                fill=MENTION_BG,
            )
        if style == "code":
            self.draw.rounded_rectangle(
                [x * S - 2 * S, top * S, (x + w) * S + 2 * S, (top + size * 1.25) * S],
                radius=3 * S,
                fill=CODE_BG,
            )
        cx = x
        for ch in piece:
            if ch == "\ufe0f":
                continue
            if is_emoji(ch):
                glyph = emoji_image(ch, size * S)
                if glyph is not None:
                    self.image.paste(glyph, (round(cx * S), round((top + 1) * S)), glyph)
                cx += size + 3
                continue
            offset = 1 if style == "code" else 0
            self.draw.text(
                (cx * S, (top + offset) * S), ch, font=face, fill=run_colour(style, colour)
            )
            cx += face.getlength(ch) / S


# ----------------------------------------------------------------------------------------------
# A message: avatar, name, optional reply line, content, embed, buttons, video
# ----------------------------------------------------------------------------------------------
@dataclass
class Message:
    content: str | None = None
    embed: dict[str, Any] | None = None
    buttons: list[tuple[str, str]] | None = None  # (label with emoji, style)
    reply_to: str | None = None
    video: Image.Image | None = None
    thumbnail: Image.Image | None = None


CONTENT_X = 72
EMBED_W = 516


def draw_embed(
    writer: Writer,
    x: int,
    y: int,
    embed: dict[str, Any],
    thumbnail: Image.Image | None,
    *,
    measure_only: bool = False,
) -> int:
    """Draw the embed's text as Discord does (inline fields three to a row); return its height.

    The box and colour bar are drawn first by `embed_box`, from the height measured here.
    """
    pad = 16
    inner_x = x + 4 + pad - 4
    thumb_size = 80 if thumbnail is not None or embed.get("thumbnail") else 0
    text_w = EMBED_W - 4 - 2 * pad + 4 - (thumb_size + 16 if thumb_size else 0)
    measure = Writer(None, None)
    w = writer if not measure_only else measure
    cy = y + pad - 2
    if embed.get("title"):
        cy += w.text(inner_x, cy, embed["title"], text_w, size=16, colour=HEADER, base="bold")
        cy += 4
    if embed.get("description"):
        cy += w.text(inner_x, cy, embed["description"], text_w, size=14)
        cy += 6
    # Fields: inline ones share a row (three per row, two beside a thumbnail).
    fields = embed.get("fields", [])
    row: list[dict[str, Any]] = []
    rows: list[list[dict[str, Any]]] = []
    for f in fields:
        per_row = 3
        if not f.get("inline") or len(row) == per_row:
            if row:
                rows.append(row)
            row = []
        row.append(f)
        if not f.get("inline"):
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    full_w = EMBED_W - 4 - 2 * pad + 4
    for r in rows:
        cols = 3 if r[0].get("inline") else 1
        col_w = (full_w - 8 * (cols - 1)) // cols if cols > 1 else full_w
        heights = []
        for i, f in enumerate(r):
            fx = inner_x + i * (col_w + 8)
            h = w.text(fx, cy + 2, f["name"], col_w, size=14, colour=HEADER, base="bold")
            h += w.text(fx, cy + 2 + h, f["value"], col_w, size=14)
            heights.append(h)
        cy += max(heights) + 8
    if embed.get("footer"):
        stamp = ""
        if embed.get("timestamp"):
            moment = datetime.fromisoformat(embed["timestamp"])
            stamp = f" • Today at {moment:%H:%M}"
        cy += 2
        cy += w.text(inner_x, cy, embed["footer"]["text"] + stamp, full_w, size=12, colour=MUTED)
    height = cy - y + pad - 4
    if not measure_only and thumbnail is not None:
        thumb = thumbnail.copy()
        thumb.thumbnail((thumb_size * S, thumb_size * S))
        mask = Image.new("L", thumb.size, 0)
        ImageDraw.Draw(mask).rounded_rectangle([0, 0, *thumb.size], radius=4 * S, fill=255)
        px = (x + EMBED_W - pad - thumb_size) * S
        writer.image.paste(thumb, (px, (y + pad) * S), mask)  # type: ignore[union-attr]
    return height


def embed_box(draw: ImageDraw.ImageDraw, x: int, y: int, height: int, colour: int) -> None:
    bar = ((colour >> 16) & 255, (colour >> 8) & 255, colour & 255)
    draw.rounded_rectangle([x * S, y * S, (x + EMBED_W) * S, (y + height) * S], 4 * S, EMBED_BG)
    draw.rounded_rectangle([x * S, y * S, (x + 6) * S, (y + height) * S], 4 * S, bar)
    draw.rectangle([(x + 4) * S, y * S, (x + 6) * S, (y + height) * S], EMBED_BG)


def draw_button(writer: Writer, x: int, y: int, label: str, style: str) -> int:
    draw = writer.draw
    assert draw is not None
    width = round(Writer(None, None)._measure(label, font("regular", 14), 14)) + 32
    draw.rounded_rectangle(
        [x * S, y * S, (x + width) * S, (y + 32) * S], 4 * S, BUTTON.get(style, BUTTON["secondary"])
    )
    writer.text(x + 16, y + 6, label, width, size=14, colour=(255, 255, 255))
    return width


def avatar(size: int) -> Image.Image:
    img = Image.new("RGB", (size * S, size * S), (88, 101, 242))
    d = ImageDraw.Draw(img)
    # A tiny clapperboard as the bot's face.
    c = size * S
    d.rounded_rectangle([c * 0.26, c * 0.38, c * 0.74, c * 0.72], c * 0.05, (255, 255, 255))
    lid = [(c * 0.26, c * 0.36), (c * 0.72, c * 0.24), (c * 0.74, c * 0.32), (c * 0.28, c * 0.44)]
    d.polygon(lid, (255, 255, 255))
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).ellipse([0, 0, *img.size], fill=255)
    img.putalpha(mask)
    return img


def render_messages(messages: list[Message]) -> Image.Image:
    """Two passes: measure every block, then draw on a canvas of the right height."""

    def layout(writer: Writer, draw_pass: bool, canvas: Image.Image | None) -> int:
        y = 12
        for message in messages:
            if message.reply_to:
                if draw_pass:
                    d = writer.draw
                    assert d is not None
                    d.line([(38 * S, (y + 10) * S), (38 * S, (y + 6) * S)], MUTED, 2 * S)
                    d.arc([38 * S, (y + 4) * S, 62 * S, (y + 24) * S], 180, 270, MUTED, 2 * S)
                    writer.text(CONTENT_X, y, message.reply_to, 600, size=13, colour=MUTED)
                y += 22
            if draw_pass and canvas is not None:
                face = avatar(40)
                canvas.paste(face, (16 * S, (y + 2) * S), face)
                d = writer.draw
                assert d is not None
                d.text((CONTENT_X * S, y * S), BOT_NAME, font=font("bold", 16), fill=HEADER)
                name_w = font("bold", 16).getlength(BOT_NAME) / S
                bx = CONTENT_X + name_w + 6
                d.rounded_rectangle([bx * S, (y + 3) * S, (bx + 30) * S, (y + 18) * S], 3 * S,
                                    APP_BADGE)  # fmt: skip
                d.text(((bx + 4) * S, (y + 4) * S), "APP", font=font("bold", 10), fill=(255,) * 3)
                d.text(((bx + 38) * S, (y + 3) * S), "Today at 17:06", font=font("regular", 12),
                       fill=MUTED)  # fmt: skip
            y += 24
            if message.content:
                w = writer if draw_pass else Writer(None, None)
                y += w.text(CONTENT_X, y, message.content, 640, size=15) + 4
            if message.embed is not None:
                measure = Writer(None, None)
                h = draw_embed(measure, CONTENT_X, y, message.embed, None, measure_only=True)
                if draw_pass:
                    assert writer.draw is not None
                    embed_box(writer.draw, CONTENT_X, y, h, message.embed.get("color", 0))
                    draw_embed(writer, CONTENT_X, y, message.embed, message.thumbnail)
                y += h + 6
            if message.video is not None:
                vw, vh = 400, round(400 * message.video.height / message.video.width)
                if draw_pass and canvas is not None:
                    draw_video(canvas, CONTENT_X, y + 2, vw, vh, message.video)
                y += vh + 8
            if message.buttons:
                bx = CONTENT_X
                for label, style in message.buttons:
                    if draw_pass:
                        bx += draw_button(writer, bx, y + 2, label, style) + 8
                y += 40
            y += 14
        return y

    total = layout(Writer(None, None), False, None)
    canvas = Image.new("RGB", (WIDTH * S, total * S), BG)
    writer = Writer(ImageDraw.Draw(canvas), canvas)
    layout(writer, True, canvas)
    return canvas


def draw_video(canvas: Image.Image, x: int, y: int, w: int, h: int, frame: Image.Image) -> None:
    still = frame.resize((w * S, h * S), Image.Resampling.LANCZOS)
    mask = Image.new("L", still.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle([0, 0, *still.size], radius=8 * S, fill=255)
    canvas.paste(still, (x * S, y * S), mask)
    d = ImageDraw.Draw(canvas, "RGBA")
    cx, cy, r = (x + w / 2) * S, (y + h / 2) * S, 24 * S
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(0, 0, 0, 150))
    d.polygon([(cx - 8 * S, cy - 12 * S), (cx - 8 * S, cy + 12 * S), (cx + 13 * S, cy)],
              fill=(255, 255, 255, 235))  # fmt: skip
    d.rectangle([x * S, (y + h - 30) * S, (x + w) * S, (y + h) * S], fill=(0, 0, 0, 120))
    d.text(((x + 12) * S, (y + h - 23) * S), "0:00 / 0:06", font=font("regular", 12),
           fill=(255, 255, 255, 230))  # fmt: skip
    d.rounded_rectangle([(x + 92) * S, (y + h - 17) * S, (x + w - 16) * S, (y + h - 13) * S],
                        2 * S, fill=(255, 255, 255, 90))  # fmt: skip


# ----------------------------------------------------------------------------------------------
# The example: one member's /video, in progress and delivered
# ----------------------------------------------------------------------------------------------
def first_frame(width: int = 640, height: int = 360) -> Image.Image:
    """A stand-in first frame: a snowy field at golden hour."""
    img = Image.new("RGB", (width, height))
    d = ImageDraw.Draw(img)
    for row in range(height):
        t = row / height
        sky = (int(250 - 120 * t), int(170 - 90 * t), int(110 + 40 * t))
        d.line([(0, row), (width, row)], sky)
    d.ellipse([width * 0.62, height * 0.22, width * 0.74, height * 0.43], (255, 226, 160))
    d.polygon([(0, height * 0.62), (width * 0.25, height * 0.38), (width * 0.5, height * 0.6),
               (width * 0.7, height * 0.42), (width, height * 0.64), (width, height), (0, height)],
              (92, 72, 120))  # fmt: skip
    d.polygon([(0, height * 0.78), (width * 0.4, height * 0.7), (width, height * 0.8),
               (width, height), (0, height)], (236, 226, 232))  # fmt: skip
    # The fox: a small warm shape in the snow.
    fx, fy = width * 0.36, height * 0.74
    d.ellipse([fx, fy, fx + 46, fy + 20], (214, 98, 38))
    d.ellipse([fx + 36, fy - 12, fx + 58, fy + 8], (214, 98, 38))
    d.polygon([(fx + 40, fy - 8), (fx + 44, fy - 22), (fx + 48, fy - 9)], (214, 98, 38))
    d.polygon([(fx + 48, fy - 9), (fx + 54, fy - 21), (fx + 56, fy - 6)], (214, 98, 38))
    d.ellipse([fx - 30, fy + 2, fx + 6, fy + 14], (226, 120, 52))
    return img


PROMPT = (
    "A red fox trots through fresh snow at golden hour, slow dolly shot following it, "
    "breath visible in the cold air, soft backlight"
)


def example_job(**changes: Any) -> Job:
    created = NOW - timedelta(minutes=2, seconds=10)
    base = {
        "id": 42,
        "guild_id": 111,
        "channel_id": 333,
        "user_id": 222,
        "prompt": PROMPT,
        "resolution": "768P",
        "duration": 6,
        "prompt_optimizer": True,
        "has_image": True,
        "credits": 1,
        "state": JobState.RUNNING,
        "stage": Stage.GENERATING,
        "progress": 60,
        "card_message_id": 444,
        "wiro_task_id": "534574",
        "created_at": created,
        "submitted_at": created + timedelta(seconds=2),
        "started_at": created + timedelta(seconds=40),
        "updated_at": NOW,
    }
    base.update(changes)
    return Job.model_validate(base)


def buttons_of(view: Any) -> list[tuple[str, str]]:
    out = []
    for child in view.children if view is not None else []:
        button = getattr(child, "item", child)
        emoji = f"{button.emoji} " if button.emoji else ""
        out.append((f"{emoji}{button.label}", button.style.name))
    return out


def card_message(job: Job, extras: CardExtras, frame: Image.Image) -> Message:
    embed, view = render_card(job, extras, has_thumbnail=job.has_image)
    return Message(
        embed=embed.to_dict(),  # exactly what the bot sends to Discord
        buttons=buttons_of(view),
        thumbnail=frame if embed.thumbnail else None,
    )


def save(image: Image.Image, path: Path) -> None:
    # A palette keeps the PNG small; the card is flat colours, the frames survive 256 colours.
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True
    )
    print(f"wrote {path} ({path.stat().st_size // 1024} KB, {image.width}x{image.height})")


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = first_frame()
    running = example_job()
    extras = CardExtras(eta=NOW + timedelta(minutes=3))
    save(render_messages([card_message(running, extras, frame)]), out_dir / "card-running.png")

    done = example_job(
        state=JobState.SUCCEEDED,
        stage=Stage.DONE,
        progress=None,
        result_message_id=555,
        finished_at=running.created_at + timedelta(minutes=3, seconds=52),
        total_cost_usd=0.28,
    )
    card = card_message(done, CardExtras(), frame)
    # The clip message, as `DiscordPresenter.deliver_clip` posts it: a reply to the card.
    clip = Message(
        content=f"<@{done.user_id}> your video is ready (job {done.id}).",
        reply_to=f"@{BOT_NAME} ✅ Video ready",
        video=frame,
        buttons=buttons_of(clip_view(done)),
    )
    save(render_messages([card, clip]), out_dir / "card-done.png")

    # Animate with Hailuo on a wide picture someone posted: Fast, two camera moves, the default
    # prompt, the picture centre-cropped (the thumbnail is the frame actually sent).
    wide = first_frame(1200, 400)
    crop = allowed_crop(*wide.size)
    assert crop is not None
    studio = example_job(
        id=43,
        prompt=DEFAULT_ANIMATE_PROMPT,
        model="hailuo-2.3-fast",
        camera="Pan left,Zoom in",
        stage=Stage.QUEUED,
        progress=None,
        image_note=(
            f"Centre-cropped from 1200×400 to {crop[2] - crop[0]}×400 px: Hailuo takes aspect "
            "ratios between 2:5 and 5:2."
        ),
        source_url="https://discord.com/channels/111/333/440",
    )
    extras = CardExtras(eta=NOW + timedelta(minutes=2))
    sent = wide.crop(crop)
    save(render_messages([card_message(studio, extras, sent)]), out_dir / "card-studio.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images")
