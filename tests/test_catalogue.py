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


def test_a_third_model_is_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything that depends on a model's settings reads its one catalogue entry: a new
    model's credits, ETA prior, settings and Extend lengths need no other change."""
    from datetime import UTC, datetime

    from bot.catalogue import Setting, VideoModel, clip_choices
    from bot.governance import quota
    from bot.jobs.followups import extend_lengths
    from storage.models import Job

    third = VideoModel(
        id="hailuo-3",
        label="Hailuo 3",
        slug_owner="minimax",
        slug_project="hailuo-3",
        needs_image=False,
        settings={
            ("768P", 8): Setting(credits=3, reference_usd=0.4, eta_seconds=99.0),
            ("1080P", 8): Setting(credits=5, reference_usd=0.8, eta_seconds=120.0),
        },
        extend_lengths={"768P": (8,), "1080P": (8,)},
    )
    monkeypatch.setitem(MODELS, third.id, third)
    assert quota.run_cost("1080P", 8, "hailuo-3") == 5
    with pytest.raises(ValueError, match="768P/8s, 1080P/8s"):
        quota.run_cost("768P", 6, "hailuo-3")
    assert clip_choices("hailuo-3") == (("768P", 8), ("1080P", 8))
    assert model_by_slug("hailuo-3") is third
    now = datetime(2026, 1, 1, tzinfo=UTC)
    job = Job.model_validate(
        {
            "id": 1,
            "guild_id": 1,
            "channel_id": 1,
            "user_id": 1,
            "prompt": "p",
            "resolution": "768P",
            "duration": 8,
            "prompt_optimizer": True,
            "credits": 3,
            "model": "hailuo-3",
            "state": "succeeded",
            "created_at": now,
            "updated_at": now,
        }
    )
    assert extend_lengths(job, max_clip_seconds=60) == (8,)


def test_every_model_offers_settings_with_credits_price_and_eta() -> None:
    for model in MODELS.values():
        assert model.settings, model.id
        for (resolution, duration), setting in model.settings.items():
            assert resolution in ("768P", "1080P") and duration > 0
            assert setting.credits >= 1 and setting.reference_usd > 0 and setting.eta_seconds > 0
        assert set(model.extend_lengths) >= {r for r, _ in model.settings}
