"""The model catalogue: ids, Wiro slugs, what each model needs."""

from __future__ import annotations

import pytest

from bot.catalogue import DEFAULT_MODEL, MODELS, get_model, model_by_slug


def test_the_two_models_and_their_slugs() -> None:
    assert DEFAULT_MODEL == "hailuo-2.3"
    assert get_model(None).slug == "minimax/hailuo-2-3"
    fast = get_model("hailuo-2.3-fast")
    assert fast.slug == "minimax/hailuo-2-3-fast"
    assert fast.needs_image and not get_model("hailuo-2.3").needs_image
    assert fast.label == "Hailuo 2.3 Fast"


def test_fast_is_cheaper_at_every_setting() -> None:
    standard, fast = MODELS["hailuo-2.3"], MODELS["hailuo-2.3-fast"]
    assert set(standard.reference_usd) == set(fast.reference_usd)
    assert all(fast.reference_usd[k] < standard.reference_usd[k] for k in standard.reference_usd)


def test_lookup_by_slug_and_unknown_ids() -> None:
    assert model_by_slug("hailuo-2-3-fast") is MODELS["hailuo-2.3-fast"]
    assert model_by_slug("kling-v3") is None
    with pytest.raises(KeyError):
        get_model("hailuo-9")
