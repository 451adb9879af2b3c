"""Lenient parsing of Wiro's wire data and the outcome/stage/price rules."""

from __future__ import annotations

import json

import pytest

from bot.wiro.debug_text import human_excerpt, progress_in
from bot.wiro.errors import (
    DownloadRefused,
    WiroAuthError,
    WiroConcurrencyLimit,
    WiroInsufficientBalance,
    WiroNotFound,
    WiroPermissionError,
    WiroRateLimited,
    WiroServerError,
    WiroTransportError,
    WiroValidationError,
)
from bot.wiro.lenient import loose_bool
from bot.wiro.models import RunAccepted, TaskDetail, parse_errors
from bot.wiro.rest import error_for
from bot.wiro.schema import ToolInfo

VIDEO = {
    "name": "0.mp4",
    "contenttype": "video/mp4",
    "size": "202472",
    "url": "https://cdn1.wiro.ai/a/0.mp4",
}


def detail(**task) -> TaskDetail:
    found = TaskDetail.from_body({"result": True, "tasklist": [task]})
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("raw", "field", "expected"),
    [
        ({"id": "534574"}, "task_id", "534574"),
        ({"id": 534574}, "task_id", "534574"),
        ({"taskid": "9"}, "task_id", "9"),
        ({"totalcost": "0.003510000000"}, "total_cost_usd", 0.00351),
        ({"totalcost": 0.5}, "total_cost_usd", 0.5),
        ({"totalcost": ""}, "total_cost_usd", None),
        ({"totalcost": None}, "total_cost_usd", None),
        ({"elapsedseconds": "6.0000"}, "elapsed_seconds", 6.0),
        ({"starttime": "1734513809"}, "start_time", 1734513809),
        ({"starttime": 1734513809}, "start_time", 1734513809),
        ({"endtime": "0"}, "end_time", None),
        ({}, "create_time", None),
        ({"pexit": ""}, "pexit", None),
        ({"pexit": 0}, "pexit", "0"),
        ({"pexit": "1"}, "pexit", "1"),
        ({}, "status", ""),
        ({"debugerror": None}, "debug_error", None),
        ({"outputs": None}, "outputs", []),
        ({"outputs": json.dumps([VIDEO])}, "outputs", None),  # checked below
    ],
)
def test_detail_lenient_fields(raw, field, expected):
    parsed = detail(**raw)
    if expected is None and field == "outputs":
        assert parsed.outputs[0].size == 202472
        return
    assert getattr(parsed, field) == expected


def test_output_or_outputs_and_numeric_size():
    a = detail(status="task_postprocess_end", pexit="0", outputs=[VIDEO])
    b = detail(status="task_postprocess_end", pexit="0", output=[dict(VIDEO, size=202472)])
    assert a.outputs == b.outputs
    assert a.outputs[0].content_type == "video/mp4" and a.outputs[0].size == 202472


def test_detail_empty_or_missing_tasklist_is_none():
    assert TaskDetail.from_body({"result": True, "tasklist": []}) is None
    assert TaskDetail.from_body({"result": True}) is None
    assert TaskDetail.from_body(["nope"]) is None


def test_token_never_in_repr():
    parsed = detail(id="1", socketaccesstoken="SECRETTOKEN123", status="task_queue")
    assert parsed.task_token == "SECRETTOKEN123"
    assert "SECRETTOKEN123" not in repr(parsed) and "SECRETTOKEN123" not in str(parsed)
    accepted = RunAccepted.from_body({"taskid": 5, "socketaccesstoken": "SECRETTOKEN123"})
    assert accepted is not None and accepted.task_id == "5"
    assert "SECRETTOKEN123" not in repr(accepted)


@pytest.mark.parametrize(
    "body",
    [
        {"result": True, "errors": [], "taskid": "2221", "socketaccesstoken": "tok"},
        {"result": "true", "taskid": 2221, "socketaccesstoken": "tok"},
        {"result": True, "id": "2221", "tasktoken": "tok"},
        {"result": True, "data": {"taskid": "2221", "socketaccesstoken": "tok"}},
    ],
)
def test_run_accepted_shapes(body):
    accepted = RunAccepted.from_body(body)
    assert accepted is not None and (accepted.task_id, accepted.task_token) == ("2221", "tok")


def test_run_accepted_without_token_is_none():
    assert RunAccepted.from_body({"result": True, "taskid": "1"}) is None


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        ([{"code": 96, "message": "limit"}], [(96, "limit")]),
        ([{"code": "97", "message": "Insufficient balance"}], [(97, "Insufficient balance")]),
        (["plain text error"], [(None, "plain text error")]),
        ("one string", [(None, "one string")]),
        ([{"message": "no code"}], [(None, "no code")]),
        (None, []),
        ([], []),
    ],
)
def test_parse_errors(errors, expected):
    items = parse_errors({"result": False, "errors": errors})
    assert [(i.code, i.message) for i in items] == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("true", True),
        ("1", True),
        (1, True),
        ("false", False),
        ("0", False),
        (None, False),
        ("", False),
    ],
)
def test_loose_bool(value, expected):
    assert loose_bool(value) is expected


# ---------------------------------------------------------------- outcome and stage


@pytest.mark.parametrize(
    ("task", "kind", "reason"),
    [
        ({"status": "task_cancel"}, "cancelled", "the task was cancelled"),
        ({"status": "task_postprocess_end", "pexit": "0", "outputs": [VIDEO]}, "succeeded", None),
        (
            {
                "status": "task_postprocess_end",
                "pexit": "0",
                "outputs": [dict(VIDEO, contenttype="")],
            },
            "succeeded",
            None,
        ),
        (
            {"status": "task_postprocess_end", "pexit": "0", "outputs": []},
            "failed",
            "the model returned no video",
        ),
        (
            {
                "status": "task_postprocess_end",
                "pexit": "0",
                "outputs": [dict(VIDEO, contenttype="image/png", name="0.png")],
            },
            "failed",
            "the model returned no video",
        ),
        (
            {"status": "task_postprocess_end", "pexit": "1", "outputs": [VIDEO]},
            "failed",
            "Wiro reported an upstream error",
        ),
        (
            {"status": "task_postprocess_end", "pexit": "", "outputs": [VIDEO]},
            "failed",
            "Wiro reported an upstream error",
        ),
        (
            {
                "status": "task_postprocess_end",
                "pexit": "1",
                "debugerror": "Output folder creation failed",
            },
            "failed",
            "Wiro reported an upstream error: Output folder creation failed",
        ),
        # MiniMax's own codes, wherever they surface, become plain words.
        (
            {
                "status": "task_postprocess_end",
                "pexit": "1",
                "debugoutput": 'MiniMax error {"status_code": 1026, "status_msg": "x"}',
            },
            "failed",
            "Hailuo refused this prompt (or its image) as sensitive content.",
        ),
        (
            {"status": "task_postprocess_end", "pexit": "1", "debugerror": "error code 1027"},
            "failed",
            "Hailuo flagged the finished video as sensitive content, so it was not delivered.",
        ),
        (
            {"status": "task_postprocess_end", "pexit": "1", "debugerror": "status_code=1008"},
            "failed",
            "Hailuo's provider is out of balance at Wiro. Try again later.",
        ),
        (
            {"status": "task_postprocess_end", "pexit": "1", "debugerror": "err 1002 rate limit"},
            "failed",
            "Hailuo is rate-limiting Wiro right now. Try again in a few minutes.",
        ),
        # A number that is not next to "code"/"error" is not read as MiniMax's code.
        (
            {"status": "task_postprocess_end", "pexit": "1", "debugerror": "rendered 1026 frames"},
            "failed",
            "Wiro reported an upstream error: rendered 1026 frames",
        ),
        # Moderation wording in debugoutput, even with pexit "0" and no video.
        (
            {
                "status": "task_postprocess_end",
                "pexit": "0",
                "outputs": [],
                "debugoutput": "step 1\nRejected by content moderation",
            },
            "failed",
            "Hailuo refused this prompt (or its image) as sensitive content.",
        ),
        # Nothing better known: the last non-empty line of debugoutput.
        (
            {
                "status": "task_postprocess_end",
                "pexit": "1",
                "debugoutput": "Processing: [==--] 40.0%\nUpstream timed out after 600 s\n\n",
            },
            "failed",
            "Wiro reported an upstream error: Upstream timed out after 600 s",
        ),
    ],
)
def test_outcome_rules(task, kind, reason):
    outcome = detail(**task).outcome()
    assert outcome is not None and outcome.kind == kind and outcome.reason == reason
    assert (outcome.video is not None) == (kind == "succeeded")


@pytest.mark.parametrize(
    ("status", "stage"),
    [
        ("task_queue", "queued"),
        ("task_accept", "starting"),
        ("task_preprocess_start", "starting"),
        ("task_preprocess_end", "starting"),
        ("task_assign", "starting"),
        ("task_start", "generating"),
        ("task_output", "generating"),
        ("task_output_full", "generating"),
        ("task_error_full", "generating"),
        ("task_end", "finishing"),
        ("task_postprocess_start", "finishing"),
        ("task_postprocess_end", None),
        ("task_cancel", None),
        ("task_error", None),
        ("something_new", None),
    ],
)
def test_stage_mapping(status, stage):
    parsed = detail(status=status)
    assert parsed.stage == stage
    if stage is not None:
        assert parsed.outcome() is None


def test_task_error_in_detail_is_interim_not_an_outcome():
    parsed = detail(status="task_error", debugerror="Output folder creation failed")
    assert parsed.outcome() is None and not parsed.is_terminal and parsed.retrying


def test_pexit_zero_without_video_keeps_its_cost():
    outcome = detail(
        status="task_postprocess_end", pexit="0", outputs=[], totalcost="0.28"
    ).outcome()
    assert outcome is not None and outcome.kind == "failed"
    assert outcome.total_cost_usd == 0.28 and outcome.billed
    failed = detail(status="task_postprocess_end", pexit="1", totalcost="0").outcome()
    assert failed is not None and not failed.billed


@pytest.mark.parametrize(
    ("debugoutput", "expected"),
    [
        ("Processing: [====---] 44.0%", 44),
        ("Processing: 10%\nProcessing: [=======] 70.5%\n", 70),
        ("no numbers here", None),
        ("", None),
    ],
)
def test_progress_from_debugoutput(debugoutput, expected):
    assert detail(status="task_start", debugoutput=debugoutput).progress == expected


@pytest.mark.parametrize(
    ("parameters", "echoed"),
    [
        ({"prompt": "x", "inputImageFirst": "https://api.wiro.ai/v1/File/t/a.png"}, True),
        ({"prompt": "x", "inputImageFirstUrl": "https://example.com/a.png"}, True),
        ({"prompt": "x", "inputImageFirst": "", "inputImageFirstUrl": ""}, False),
        ({"prompt": "x", "inputImageFirst": "[]"}, False),
        ({"prompt": "x"}, False),
        (None, None),
        (json.dumps({"inputImageFirst": "https://x/a.png"}), True),
    ],
)
def test_image_echo(parameters, echoed):
    assert detail(status="task_queue", parameters=parameters).echoes("inputImageFirst") is echoed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Output folder creation failed", "Output folder creation failed"),
        ("\x1b[31mContent moderation: prompt refused\x1b[0m", "Content moderation: prompt refused"),
        ('Traceback (most recent call last):\n  File "run.py", line 3', None),
        ("KeyError: {'x': 1}", None),
        ("see https://cdn1.wiro.ai/abc for details", "see [link] for details"),
        ("token eDcCm5yyUfIvMFspTwww49OUfgXkQt leaked", "token […] leaked"),
        ("", None),
        ("a\nb\nc\nd\ne", None),
        ("x" * 500, None),
        ("word " * 100, None),
    ],
)
def test_human_excerpt(text, expected):
    result = human_excerpt(text)
    if expected is None and text.startswith("word"):
        assert result is not None and len(result) <= 200 and result.endswith("…")
        return
    assert result == expected


# ---------------------------------------------------------------- Tool/Detail and prices


def tool_body(parameters, dynamicprice) -> dict:
    return {"result": True, "tool": [{"parameters": parameters, "dynamicprice": dynamicprice}]}


def test_tool_info_reads_file_field_and_options():
    params = [
        {
            "items": [
                {"id": "prompt", "type": "textarea"},
                {"id": "inputImageFirst", "type": "fileinput"},
                {"id": "resolution", "type": "select", "options": [{"value": "768P"}]},
                {"id": "duration", "type": "select", "options": [{"value": 6}, {"value": "10"}]},
            ]
        }
    ]
    info = ToolInfo.from_body(tool_body(params, None))
    assert (info.image_field_id, info.image_field_type) == ("inputImageFirst", "fileinput")
    assert info.resolutions == ("768P",) and info.durations == ("6", "10")
    assert info.prices == [] and info.price_for("768P", 6) is None


def test_tool_info_null_parameters_falls_back():
    info = ToolInfo.from_body(tool_body(None, "[]"))
    fallback = ToolInfo.fallback()
    assert (info.image_field_id, info.image_field_type) == ("inputImage", "combinefileinput")
    assert info.resolutions == fallback.resolutions == ("768P", "1080P")
    assert fallback.durations == ("6", "10") and fallback.prices == []
    # `"parameters": null` names no file field: the image field is a guess, flagged as such.
    assert info.from_fallback


@pytest.mark.parametrize(
    "parameters",
    [
        None,
        [],
        [{"title": "Input", "items": [{"id": "prompt", "type": "textarea"}]}],
    ],
)
def test_tool_info_without_a_file_field_is_a_fallback(parameters):
    assert ToolInfo.from_body(tool_body(parameters, None)).from_fallback
    with_file = [{"items": [{"id": "inputImageFirst", "type": "fileinput"}]}]
    assert not ToolInfo.from_body(tool_body(with_file, None)).from_fallback


@pytest.mark.parametrize(
    ("prices", "resolution", "duration", "expected"),
    [
        (
            [
                {
                    "inputs": {"resolution": "768P", "duration": "6"},
                    "price": 0.28,
                    "priceMethod": "cpr",
                }
            ],
            "768P",
            6,
            0.28,
        ),
        (
            [
                {
                    "inputs": {"resolution": "768P", "duration": "6"},
                    "price": 0.28,
                    "priceMethod": "cpr",
                }
            ],
            "768P",
            10,
            None,
        ),
        ([{"inputs": {}, "price": 0.3, "priceMethod": "cpr"}], "1080P", 6, 0.3),
        (
            [
                {"inputs": {}, "price": 0.3, "priceMethod": "cpr"},
                {"inputs": {"resolution": "1080P"}, "price": 0.5, "priceMethod": "cpr"},
            ],
            "1080P",
            6,
            0.5,
        ),
        (
            [
                {
                    "inputs": {"resolution": "768P"},
                    "price": "0.05",
                    "priceMethod": "cp-outputVideoLength",
                }
            ],
            "768P",
            10,
            0.5,
        ),
        ([{"inputs": {"duration": 6}, "price": 0.28}], "768P", 6, 0.28),
        ([{"inputs": {}, "price": 0.001, "priceMethod": "cps"}], "768P", 6, None),
        ([{"inputs": {}, "price": "n/a"}], "768P", 6, None),
    ],
)
def test_price_for(prices, resolution, duration, expected):
    for encoded in (json.dumps(prices), prices):  # a JSON string on the wire, or a real array
        info = ToolInfo.from_body(tool_body(None, encoded))
        assert info.price_for(resolution, duration) == expected


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("code", "message", "status", "cls"),
    [
        (96, "You have reached your concurrent task limit.", 200, WiroConcurrencyLimit),
        (97, "Insufficient balance", 200, WiroInsufficientBalance),
        (1, "There is no task yet.", 200, WiroNotFound),
        (None, "Error parsing url.", 404, WiroNotFound),
        (0, "Request parameter [prompt] required", 200, WiroValidationError),
        (0, "Request parameters are invalid.", 200, WiroValidationError),
        (0, "anything", 422, WiroValidationError),
        (0, "Project authorization is not valid.", 401, WiroAuthError),
        (0, "Project authorization is not founded.", 200, WiroAuthError),
        (0, "nope", 403, WiroAuthError),
        (99, "bearer token expired", 200, WiroAuthError),
        (None, "slow down", 429, WiroRateLimited),
        (0, "Something broke", 200, WiroServerError),
        (0, "Something broke", 502, WiroServerError),
        (0, "You don't have any permission for this action.", 200, WiroPermissionError),
    ],
)
def test_error_mapping(code, message, status, cls):
    items = parse_errors({"errors": [{"code": code, "message": message}]})
    error = error_for(items, status)
    assert type(error) is cls
    assert (error.code, error.message, error.status) == (code, message, status)


def test_error_strings():
    assert str(WiroNotFound("There is no task yet.", code=1, status=200)) == (
        "There is no task yet. (code 1, HTTP 200)"
    )
    refused = DownloadRefused("host evil.com is not an allowed output host")
    assert refused.reason.startswith("host evil.com") and "refused" in str(refused)
    assert WiroTransportError("x").maybe_submitted is False
    assert WiroRateLimited("x", retry_after=2.5).retry_after == 2.5


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"type": "progressGenerate", "percentage": "60"}, 60),
        (json.dumps({"type": "progressGenerate", "percentage": "60.5"}), 60),
        ({"percentage": 150}, 100),
        ({"percentage": "n/a"}, None),
        ("plain log line", None),
        ("{broken json", None),
        (None, None),
        ("Generating: 45%", 45),
        ("step 3/10 (30 %) then 35.5%", 35),
        ("60", None),  # a bare number is not a percentage: never invent one
    ],
)
def test_progress_parsing(message, expected):
    assert progress_in(message) == expected
