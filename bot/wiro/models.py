"""Typed views of Wiro's task data: the envelope's errors, a Run's answer, Task/Detail, stages.

Parsed leniently (`lenient.py`): a harmless change of wire type on Wiro's side never breaks the
bot. What Tool/Detail says about a model is `schema.py`; reading Wiro's free text (progress, why
a task failed) is `debug_text.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, Field

from bot.wiro.debug_text import failure_reason, last_line, progress_in
from bot.wiro.lenient import (
    LENIENT,
    LooseFloat,
    LooseInt,
    LooseOptStr,
    LooseStr,
    list_or_empty,
    loose_int,
    loose_str,
    maybe_json,
)

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


def _time_or_none(value: Any) -> int | None:
    number = loose_int(value)
    # Wiro writes "0" for times that never happened (canceltime).
    return number if number else None


LooseTime = Annotated[int | None, BeforeValidator(_time_or_none)]


# ---------------------------------------------------------------- envelope


class ErrorItem(BaseModel):
    """One entry of Wiro's `errors` array."""

    model_config = LENIENT
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

    model_config = LENIENT
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

    model_config = LENIENT
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
    return [TaskOutput.model_validate(o) for o in list_or_empty(value) if isinstance(o, dict)]


_Outputs = Annotated[list[TaskOutput], BeforeValidator(lambda v: parse_outputs(v))]


def _params_or_none(value: Any) -> dict[str, Any] | None:
    value = maybe_json(value)
    return value if isinstance(value, dict) else None


_Params = Annotated[dict[str, Any] | None, BeforeValidator(_params_or_none)]


class TaskOutcome(BaseModel):
    """How a task ended, in words fit for a Discord user."""

    model_config = LENIENT
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

    model_config = LENIENT
    stage: TaskStage
    progress: int | None = None
    source: Literal["socket", "poll"]
    # Wiro hit a problem (`task_error`) and is retrying; cleared by the next sign of progress.
    retrying: bool = False


class TaskDetail(BaseModel):
    """One task as Task/Detail reports it."""

    model_config = LENIENT
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
        tasks = list_or_empty(body.get("tasklist"))
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
