"""Typed views of Wiro's wire data, parsed leniently.

Wiro sends nearly every scalar as a string ("taskid":"2221", "pexit":"0", "size":"202472"), some
fields as JSON-encoded strings (`dynamicprice`), and the official SDKs accept numbers, strings,
`output` for `outputs` and `id` for `taskid`. Every parser here does the same, so a harmless change
of wire type on Wiro's side never breaks the bot.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field

TaskStage = Literal["queued", "starting", "generating", "finishing"]

# Wiro status (socket frame type or Task/Detail status) -> the stage a Discord user sees.
STAGE_BY_STATUS: dict[str, TaskStage] = {
    "task_queue": "queued",
    "task_accept": "starting",
    "task_preprocess_start": "starting",
    "task_preprocess_end": "starting",
    "task_assign": "starting",
    "task_start": "generating",
    "task_output": "generating",
    "task_output_full": "generating",
    "task_error_full": "generating",
    "task_end": "finishing",
    "task_postprocess_start": "finishing",
}
STAGE_ORDER: dict[TaskStage, int] = {"queued": 0, "starting": 1, "generating": 2, "finishing": 3}

# The only statuses that close a task (docs/wiro-protocol.md "Statuses"). `task_error` is not one
# of them, on the socket or in Task/Detail: Wiro requeues the task and may still run (and bill) it.
TERMINAL_STATUSES = frozenset({"task_postprocess_end", "task_cancel"})
# Wiro hit a problem and is retrying (an interim status, docs/wiro-protocol.md "task_error").
RETRYING_STATUS = "task_error"
# Every event type the task socket sends (docs/wiro-protocol.md "Socket"); anything else is logged.
KNOWN_EVENTS = frozenset(
    {
        "task_queue",
        "task_accept",
        "task_preprocess_start",
        "task_preprocess_end",
        "task_assign",
        "task_start",
        "task_output",
        "task_error",
        "task_output_full",
        "task_error_full",
        "task_end",
        "task_postprocess_start",
        "task_postprocess_end",
        "task_cancel",
    }
)

FILE_INPUT_TYPES = ("fileinput", "multifileinput", "combinefileinput")

# Price methods charged per second of output video (GUESS: only this one is documented).
PER_SECOND_PRICE_METHODS = frozenset({"cp-outputVideoLength"})


# ---------------------------------------------------------------- lenient scalar coercion


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


def _time_or_none(value: Any) -> int | None:
    number = loose_int(value)
    # Wiro writes "0" for times that never happened (canceltime).
    return number if number else None


def _blank_to_none(value: Any) -> str | None:
    text = loose_str(value)
    return text or None


def _list_or_empty(value: Any) -> list[Any]:
    value = maybe_json(value)
    return value if isinstance(value, list) else []


LooseStr = Annotated[str, BeforeValidator(loose_str)]
LooseOptStr = Annotated[str | None, BeforeValidator(_blank_to_none)]
LooseInt = Annotated[int | None, BeforeValidator(loose_int)]
LooseFloat = Annotated[float | None, BeforeValidator(loose_float)]
LooseTime = Annotated[int | None, BeforeValidator(_time_or_none)]

_LENIENT = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


# ---------------------------------------------------------------- envelope


class ErrorItem(BaseModel):
    """One entry of Wiro's `errors` array."""

    model_config = _LENIENT
    code: LooseInt = None
    message: LooseStr = ""


def parse_errors(body: Any) -> list[ErrorItem]:
    """Return the `errors` of an envelope; entries may be dicts or bare strings."""
    raw = body.get("errors") if isinstance(body, dict) else None
    raw = maybe_json(raw)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raw = [raw]
    items = []
    for entry in raw:
        if isinstance(entry, dict):
            items.append(ErrorItem.model_validate(entry))
        elif entry is not None and loose_str(entry):
            items.append(ErrorItem(code=None, message=loose_str(entry)))
    return items


# ---------------------------------------------------------------- Run


class RunAccepted(BaseModel):
    """Wiro accepted a Run: the task id and its task token (socketaccesstoken)."""

    model_config = _LENIENT
    task_id: LooseStr = Field(validation_alias=AliasChoices("taskid", "id", "task_id"))
    task_token: LooseStr = Field(
        repr=False, validation_alias=AliasChoices("socketaccesstoken", "tasktoken", "task_token")
    )

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> RunAccepted | None:
        """Parse a Run answer; None when it names no task."""
        source = body
        # Old doc samples nest the answer under `data`; the live API answers flat.
        if not (loose_str(body.get("taskid")) or loose_str(body.get("id"))) and isinstance(
            body.get("data"), dict
        ):
            source = body["data"]
        accepted = cls.model_validate(
            {
                "taskid": source.get("taskid", source.get("id")),
                "socketaccesstoken": source.get("socketaccesstoken", source.get("tasktoken")),
            }
        )
        return accepted if accepted.task_id and accepted.task_token else None


# ---------------------------------------------------------------- Task/Detail


class TaskOutput(BaseModel):
    """One output file of a task."""

    model_config = _LENIENT
    name: LooseStr = ""
    content_type: LooseStr = Field(
        "", validation_alias=AliasChoices("contenttype", "content_type", "contentType")
    )
    size: LooseInt = None
    url: LooseStr = ""

    @property
    def is_video(self) -> bool:
        """Say whether this output is a video (by content type, else by a .mp4 name)."""
        if self.content_type:
            return self.content_type.lower().startswith("video/")
        return self.name.lower().endswith(".mp4") or self.url.lower().split("?")[0].endswith(".mp4")


def parse_outputs(value: Any) -> list[TaskOutput]:
    """Parse an outputs array (also a JSON-encoded one), skipping junk entries."""
    return [TaskOutput.model_validate(o) for o in _list_or_empty(value) if isinstance(o, dict)]


_Outputs = Annotated[list[TaskOutput], BeforeValidator(lambda v: parse_outputs(v))]


def _params_or_none(value: Any) -> dict[str, Any] | None:
    value = maybe_json(value)
    return value if isinstance(value, dict) else None


_Params = Annotated[dict[str, Any] | None, BeforeValidator(_params_or_none)]


class TaskOutcome(BaseModel):
    """How a task ended, in words fit for a Discord user."""

    model_config = _LENIENT
    kind: Literal["succeeded", "failed", "cancelled"]
    reason: str | None = None
    video: TaskOutput | None = None
    total_cost_usd: float | None = None
    elapsed_seconds: float | None = None

    @property
    def billed(self) -> bool:
        """Say whether Wiro charged for the task (a `pexit` "0" task is billed, video or not)."""
        return bool(self.total_cost_usd and self.total_cost_usd > 0)


class StageUpdate(BaseModel):
    """The task moved to another stage, its progress changed, or Wiro is retrying it."""

    model_config = _LENIENT
    stage: TaskStage
    progress: int | None = None
    source: Literal["socket", "poll"]
    # Wiro hit a problem (`task_error`) and is retrying; cleared by the next sign of progress.
    retrying: bool = False


_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")


def progress_in(value: Any) -> int | None:
    """Return a percentage from a progress object, a JSON string of one, or "NN%" text.

    Never invents one: a message without a number gives None (docs/wiro-protocol.md
    "Progress")."""
    value = maybe_json(value)
    number: float | None = None
    if isinstance(value, dict):
        number = loose_float(value.get("percentage"))
    elif isinstance(value, str):
        found = _PERCENT.findall(value)
        number = loose_float(found[-1]) if found else None
    if number is None:
        return None
    return max(0, min(100, int(number)))


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_\-]{24,}")
_URL = re.compile(r"https?://\S+")
_CODE_SMELL = re.compile(
    r"Traceback|File \"|^\s+at |line \d+|Exception|Error\(|\{|\}|\[|\]|==|<|>|\\n|/usr/|\.py\b",
    re.MULTILINE,
)


def human_excerpt(text: str | None, limit: int = 200) -> str | None:
    """Return a short plain-words line from Wiro's debug text, or None if it looks like code."""
    if not text:
        return None
    text = _ANSI.sub("", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or len(lines) > 3:
        # Several lines of stderr are a log or a stack trace, not a message for people.
        return None
    line = " ".join(lines)
    if _CODE_SMELL.search(line):
        return None
    line = _URL.sub("[link]", line)
    line = _LONG_TOKEN.sub("[…]", line)  # never echo anything that could be a token
    line = "".join(ch for ch in line if ch.isprintable())
    line = line.strip(" .:-")
    if len(line) < 3 or not re.search(r"[A-Za-z]{3}", line):
        return None
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def last_line(text: str | None) -> str | None:
    """Return the last non-empty line of a log, or None."""
    lines = [line for line in _ANSI.sub("", text or "").splitlines() if line.strip()]
    return lines[-1] if lines else None


# MiniMax's own error codes, as they surface in Wiro's debug text (docs/wiro-protocol.md
# "Why a run failed"). A code counts only next to a word like "code" or "error", so that a
# number such as "1002 frames" is not read as one.
_MINIMAX_CODE = re.compile(
    r"(?i)(?:code|status|error|err)[\"'\s:=_a-z]{0,12}?(1002|1008|1026|1027)\b"
)
MINIMAX_REASONS = {
    "1026": "Hailuo refused this prompt (or its image) as sensitive content.",
    "1027": "Hailuo flagged the finished video as sensitive content, so it was not delivered.",
    "1008": "Hailuo's provider is out of balance at Wiro. Try again later.",
    "1002": "Hailuo is rate-limiting Wiro right now. Try again in a few minutes.",
}
_MODERATION = re.compile(
    r"(?i)moderat|sensitive|content polic|nsfw|inappropriate|safety (?:check|filter)"
)
SENSITIVE_REASON = "Hailuo refused this prompt (or its image) as sensitive content."


def failure_reason(debug_error: str | None, debug_output: str | None, base: str) -> str:
    """Plain words for why a task failed, from the most specific clue Wiro gave.

    MiniMax's codes first, then moderation wording, then a short `debugerror` line, then the
    last non-empty line of `debugoutput`, else `base` alone."""
    text = "\n".join(t for t in (debug_error, debug_output) if t)
    code = _MINIMAX_CODE.search(text)
    if code:
        return MINIMAX_REASONS[code.group(1)]
    if _MODERATION.search(text):
        return SENSITIVE_REASON
    excerpt = human_excerpt(debug_error) or human_excerpt(last_line(debug_output))
    return f"{base}: {excerpt}" if excerpt else base


class TaskDetail(BaseModel):
    """One task as Task/Detail reports it."""

    model_config = _LENIENT
    task_id: LooseStr = Field("", validation_alias=AliasChoices("id", "taskid", "task_id"))
    task_token: LooseStr = Field(
        "", repr=False, validation_alias=AliasChoices("socketaccesstoken", "tasktoken")
    )
    status: LooseStr = ""
    pexit: LooseOptStr = None
    outputs: _Outputs = Field(
        default_factory=list, validation_alias=AliasChoices("outputs", "output")
    )
    parameters: _Params = None
    total_cost_usd: LooseFloat = Field(None, validation_alias=AliasChoices("totalcost"))
    elapsed_seconds: LooseFloat = Field(None, validation_alias=AliasChoices("elapsedseconds"))
    debug_error: LooseOptStr = Field(None, validation_alias=AliasChoices("debugerror"))
    debug_output: LooseOptStr = Field(None, validation_alias=AliasChoices("debugoutput"))
    create_time: LooseTime = Field(None, validation_alias=AliasChoices("createtime"))
    start_time: LooseTime = Field(None, validation_alias=AliasChoices("starttime"))
    end_time: LooseTime = Field(None, validation_alias=AliasChoices("endtime"))

    @classmethod
    def from_body(cls, body: Any) -> TaskDetail | None:
        """Parse a Task/Detail answer; None when it holds no task."""
        if not isinstance(body, dict):
            return None
        tasks = _list_or_empty(body.get("tasklist"))
        if not tasks or not isinstance(tasks[0], dict):
            return None
        return cls.model_validate(tasks[0])

    @property
    def stage(self) -> TaskStage | None:
        """Return the user-facing stage, or None when finished, retrying or unknown."""
        return STAGE_BY_STATUS.get(self.status)

    @property
    def retrying(self) -> bool:
        """Say whether Wiro hit a problem and is retrying the task (`task_error`)."""
        return self.status == RETRYING_STATUS

    @property
    def progress(self) -> int | None:
        """Return the last percentage in `debugoutput` (e.g. "[====---] 44.0%"), if any."""
        return progress_in(last_line(self.debug_output)) if self.debug_output else None

    @property
    def is_terminal(self) -> bool:
        """Say whether Task/Detail reports a final state."""
        return self.status in TERMINAL_STATUSES

    @property
    def video(self) -> TaskOutput | None:
        """Return the first video output that has a URL."""
        return next((o for o in self.outputs if o.is_video and o.url), None)

    def echoes(self, field_id: str) -> bool | None:
        """Say whether `parameters` holds a value for an image field; None if not shown."""
        if self.parameters is None:
            return None
        return any(
            loose_str(self.parameters.get(key)).strip('[]" ')
            for key in (field_id, field_id + "Url")
        )

    def outcome(self) -> TaskOutcome | None:
        """Decide how the task ended (docs/wiro-protocol.md "Outcome"), or None while it runs."""
        common = {"total_cost_usd": self.total_cost_usd, "elapsed_seconds": self.elapsed_seconds}
        if self.status == "task_cancel":
            return TaskOutcome(kind="cancelled", reason="the task was cancelled", **common)
        if self.status != "task_postprocess_end":
            return None  # task_error included: Wiro requeues it (docs/wiro-protocol.md)
        if self.pexit != "0":
            reason = failure_reason(
                self.debug_error, self.debug_output, "Wiro reported an upstream error"
            )
            return TaskOutcome(kind="failed", reason=reason, **common)
        video = self.video
        if video is None:
            # pexit "0" is billed even without outputs: the cost stays on the outcome.
            reason = failure_reason(
                self.debug_error, self.debug_output, "the model returned no video"
            )
            return TaskOutcome(kind="failed", reason=reason, **common)
        return TaskOutcome(kind="succeeded", video=video, **common)


# ---------------------------------------------------------------- Tool/Detail


class PriceEntry(BaseModel):
    """One `dynamicprice` tier: applies when all its `inputs` equal the run's parameters."""

    model_config = _LENIENT
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

    model_config = _LENIENT
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
        tools = _list_or_empty(body.get("tool")) if isinstance(body, dict) else []
        tool = tools[0] if tools and isinstance(tools[0], dict) else {}
        items: list[dict[str, Any]] = []
        for group in _list_or_empty(tool.get("parameters")):
            if isinstance(group, dict):
                items.extend(i for i in _list_or_empty(group.get("items")) if isinstance(i, dict))
        by_id = {loose_str(i.get("id")): i for i in items}
        image = next((i for i in items if loose_str(i.get("type")) in FILE_INPUT_TYPES), None)

        def options(field: str, default: tuple[str, ...]) -> tuple[str, ...]:
            item = by_id.get(field) or {}
            values = tuple(
                loose_str(o.get("value") if isinstance(o, dict) else o)
                for o in _list_or_empty(item.get("options"))
            )
            return tuple(v for v in values if v) or default

        prices = [p for p in map(PriceEntry.parse, _list_or_empty(tool.get("dynamicprice"))) if p]
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
