"""Lenient reading of Wiro's scalars: the coercions every wire model is built on.

Wiro sends nearly every scalar as a string ("taskid":"2221", "pexit":"0", "size":"202472"), some
fields as JSON-encoded strings (`dynamicprice`), and the official SDKs accept numbers, strings,
`output` for `outputs` and `id` for `taskid`. Every parser here does the same, so a harmless change
of wire type on Wiro's side never breaks the bot.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict


def loose_str(value: Any) -> str:
    """Return `value` as a string; None becomes ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def loose_int(value: Any) -> int | None:
    """Return an int from a number or numeric string, else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(float(str(value).strip()))
    except (TypeError, ValueError, OverflowError):
        return None


def loose_float(value: Any) -> float | None:
    """Return a float from a number or numeric string, else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = float(str(value).strip()) if not isinstance(value, int | float) else float(value)
    except (TypeError, ValueError):
        return None
    return result if result == result else None  # NaN -> None


def loose_bool(value: Any) -> bool:
    """Return a bool from true/"true"/"1"/1 (anything else is False)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return False


def maybe_json(value: Any) -> Any:
    """Decode a JSON-encoded string field (like `dynamicprice`); leave anything else alone."""
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def list_or_empty(value: Any) -> list[Any]:
    """Return a list (also a JSON-encoded one), or [] for anything else."""
    value = maybe_json(value)
    return value if isinstance(value, list) else []


def _blank_to_none(value: Any) -> str | None:
    text = loose_str(value)
    return text or None


LooseStr = Annotated[str, BeforeValidator(loose_str)]
LooseOptStr = Annotated[str | None, BeforeValidator(_blank_to_none)]
LooseInt = Annotated[int | None, BeforeValidator(loose_int)]
LooseFloat = Annotated[float | None, BeforeValidator(loose_float)]

# Every wire model: fields by name or alias, unknown keys ignored, immutable.
LENIENT = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)
