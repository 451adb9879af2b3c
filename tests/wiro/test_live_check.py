"""The live check's pieces: the recorder, the checks, and replaying a recorded trace.

`fixtures/live-trace.jsonl` was recorded by `doctor --live` against the simulator (URLs put
back to Wiro's hosts). An operator's real trace (the `wiro-live-*.jsonl` file `doctor --live`
writes) copied into `fixtures/` becomes a regression test by itself: replaying it must give the
outcome Wiro gave live.
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.settings import Settings
from bot.wiro.client import WiroClient
from bot.wiro.live.assumptions import check_assumptions, run_cost
from bot.wiro.live.check import TraceRecorder, cheapest_setting, live_run, load_trace
from bot.wiro.live.record import Trace
from bot.wiro.models import StageUpdate, TaskOutcome
from bot.wiro.schema import ToolInfo
from bot.wiro.simulator.server import WiroSimulator

from .conftest import MakeClient, collect, submit
from .replay import TraceReplay

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE = FIXTURES / "live-trace.jsonl"
TRACES = sorted(FIXTURES.glob("*.jsonl"))


def test_recorder_removes_secrets_tokens_and_account_ids():
    recorder = TraceRecorder(secrets=["key-0123456789", "secret-0123456789", None])
    recorder(
        {
            "kind": "rest",
            "path": "/Run/x",
            "status": 200,
            "body": {"result": True, "taskid": "9", "socketaccesstoken": "TOKEN0123456789abcdef"},
        }
    )
    recorder(
        {
            "kind": "socket_send",
            "frame": {"type": "task_info", "tasktoken": "TOKEN0123456789abcdef"},
        }
    )
    recorder(
        {
            "kind": "rest",
            "path": "/Task/Detail",
            "status": 200,
            "body": {
                "tasklist": [
                    {
                        "uuid": "u-1",
                        "debugerror": "bad key key-0123456789 and secret-0123456789",
                        "outputs": [
                            {
                                "accesskey": "ak",
                                "url": "https://cdn1.wiro.ai/TOKEN0123456789abcdef/0.mp4",
                            }
                        ],
                    }
                ]
            },
        }
    )
    text = repr(recorder.records)
    for secret in ("key-0123456789", "secret-0123456789", "TOKEN0123456789abcdef", "u-1", "'ak'"):
        assert secret not in text
    assert recorder.records[0]["body"]["socketaccesstoken"] == "<task-token-1>"
    assert recorder.records[1]["frame"]["tasktoken"] == "<task-token-1>"
    assert "t" in recorder.records[2]


def test_cheapest_setting_follows_wiro_prices():
    tool = ToolInfo.fallback()
    assert cheapest_setting(tool) == ("768P", 6, None)
    priced = tool.model_copy(
        update={
            "prices": [
                *ToolInfo.from_body(
                    {
                        "tool": [
                            {
                                "dynamicprice": [
                                    {
                                        "inputs": {"resolution": "768P", "duration": "6"},
                                        "price": 0.3,
                                    },
                                    {
                                        "inputs": {"resolution": "1080P", "duration": "6"},
                                        "price": 0.2,
                                    },
                                    {
                                        "inputs": {"resolution": "1080P", "duration": "10"},
                                        "price": 0.01,
                                    },
                                ]
                            }
                        ]
                    }
                ).prices
            ]
        }
    )
    # 1080P + 10 s is never chosen, whatever its price.
    assert cheapest_setting(priced) == ("1080P", 6, 0.2)


def test_fixture_checks_out():
    records = load_trace(FIXTURE)
    verdicts = check_assumptions(records, ("wiro.ai",))
    assert [v.number for v in verdicts] == list(range(1, 27))
    assert [v for v in verdicts if v.mark == "✗"] == []
    assert run_cost(records) == 0.28
    assert Trace(records).final is not None


def test_a_broken_record_says_not_seen_instead_of_crashing():
    verdicts = check_assumptions([{"kind": "rest", "path": "/Task/Detail", "body": 5}], ())
    assert {v.mark for v in verdicts} <= {"not seen", "✗"}
    assert len(verdicts) == 26


@pytest.mark.parametrize("path", TRACES, ids=[p.name for p in TRACES])
async def test_replaying_a_recorded_run_gives_its_outcome(path: Path):
    """Every trace in fixtures/ replays to the outcome Wiro gave live (drop an operator's in)."""
    records = load_trace(path)
    recorded = Trace(records).final
    assert recorded is not None, "the trace holds no final Task/Detail"
    expected = recorded.outcome()
    assert expected is not None
    server = TraceReplay(records)
    await server.start()
    hosts = tuple(
        sorted({urlsplit(o.url).hostname or "" for o in recorded.outputs if o.url} | {"wiro.ai"})
    )
    wiro = WiroClient(
        api_key=None,
        api_secret=None,
        api_base=server.api_base,
        socket_url=server.socket_url,
        output_hosts=hosts,
        poll_interval=30.0,
    )
    try:
        await wiro.start()
        accepted = await submit(wiro)
        events = await collect(wiro, accepted.task_id, accepted.task_token)
    finally:
        await wiro.close()
        await server.stop()
    outcome = events[-1]
    assert isinstance(outcome, TaskOutcome)
    assert (outcome.kind, outcome.reason) == (expected.kind, expected.reason)
    assert outcome.total_cost_usd == expected.total_cost_usd
    if expected.video is not None:
        assert outcome.video is not None and outcome.video.url == expected.video.url
    if Trace(records).task_frames:
        live = [e for e in events if isinstance(e, StageUpdate) and e.source == "socket"]
        assert live, "the recorded frames did not reach the follower"


def test_the_committed_trace_is_a_full_successful_run():
    records = load_trace(FIXTURE)
    trace = Trace(records)
    assert trace.final is not None and trace.final.video is not None
    assert {"task_start", "task_output", "task_postprocess_end"} <= {
        f.get("type") for f in trace.task_frames
    }
    assert ToolInfo.from_body(trace.answered("/Tool/Detail")[0]["body"]).image_field_id


async def test_live_run_declined_makes_no_run(sim: WiroSimulator, make_client: MakeClient):
    wiro = await make_client(sim)
    recorder = TraceRecorder()
    wiro.trace = recorder
    out = io.StringIO()
    outcome = await live_run(wiro, recorder, out, timeout_seconds=5, confirm=lambda q: False)
    assert outcome is None and sim.runs == []
    assert "No run made." in out.getvalue()


async def test_live_run_follows_a_task_error_and_reports_it_interim(
    sim: WiroSimulator, make_client: MakeClient
):
    from bot.wiro.simulator.tasks import TaskScript

    sim.script_next(TaskScript(task_error=0.4))
    wiro = await make_client(sim)
    recorder = TraceRecorder()
    wiro.trace = recorder
    out = io.StringIO()
    outcome = await live_run(wiro, recorder, out, timeout_seconds=10, confirm=lambda q: True)
    assert outcome is not None and outcome.kind == "succeeded"
    assert "(Wiro is retrying)" in out.getvalue()
    verdict = {v.number: v for v in check_assumptions(recorder.records, (sim.output_host,))}
    assert verdict[23].mark == "✓"


@pytest.mark.parametrize("refusal", [None, "invalid-parameters"])
async def test_live_run_probes_file_upload_and_says_whether_it_works(
    sim: WiroSimulator, make_client: MakeClient, refusal: str | None
):
    sim.upload_refusal = refusal  # the July 2026 repro: refused under signature auth
    wiro = await make_client(sim)
    recorder = TraceRecorder()
    wiro.trace = recorder
    await live_run(wiro, recorder, io.StringIO(), timeout_seconds=10, confirm=lambda q: True)
    assert len([r for r in sim.runs if r.task_id]) == 1  # the upload is no second run
    verdict = {v.number: v for v in check_assumptions(recorder.records, (sim.output_host,))}
    if refusal is None:
        assert verdict[26].mark == "✓" and sim.uploads
    else:
        assert verdict[26].mark == "✗" and "invalid-parameters" in verdict[26].detail
        assert "Run itself" in verdict[26].fix


def test_settings_type_is_what_the_doctor_passes():
    # run_live_check reads these fields; a rename would break `doctor --live` at run time.
    for name in ("wiro_api_key", "wiro_api_secret", "job_timeout_minutes", "database_path"):
        assert name in Settings.model_fields


async def test_sandbox_live_check_passes_on_the_simulators_own_output_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`doctor --live` with WIRO_SANDBOX=true judges the clip's host by the hosts the sandbox bot
    downloads from (the simulator's), not WIRO_OUTPUT_HOSTS: no ✗ telling the operator to add
    127.0.0.1 to WIRO_OUTPUT_HOSTS."""
    import bot.ops.doctor_live as doctor_live
    import bot.wiro.simulator.tasks as sandbox
    from bot.settings import load_settings

    fast = sandbox.Timings(queue=0.05, start=0.05, generate=0.3, finish=0.05)
    monkeypatch.setattr(sandbox.Timings, "realistic", classmethod(lambda cls: fast))
    for name, value in {
        "DISCORD_TOKEN": "token",
        "WIRO_SANDBOX": "true",
        "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("WIRO_API_KEY", "WIRO_API_SECRET", "WIRO_OUTPUT_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    out = io.StringIO()
    status = await doctor_live.run_live_check(load_settings(env_file=None), out, yes=True)
    report = out.getvalue()
    assert "The run ended: succeeded" in report, report
    assert "✓        17." in report and "to WIRO_OUTPUT_HOSTS" not in report, report
    assert status == 0, report
