"""The models a member can choose: each one's Wiro slug, what it needs, and how it is named.

A job's `model` is one of `MODELS`' keys and is stored on the job row; everything about a model is
looked up here (credits per setting live with the other cost rules in `bot.governance.quota`).
Wiro's own schema and prices for each slug come from Tool/Detail at run time; the MiniMax prices
below are only the documented reference (Wiro's model pages), for the simulator and for people
reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final


@dataclass(frozen=True)
class VideoModel:
    """One Hailuo model offered by `/video`'s `model` option."""

    id: str  # the option value and what the job row stores, e.g. "hailuo-2.3-fast"
    label: str  # how the card names it
    slug_owner: str  # Wiro's clean slug: POST /Run/{slug_owner}/{slug_project}
    slug_project: str
    needs_image: bool  # image-to-video only
    # MiniMax's published USD price per clip by (resolution, duration), for reference only.
    reference_usd: dict[tuple[str, int], float] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """The Wiro slug, "owner/project"."""
        return f"{self.slug_owner}/{self.slug_project}"


HAILUO_23: Final = VideoModel(
    id="hailuo-2.3",
    label="Hailuo 2.3",
    slug_owner="minimax",
    slug_project="hailuo-2-3",
    needs_image=False,
    reference_usd={("768P", 6): 0.28, ("768P", 10): 0.56, ("1080P", 6): 0.49},
)
HAILUO_23_FAST: Final = VideoModel(
    id="hailuo-2.3-fast",
    label="Hailuo 2.3 Fast",
    slug_owner="minimax",
    slug_project="hailuo-2-3-fast",
    needs_image=True,
    reference_usd={("768P", 6): 0.19, ("768P", 10): 0.32, ("1080P", 6): 0.33},
)

MODELS: Final[dict[str, VideoModel]] = {m.id: m for m in (HAILUO_23, HAILUO_23_FAST)}
DEFAULT_MODEL: Final = HAILUO_23.id

# Why Fast needs a first frame, in words a member understands.
NEEDS_IMAGE_REASON: Final = (
    "Hailuo 2.3 Fast only animates an image: attach one as the first frame, or choose the "
    "hailuo-2.3 model to make a clip from the prompt alone."
)


def get_model(model_id: str | None) -> VideoModel:
    """The model with this id (the default model for None); KeyError for an unknown id."""
    return MODELS[model_id or DEFAULT_MODEL]


def model_by_slug(slug_project: str) -> VideoModel | None:
    """The model Wiro knows as ``minimax/<slug_project>``, if it is one of ours."""
    return next((m for m in MODELS.values() if m.slug_project == slug_project), None)


# What a blank prompt in Animate with Hailuo becomes (the card says it is the default).
DEFAULT_ANIMATE_PROMPT: Final = (
    "Gentle, natural motion brings the scene to life; the picture keeps its look and framing."
)
