"""The models a member can choose: each one's Wiro slug, what it needs, and how it is named.

A job's `model` is one of `MODELS`' keys and is stored on the job row; everything about a model
lives in its one entry here: its settings (resolution and length) with what each costs in credits,
MiniMax's reference price and the ETA before any history, and the lengths an Extend may add.
Everything else derives from it (`quota.run_cost`, the ETA prior, the Animate form's choices,
Extend's lengths): adding a model is one entry. Wiro's own schema and prices for each slug come
from Tool/Detail at run time; the reference prices are the fallback and what the simulator bills.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from bot import i18n


@dataclass(frozen=True)
class Setting:
    """One resolution and length a model offers, and what depends on it."""

    credits: int  # what a run costs a member (README: Credits and costs)
    reference_usd: float  # MiniMax's published price per clip (Wiro's model page)
    # How long a run takes before any history exists: 1–5 minutes upstream plus queueing.
    eta_seconds: float


Settings = dict[tuple[str, int], Setting]  # by (resolution, duration in seconds)


@dataclass(frozen=True)
class VideoModel:
    """One Hailuo model offered by `/video`'s `model` option."""

    id: str  # the option value and what the job row stores, e.g. "hailuo-2.3-fast"
    label: str  # how the card names it
    slug_owner: str  # Wiro's clean slug: POST /Run/{slug_owner}/{slug_project}
    slug_project: str
    needs_image: bool  # image-to-video only
    settings: Settings = field(default_factory=dict)  # anything else is not offered
    # The lengths an Extend may add to a clip of each resolution (same model, same resolution).
    extend_lengths: dict[str, tuple[int, ...]] = field(
        default_factory=lambda: {"768P": (6, 10), "1080P": (6,)}
    )

    @property
    def slug(self) -> str:
        """The Wiro slug, "owner/project"."""
        return f"{self.slug_owner}/{self.slug_project}"

    @property
    def credits(self) -> dict[tuple[str, int], int]:
        """Credits per run by (resolution, duration)."""
        return {key: s.credits for key, s in self.settings.items()}

    @property
    def reference_usd(self) -> dict[tuple[str, int], float]:
        """MiniMax's published USD price per clip by (resolution, duration)."""
        return {key: s.reference_usd for key, s in self.settings.items()}


HAILUO_23: Final = VideoModel(
    id="hailuo-2.3",
    label="Hailuo 2.3",
    slug_owner="minimax",
    slug_project="hailuo-2-3",
    needs_image=False,
    settings={
        ("768P", 6): Setting(credits=1, reference_usd=0.28, eta_seconds=150.0),
        ("768P", 10): Setting(credits=2, reference_usd=0.56, eta_seconds=240.0),
        ("1080P", 6): Setting(credits=2, reference_usd=0.49, eta_seconds=210.0),
    },
)
HAILUO_23_FAST: Final = VideoModel(
    id="hailuo-2.3-fast",
    label="Hailuo 2.3 Fast",
    slug_owner="minimax",
    slug_project="hailuo-2-3-fast",
    needs_image=True,
    # Fast costs 1 credit whatever the setting, and takes about two thirds of the time (GUESS).
    settings={
        ("768P", 6): Setting(credits=1, reference_usd=0.19, eta_seconds=100.0),
        ("768P", 10): Setting(credits=1, reference_usd=0.32, eta_seconds=160.0),
        ("1080P", 6): Setting(credits=1, reference_usd=0.33, eta_seconds=140.0),
    },
)

MODELS: Final[dict[str, VideoModel]] = {m.id: m for m in (HAILUO_23, HAILUO_23_FAST)}
DEFAULT_MODEL: Final = HAILUO_23.id

# Why Fast needs a first frame, in words a member understands.
NEEDS_IMAGE_REASON: Final = str(
    i18n.Text(
        "Hailuo 2.3 Fast only animates an image: attach one as the first frame, or choose the "
        "hailuo-2.3 model to make a clip from the prompt alone."
    )
)


def get_model(model_id: str | None) -> VideoModel:
    """The model with this id (the default model for None); KeyError for an unknown id."""
    return MODELS[model_id or DEFAULT_MODEL]


def clip_choices(model_id: str | None = None) -> tuple[tuple[str, int], ...]:
    """The (resolution, duration) settings a model offers, in the catalogue's order."""
    return tuple(get_model(model_id).settings)


def model_by_slug(slug_project: str) -> VideoModel | None:
    """The model Wiro knows as ``minimax/<slug_project>``, if it is one of ours."""
    return next((m for m in MODELS.values() if m.slug_project == slug_project), None)


# What a blank prompt in Animate with Hailuo becomes (the card says it is the default).
DEFAULT_ANIMATE_PROMPT: Final = (
    "Gentle, natural motion brings the scene to life; the picture keeps its look and framing."
)
