"""What Tool/Detail says about a model: its image field, its choices and its prices.

Read at start-up (and again while it is unreadable); image runs are refused while the image
field is only the fallback guess (docs/wiro-protocol.md "Inputs").
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, Field

from bot.wiro.lenient import LENIENT, list_or_empty, loose_float, loose_str, maybe_json

FILE_INPUT_TYPES = ("fileinput", "multifileinput", "combinefileinput")

# Price methods charged per second of output video (GUESS: only this one is documented).
PER_SECOND_PRICE_METHODS = frozenset({"cp-outputVideoLength"})


class PriceEntry(BaseModel):
    """One `dynamicprice` tier: applies when all its `inputs` equal the run's parameters."""

    model_config = LENIENT
    inputs: dict[str, str] = Field(default_factory=dict)
    price: float
    method: str = Field("cpr", validation_alias=AliasChoices("priceMethod", "method"))

    @classmethod
    def parse(cls, raw: Any) -> PriceEntry | None:
        """Parse one entry; None when it has no usable price."""
        if not isinstance(raw, dict):
            return None
        price = loose_float(raw.get("price"))
        if price is None:
            return None
        inputs = maybe_json(raw.get("inputs")) or {}
        if not isinstance(inputs, dict):
            return None
        return cls(
            inputs={str(k): loose_str(v) for k, v in inputs.items()},
            price=price,
            method=loose_str(raw.get("priceMethod") or raw.get("method") or "cpr"),
        )

    def matches(self, params: dict[str, str]) -> bool:
        """Say whether this tier applies to a run with these parameters."""
        return all(params.get(k, "").lower() == v.lower() for k, v in self.inputs.items())


class ToolInfo(BaseModel):
    """What Tool/Detail says about the model: its image field, choices and prices."""

    model_config = LENIENT
    image_field_id: str
    image_field_type: str
    resolutions: tuple[str, ...]
    durations: tuple[str, ...]
    prices: list[PriceEntry] = Field(default_factory=list)
    from_fallback: bool = False

    @classmethod
    def fallback(cls) -> ToolInfo:
        """Return the assumptions used while Tool/Detail is unreadable (never for image runs)."""
        return cls(
            image_field_id="inputImage",
            image_field_type="combinefileinput",
            resolutions=("768P", "1080P"),
            durations=("6", "10"),
            prices=[],
            from_fallback=True,
        )

    @classmethod
    def from_body(cls, body: Any) -> ToolInfo:
        """Parse a Tool/Detail answer; missing pieces fall back to the defaults."""
        fallback = cls.fallback()
        tools = list_or_empty(body.get("tool")) if isinstance(body, dict) else []
        tool = tools[0] if tools and isinstance(tools[0], dict) else {}
        items: list[dict[str, Any]] = []
        for group in list_or_empty(tool.get("parameters")):
            if isinstance(group, dict):
                items.extend(i for i in list_or_empty(group.get("items")) if isinstance(i, dict))
        by_id = {loose_str(i.get("id")): i for i in items}
        image = next((i for i in items if loose_str(i.get("type")) in FILE_INPUT_TYPES), None)

        def options(field: str, default: tuple[str, ...]) -> tuple[str, ...]:
            item = by_id.get(field) or {}
            values = tuple(
                loose_str(o.get("value") if isinstance(o, dict) else o)
                for o in list_or_empty(item.get("options"))
            )
            return tuple(v for v in values if v) or default

        prices = [p for p in map(PriceEntry.parse, list_or_empty(tool.get("dynamicprice"))) if p]
        return cls(
            image_field_id=loose_str(image.get("id")) if image else fallback.image_field_id,
            image_field_type=loose_str(image.get("type")) if image else fallback.image_field_type,
            resolutions=options("resolution", fallback.resolutions),
            durations=options("duration", fallback.durations),
            prices=prices,
            # No file field found, for whatever reason (no tool, `"parameters": null`, a schema
            # without one): the image field is a guess, and image runs must not be sent on it.
            from_fallback=image is None,
        )

    def price_for(self, resolution: str, duration: int) -> float | None:
        """Return the USD price of one run with these settings, or None if unknown."""
        params = {"resolution": resolution, "duration": str(duration)}
        matching = [p for p in self.prices if p.matches(params)]
        if not matching:
            return None
        # The most specific tier wins; a `{}` tier is the catch-all.
        best = max(matching, key=lambda p: len(p.inputs))
        if best.method == "cpr":
            return best.price
        if best.method in PER_SECOND_PRICE_METHODS:
            return round(best.price * duration, 6)
        # cps (per compute second) and unknown methods cannot be priced before the run.
        return None
