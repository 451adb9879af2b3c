"""Validators shared by every message-producing route, and by command sync."""

from __future__ import annotations

import unicodedata
from typing import Any

from .errors import DiscordError, form_error

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_FILES = 10
MAX_ROWS = 5
MAX_ROW_ITEMS = 5
MAX_CUSTOM_ID = 100
FLAG_COMPONENTS_V2 = 1 << 15
SELECT_TYPES = {3, 5, 6, 7, 8}
EMBED_LIMITS = {"title": 256, "description": 4096}


def _too_long(path: str, limit: int) -> DiscordError:
    return form_error(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def check_content(payload: dict[str, Any]) -> None:
    """Reject content over 2000 characters."""
    content = payload.get("content")
    if content is not None and len(str(content)) > MAX_CONTENT:
        raise _too_long("content", MAX_CONTENT)


def _text(value: Any) -> str:
    """A limited embed text as Discord counts it: leading and trailing whitespace is trimmed
    before the limits apply ("Embed Limits", resources/message)."""
    return str(value or "").strip()


def check_embeds(embeds: list[dict[str, Any]] | None) -> None:
    """Apply Discord's embed limits (count, per field, 6000 characters in total, all trimmed)."""
    if not embeds:
        return
    if len(embeds) > MAX_EMBEDS:
        raise _too_long("embeds", MAX_EMBEDS)
    total = 0
    for i, embed in enumerate(embeds):
        for key, limit in EMBED_LIMITS.items():
            value = _text(embed.get(key))
            if len(value) > limit:
                raise _too_long(f"embeds.{i}.{key}", limit)
            total += len(value)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise _too_long(f"embeds.{i}.fields", 25)
        for j, fld in enumerate(fields):
            name, value = _text(fld.get("name")), _text(fld.get("value"))
            if not name or not value:
                raise form_error(
                    f"embeds.{i}.fields.{j}", "BASE_TYPE_REQUIRED", "This field is required"
                )
            if len(name) > 256:
                raise _too_long(f"embeds.{i}.fields.{j}.name", 256)
            if len(value) > 1024:
                raise _too_long(f"embeds.{i}.fields.{j}.value", 1024)
            total += len(name) + len(value)
        footer = _text((embed.get("footer") or {}).get("text"))
        if len(footer) > 2048:
            raise _too_long(f"embeds.{i}.footer.text", 2048)
        author = _text((embed.get("author") or {}).get("name"))
        if len(author) > 256:
            raise _too_long(f"embeds.{i}.author.name", 256)
        total += len(footer) + len(author)
    if total > MAX_EMBED_TOTAL:
        raise form_error(
            "embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )


# The words a member reads on a component ("Component Reference", interactions): a button's
# label, a select's placeholder, its options' labels, values and descriptions.
BUTTON_LABEL = 80
SELECT_PLACEHOLDER = 150
OPTION_TEXT = 100


def check_component_words(item: dict[str, Any], path: str) -> None:
    """Reject a button label over 80 characters, a select placeholder over 150, and a select
    option whose label, value or description is over 100 (or whose label or value is empty)."""
    kind = item.get("type")
    if kind == 2 and len(item.get("label") or "") > BUTTON_LABEL:
        raise _too_long(f"{path}.label", BUTTON_LABEL)
    if kind not in SELECT_TYPES:
        return
    if len(item.get("placeholder") or "") > SELECT_PLACEHOLDER:
        raise _too_long(f"{path}.placeholder", SELECT_PLACEHOLDER)
    for j, option in enumerate(item.get("options") or []):
        for key in ("label", "value", "description"):
            text = str(option.get(key) or "")
            if len(text) > OPTION_TEXT or (key != "description" and not text):
                raise form_error(
                    f"{path}.options.{j}.{key}",
                    "BASE_TYPE_BAD_LENGTH",
                    f"Must be between 1 and {OPTION_TEXT} in length.",
                )


def check_components(components: list[dict[str, Any]] | None, flags: int = 0) -> None:
    """Apply the legacy component limits: 5 rows of 5 buttons, custom_id 1-100, unique; and
    the length of every label, placeholder and option (`check_component_words`)."""
    if not components:
        return
    seen: set[str] = set()

    def check_id(path: str, item: dict[str, Any]) -> None:
        if item.get("type") == 2 and item.get("style") in (5, 6):
            return  # link and premium buttons carry url / sku_id instead
        cid = item.get("custom_id")
        if not isinstance(cid, str) or not cid:
            raise form_error(f"{path}.custom_id", "BASE_TYPE_REQUIRED", "This field is required")
        if len(cid) > MAX_CUSTOM_ID:
            raise _too_long(f"{path}.custom_id", MAX_CUSTOM_ID)
        if cid in seen:
            raise form_error(
                f"{path}.custom_id",
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                "Component custom id cannot be duplicated",
            )
        seen.add(cid)

    if flags & FLAG_COMPONENTS_V2:
        # Components V2 layouts are not modelled; still enforce custom_id rules everywhere.
        def walk(items: list[dict[str, Any]], path: str) -> None:
            for k, item in enumerate(items):
                if item.get("type") in {2, *SELECT_TYPES}:
                    check_id(f"{path}.{k}", item)
                    check_component_words(item, f"{path}.{k}")
                walk(item.get("components") or [], f"{path}.{k}.components")

        walk(components, "components")
        return
    if len(components) > MAX_ROWS:
        raise _too_long("components", MAX_ROWS)
    for i, row in enumerate(components):
        if row.get("type") != 1:
            raise form_error(
                f"components.{i}.type",
                "UNION_TYPE_CHOICES",
                'Value of field "type" must be one of (1,).',
            )
        items = row.get("components") or []
        if not items:
            raise form_error(
                f"components.{i}.components", "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length."
            )
        if len(items) > MAX_ROW_ITEMS:
            raise _too_long(f"components.{i}.components", MAX_ROW_ITEMS)
        for k, item in enumerate(items):
            path = f"components.{i}.components.{k}"
            if item.get("type") in SELECT_TYPES and len(items) > 1:
                raise form_error(
                    path,
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "The specified component exceeds the maximum width",
                )
            if item.get("type") == 2 and item.get("style") == 5 and not item.get("url"):
                raise form_error(f"{path}.url", "BASE_TYPE_REQUIRED", "This field is required")
            check_id(path, item)
            check_component_words(item, path)


def check_files(
    payload: dict[str, Any],
    files: list[dict[str, Any]],
    limit: int,
    *,
    existing_ids: set[str] = frozenset(),  # type: ignore[assignment]
) -> None:
    """Check file count, per-file size and that `files[n]` matches `attachments[].id`."""
    if len(files) > MAX_FILES:
        raise _too_long("files", MAX_FILES)
    for f in files:
        if f["size"] > limit:
            raise DiscordError(40005)
    attachments = payload.get("attachments")
    if attachments is None:
        return
    if len(attachments) > MAX_FILES:
        raise _too_long("attachments", MAX_FILES)
    by_index = {f["index"]: f for f in files if f["index"] is not None}
    for j, att in enumerate(attachments):
        att_id = str(att.get("id"))
        if att_id in existing_ids:
            continue
        if not att_id.isdigit() or int(att_id) not in by_index:
            raise form_error(f"attachments.{j}.id", "ATTACHMENT_NOT_FOUND", "Unknown attachment")
    declared = {str(a.get("id")) for a in attachments}
    for index in by_index:
        if str(index) not in declared:
            raise form_error(
                f"files[{index}]", "ATTACHMENT_NOT_FOUND", "File has no matching attachments[].id"
            )


def check_message(
    payload: dict[str, Any], files: list[dict[str, Any]], limit: int, **kw: Any
) -> None:
    """Run every message validator on a create or edit body."""
    if not isinstance(payload, dict):
        raise form_error("_", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    check_content(payload)
    check_embeds(payload.get("embeds"))
    check_components(payload.get("components"), int(payload.get("flags") or 0))
    check_files(payload, files, limit, **kw)
    nonce = payload.get("nonce")
    if isinstance(nonce, str) and len(nonce) > 25:
        raise _too_long("nonce", 25)


def is_empty_message(payload: dict[str, Any], files: list[dict[str, Any]]) -> bool:
    """Return whether a create body has nothing to show (Discord's 50006)."""
    return not (
        payload.get("content")
        or payload.get("embeds")
        or payload.get("components")
        or files
        or payload.get("sticker_ids")
        or payload.get("poll")
    )


# ----- application commands -----
# Code points of the Devanagari and Thai scripts (Unicode Scripts.txt, sc=Deva and sc=Thai;
# the dandas U+0964/5 and the baht sign are Common, so they are not in).
_SCRIPT_RANGES = (
    (0x0900, 0x0950),
    (0x0955, 0x0963),
    (0x0966, 0x097F),
    (0xA8E0, 0xA8FF),
    (0x11B00, 0x11B09),
    (0x0E01, 0x0E3A),
    (0x0E40, 0x0E5B),
)


def _name_char(ch: str) -> bool:
    """One character of `^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$`."""
    if ch in "-_'" or unicodedata.category(ch)[0] in "LN":
        return True
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _SCRIPT_RANGES)


def _valid_name(name: Any, *, chat_input: bool) -> bool:
    """Check a command or option name the way Discord does ("Application Command Naming",
    interactions/application-commands): CHAT_INPUT names and option names match
    `^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$` (unicode), using the lowercase
    variant of any letter that has one; USER and MESSAGE command names are 1-32 characters of
    anything, spaces and capitals included."""
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        return False
    if chat_input:
        if not all(_name_char(ch) for ch in name):
            return False
        if any(ch.lower() != ch and len(ch.lower()) == 1 for ch in name):
            return False
    return True


# Discord's locales ("Locales", reference): the keys a localization dictionary may use.
LOCALES = frozenset({
    "id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu", "nl",
    "no", "pl", "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru", "uk", "hi",
    "th", "zh-CN", "ja", "zh-TW", "ko",
})  # fmt: skip


def _check_localizations(item: dict[str, Any], path: str, *, chat_input: bool) -> None:
    """Check `name_localizations` and `description_localizations` like the defaults: a known
    locale, a valid name, a description of 1-100 characters."""
    for key in ("name_localizations", "description_localizations"):
        table = item.get(key) or {}
        if not isinstance(table, dict):
            raise form_error(f"{path}.{key}", "DICT_TYPE_CONVERT", "Only dictionaries may be used")
        for locale, text in table.items():
            where = f"{path}.{key}.{locale}"
            if locale not in LOCALES:
                raise form_error(where, "INVALID_LOCALE", "Invalid locale")
            if key == "name_localizations":
                if not _valid_name(text, chat_input=chat_input):
                    raise form_error(
                        where, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
                    )
            elif not isinstance(text, str) or not 1 <= len(text) <= 100:
                raise form_error(
                    where, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                )


def _localized_names(options: list[dict[str, Any]], path: str) -> None:
    """Option names must stay distinct in every language (each locale's name, else the default)."""
    locales = {loc for opt in options for loc in (opt.get("name_localizations") or {})}
    for locale in locales:
        seen: set[str] = set()
        for i, opt in enumerate(options):
            name = (opt.get("name_localizations") or {}).get(locale, opt.get("name"))
            if name in seen:
                raise form_error(
                    f"{path}.{i}.name_localizations.{locale}",
                    "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                    "Option names must be unique",
                )
            seen.add(name)


def _check_options(options: list[dict[str, Any]], path: str, depth: int, parent: int = 0) -> None:
    if len(options) > 25:
        raise _too_long(path, 25)
    _localized_names(options, path)
    names: set[str] = set()
    seen_optional = False
    for i, opt in enumerate(options):
        p = f"{path}.{i}"
        name = opt.get("name")
        if not _valid_name(name, chat_input=True):
            raise form_error(
                f"{p}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        if name in names:
            raise form_error(
                f"{p}.name",
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            )
        names.add(name)
        desc = opt.get("description")
        if not isinstance(desc, str) or not 1 <= len(desc) <= 100:
            raise form_error(
                f"{p}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        _check_localizations(opt, p, chat_input=True)
        otype = opt.get("type")
        if otype in (1, 2):
            if parent == 1 or (otype == 2 and depth != 1) or depth > 2:
                raise form_error(
                    f"{p}.type",
                    "APPLICATION_COMMAND_SUBCOMMAND_INVALID_DEPTH",
                    "Sub-command nesting is too deep",
                )
            sub = opt.get("options") or []
            if otype == 2 and any(s.get("type") != 1 for s in sub):
                raise form_error(
                    f"{p}.options",
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Groups may only contain sub-commands",
                )
            _check_options(sub, f"{p}.options", depth + 1, otype)
            continue
        if not isinstance(otype, int) or not 3 <= otype <= 11:
            raise form_error(f"{p}.type", "BASE_TYPE_CHOICES", "Value must be one of (1..11).")
        if opt.get("required"):
            if seen_optional:
                raise form_error(
                    f"{p}.required",
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = opt.get("choices") or []
        if len(choices) > 25:
            raise _too_long(f"{p}.choices", 25)
        if choices and opt.get("autocomplete"):
            raise form_error(
                f"{p}.autocomplete",
                "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID",
                "Autocomplete cannot be set with choices",
            )
        for k, choice in enumerate(choices):
            localized = list((choice.get("name_localizations") or {}).values())
            for text in [choice.get("name", ""), *localized]:
                if not 1 <= len(str(text)) <= 100:
                    raise form_error(
                        f"{p}.choices.{k}.name",
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 100 in length.",
                    )
    kinds = {o.get("type") in (1, 2) for o in options}
    if len(kinds) > 1:
        raise form_error(
            path,
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-commands cannot be mixed with other options",
        )


MAX_COMMAND_SIZE = 8000


def _longest(item: dict[str, Any], key: str) -> int:
    """A field's length as Discord counts it toward the size: its longest localization."""
    texts = [str(item.get(key) or ""), *(item.get(f"{key}_localizations") or {}).values()]
    return max(len(t) for t in texts)


def command_size(item: dict[str, Any]) -> int:
    """Names, descriptions and choice names and values of a command, its options and
    subcommands, each counted at its longest localization ("Application Command Size")."""
    size = _longest(item, "name") + _longest(item, "description")
    for choice in item.get("choices") or []:
        size += _longest(choice, "name") + len(str(choice.get("value", "")))
    return size + sum(command_size(option) for option in item.get("options") or [])


def check_commands(commands: Any) -> None:
    """Validate a bulk-overwrite body the way Discord does (names, descriptions, options).

    A `null` body is accepted as an empty list: it removes every command."""
    if commands is None:
        return
    if not isinstance(commands, list):
        raise form_error("_", "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
    chat_input = 0
    seen: set[tuple[int, str]] = set()
    for i, cmd in enumerate(commands):
        ctype = cmd.get("type", 1)
        name = cmd.get("name")
        if not _valid_name(name, chat_input=ctype == 1):
            raise form_error(
                f"{i}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        if (ctype, name) in seen:
            raise form_error(
                f"{i}.name",
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique: {name}",
            )
        seen.add((ctype, name))
        _check_localizations(cmd, str(i), chat_input=ctype == 1)
        if command_size(cmd) > MAX_COMMAND_SIZE:
            raise form_error(
                str(i), "APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (8000)"
            )
        desc = cmd.get("description", "")
        if ctype == 1:
            chat_input += 1
            if not isinstance(desc, str) or not 1 <= len(desc) <= 100:
                raise form_error(
                    f"{i}.description",
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            _check_options(cmd.get("options") or [], f"{i}.options", 1)
        elif desc:
            raise form_error(
                f"{i}.description",
                "APPLICATION_COMMAND_INVALID_DESCRIPTION",
                "Context menu commands cannot have a description",
            )
    if chat_input > 100:
        raise form_error(
            "_",
            "APPLICATION_COMMANDS_LIMIT",
            "Maximum number of application commands reached (100)",
        )
