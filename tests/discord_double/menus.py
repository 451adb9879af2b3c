"""Message context menus and modals: the payloads Discord sends and the checks it applies.

- A message command (Apps → <name> on a message) is an APPLICATION_COMMAND interaction (type 2)
  whose `data` has `type` 3, `target_id` and the target in `resolved.messages`.
- A modal (interaction response type 9) is checked like Discord does: 1–5 top-level components,
  each an action row holding one text input or a label (type 18) holding one text input or
  select; a title of 1–45 characters, custom ids 1–100, labels 1–45, placeholders up to 100
  (a select's up to 150), options 1–100, text inputs' lengths within 0–4000.
- A modal submit is a MODAL_SUBMIT interaction (type 5): `data.custom_id` is the modal's, and
  `data.components` mirrors the modal's layout with the values the member entered (`value` for a
  text input, `values` for a select). A required field left empty cannot be submitted.

References: discord.com/developers/docs/interactions/receiving-and-responding (interaction
object, message command data, modal submit data) and .../components/reference (label, text
input, string select).
"""

from __future__ import annotations

from typing import Any

from .errors import form_error
from .validate import check_component_words
from .world import Message, World

TEXT_INPUT, STRING_SELECT, ACTION_ROW, LABEL, TEXT_DISPLAY = 4, 3, 1, 18, 10
SELECTS = frozenset({3, 5, 6, 7, 8})


def message_command_data(
    world: World, command_payload: dict[str, Any], target: Message
) -> dict[str, Any]:
    """`data` of a message context menu invocation on `target`."""
    data: dict[str, Any] = {
        "id": command_payload["id"],
        "name": command_payload["name"],
        "type": 3,
        "target_id": str(target.id),
        "resolved": {"messages": {str(target.id): target.payload(world)}},
    }
    if command_payload.get("guild_id"):
        data["guild_id"] = command_payload["guild_id"]
    return data


def _bad(path: str, message: str) -> Exception:
    return form_error(path, "BASE_TYPE_BAD_LENGTH", message)


def _check_text_input(item: dict[str, Any], path: str) -> None:
    custom_id = item.get("custom_id") or ""
    if not 1 <= len(custom_id) <= 100:
        raise _bad(f"{path}.custom_id", "Must be between 1 and 100 in length.")
    if item.get("style") not in (1, 2):
        raise form_error(f"{path}.style", "BASE_TYPE_CHOICES", "Value must be one of (1, 2).")
    low, high = int(item.get("min_length", 0) or 0), int(item.get("max_length", 4000) or 4000)
    if not 0 <= low <= high <= 4000:
        raise _bad(f"{path}.max_length", "Must be between 0 and 4000.")
    value = item.get("value")
    if value is not None and len(value) > high:
        raise _bad(f"{path}.value", f"Must be {high} or fewer in length.")
    if len(item.get("placeholder") or "") > 100:
        raise _bad(f"{path}.placeholder", "Must be 100 or fewer in length.")


def _check_select(item: dict[str, Any], path: str) -> None:
    custom_id = item.get("custom_id") or ""
    if not 1 <= len(custom_id) <= 100:
        raise _bad(f"{path}.custom_id", "Must be between 1 and 100 in length.")
    if item.get("type") == STRING_SELECT:
        options = item.get("options") or []
        if not 1 <= len(options) <= 25:
            raise _bad(f"{path}.options", "Must be between 1 and 25 in length.")
        for j, opt in enumerate(options):
            if not 1 <= len(opt.get("label") or "") <= 100:
                raise _bad(f"{path}.options.{j}.label", "Must be between 1 and 100 in length.")
        high = int(item.get("max_values", 1))
        if not 0 <= int(item.get("min_values", 1)) <= high <= len(options):
            raise _bad(f"{path}.max_values", "Must be at most the number of options.")
    check_component_words(item, path)


def check_modal(data: dict[str, Any]) -> None:
    """Validate a type 9 response the way Discord does: its title and custom id, then its
    components."""
    if not 1 <= len(data.get("title") or "") <= 45:
        raise _bad("data.title", "Must be between 1 and 45 in length.")
    if not 1 <= len(data.get("custom_id") or "") <= 100:
        raise _bad("data.custom_id", "Must be between 1 and 100 in length.")
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        raise _bad("data.components", "Must be between 1 and 5 in length.")
    for i, top in enumerate(components):
        path = f"data.components.{i}"
        kind = top.get("type")
        if kind == ACTION_ROW:
            inner = top.get("components") or []
            if len(inner) != 1 or inner[0].get("type") != TEXT_INPUT:
                raise form_error(
                    path,
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "An action row in a modal holds one text input.",
                )
            if not 1 <= len(inner[0].get("label") or "") <= 45:
                raise _bad(f"{path}.components.0.label", "Must be between 1 and 45 in length.")
            _check_text_input(inner[0], f"{path}.components.0")
        elif kind == LABEL:
            if not 1 <= len(top.get("label") or "") <= 45:
                raise _bad(f"{path}.label", "Must be between 1 and 45 in length.")
            if len(top.get("description") or "") > 100:
                raise _bad(f"{path}.description", "Must be 100 or fewer in length.")
            child = top.get("component") or {}
            if child.get("type") == TEXT_INPUT:
                _check_text_input(child, f"{path}.component")
            elif child.get("type") in SELECTS:
                _check_select(child, f"{path}.component")
            else:
                raise form_error(
                    f"{path}.component", "UNION_TYPE_CHOICES", "Invalid component type."
                )
        elif kind != TEXT_DISPLAY:
            raise form_error(
                path, "UNION_TYPE_CHOICES", f"Component type {kind} is not allowed in a modal."
            )


def modal_submit_data(modal: dict[str, Any], values: dict[str, str | list[str]]) -> dict[str, Any]:
    """`data` of a MODAL_SUBMIT for `modal` (the type 9 response) filled in with `values`.

    Text inputs not in `values` keep their pre-filled `value` (or are empty); selects not in
    `values` submit their default options. Raises ValueError for what a member cannot submit:
    an unknown field, an empty required field, a value too long, or a choice not offered."""
    known: set[str] = set()

    def field(item: dict[str, Any]) -> dict[str, Any]:
        custom_id = item["custom_id"]
        known.add(custom_id)
        if item["type"] == TEXT_INPUT:
            raw = values.get(custom_id, item.get("value") or "")
            if not isinstance(raw, str):
                raise ValueError(f"text input {custom_id!r} takes a string")
            if item.get("required", True) and not raw:
                raise ValueError(f"text input {custom_id!r} is required")
            if raw and not int(item.get("min_length", 0) or 0) <= len(raw) <= int(
                item.get("max_length", 4000) or 4000
            ):
                raise ValueError(f"text input {custom_id!r}: length {len(raw)} is not allowed")
            return {
                "type": TEXT_INPUT,
                "id": item.get("id", 0),
                "custom_id": custom_id,
                "value": raw,
            }
        offered = [o["value"] for o in item.get("options") or []]
        chosen = values.get(custom_id)
        if chosen is None:
            picked = [o["value"] for o in item.get("options") or [] if o.get("default")]
        else:
            picked = [chosen] if isinstance(chosen, str) else list(chosen)
        if item["type"] == STRING_SELECT and any(v not in offered for v in picked):
            raise ValueError(f"select {custom_id!r}: {picked} not among {offered}")
        low, high = int(item.get("min_values", 1)), int(item.get("max_values", 1))
        if item.get("required", True) is False:
            low = 0
        if not low <= len(picked) <= high:
            raise ValueError(f"select {custom_id!r}: {len(picked)} values, allowed {low}-{high}")
        return {
            "type": item["type"],
            "id": item.get("id", 0),
            "custom_id": custom_id,
            "values": picked,
        }

    components: list[dict[str, Any]] = []
    for top in modal.get("components") or []:
        if top.get("type") == ACTION_ROW:
            components.append(
                {
                    "type": ACTION_ROW,
                    "id": top.get("id", 0),
                    "components": [field(c) for c in top["components"]],
                }
            )
        elif top.get("type") == LABEL:
            components.append(
                {"type": LABEL, "id": top.get("id", 0), "component": field(top["component"])}
            )
        elif top.get("type") == TEXT_DISPLAY:
            components.append({"type": TEXT_DISPLAY, "id": top.get("id", 0)})
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"the modal has no field {sorted(unknown)}; it has {sorted(known)}")
    return {"custom_id": modal["custom_id"], "components": components}


def image_dimensions(data: bytes) -> dict[str, int]:
    """`width`/`height` of an image attachment, as Discord adds them (nothing for other files)."""
    try:
        import io

        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            return {"width": im.width, "height": im.height}
    except Exception:
        return {}
