"""The job lifecycle against the Wiro simulator, a real database and a recording presenter."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.jobs.contracts import Asker, ChannelNotAllowed, LimitReached, Refused, utcnow
from bot.jobs.service import JobService
from bot.wiro.client import WiroClient
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript
from cogs.words import refused_words, what_happened
from storage.api import ReservationRefused
from storage.db import Database
from storage.models import JobState, Limit, NewJob, Stage
from tests.factories import MakeService
from tests.jobs.doubles import GUILD, MOD, OTHER, USER, RecordingPresenter, png_frame, request
from tests.jobs.waits import running_at_wiro, succeeded, wait_state, wait_stopped, wait_terminal


def _paths(sim: WiroSimulator) -> list[str]:
    return [path for path, _ in sim.requests]


def _count(sim: WiroSimulator, suffix: str) -> int:
    return sum(1 for path in _paths(sim) if path.endswith(suffix))


async def _kinds(db: Database, job_id: int) -> list[str]:
    return [entry.kind for entry in await db.ledger_for_job(job_id)]


# ------------------------------------------------------------------------------------------
# Outcomes
# ------------------------------------------------------------------------------------------
async def test_text_to_video_delivers_the_clip_and_charges(
    service: JobService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    clip = b"\x00\x00\x00\x18ftypmp42" + b"x" * 5000
    sim.script_next(TaskScript(clip=clip, totalcost="0.28"))
    job = await service.submit(request(), None)
    assert job.state is JobState.PENDING and job.credits == 1

    done = await wait_terminal(db, job.id)

    assert done.state is JobState.SUCCEEDED
    assert done.total_cost_usd == pytest.approx(0.28)
    assert done.result_message_id is not None
    assert [d[1] for d in presenter.deliveries] == [clip]
    assert await _kinds(db, job.id) == ["reserve", "charge"]
    assert [j.id for j in presenter.finished] == [job.id]
    stages = presenter.stages(job.id)
    assert stages[0] in ("submitting", "queued")
    assert stages[-1] == "done"
    assert "generating" in stages and stages.index("generating") < stages.index("done")
    assert len(sim.runs) == 1
    assert sim.runs[0].fields["resolution"] == "768P"
    assert sim.runs[0].fields["duration"] == "6"
    assert sim.runs[0].fields["promptOptimizer"] == "true"


async def test_image_to_video_sends_the_first_frame(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    frame = png_frame(720, 1280)
    job = await service.submit(request(resolution="1080P", prompt_optimizer=False), frame)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.SUCCEEDED
    assert done.credits == 2
    run = sim.runs[0]
    assert run.image == frame.data
    assert run.fields["promptOptimizer"] == "false"
    assert run.fields["resolution"] == "1080P"


@pytest.mark.parametrize(
    ("outcome", "words"),
    [
        ("fail", "upstream error"),
        ("empty_outputs", "no video"),
    ],
)
async def test_wiro_failures_refund_and_explain(
    service: JobService,
    sim: WiroSimulator,
    db: Database,
    presenter: RecordingPresenter,
    outcome: str,
    words: str,
) -> None:
    sim.script_next(TaskScript(outcome=outcome))  # type: ignore[arg-type]
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.FAILED
    assert done.outcome_reason
    assert words.lower() in done.outcome_reason.lower()
    assert "Traceback" not in done.outcome_reason
    assert await _kinds(db, job.id) == ["reserve", "refund"]
    assert presenter.deliveries == []
    status = await service.quota_status(GUILD, USER, ())
    assert status.used == 0


async def test_insufficient_balance_fails_without_retrying(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    sim.insufficient_balance = True
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.FAILED
    assert "balance" in (done.outcome_reason or "")
    assert len(sim.runs) == 1
    assert await _kinds(db, job.id) == ["reserve", "refund"]


async def test_busy_wiro_queues_locally_then_submits(
    service: JobService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    sim.busy_runs = 2
    job = await service.submit(request(), None)
    await wait_state(db, job.id, JobState.WAITING)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.SUCCEEDED
    assert _count(sim, "/Run/minimax/hailuo-2-3") == 3  # two definite 96s, then accepted
    assert len([r for r in sim.runs if r.task_id]) == 1
    positions = [e.queue_position for j, e in presenter.updates if j.stage is Stage.WAITING]
    assert 1 in positions


async def test_second_job_waits_behind_the_first_when_busy(
    make_service: MakeService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    service = make_service(busy_retry_seconds=0.3)
    sim.busy_runs = 3
    first = await service.submit(request(), None)
    await wait_state(db, first.id, JobState.WAITING)
    second = await service.submit(request(user_id=OTHER), None)
    await wait_state(db, second.id, JobState.WAITING)
    positions = {
        e.queue_position for j, e in presenter.updates if j.id == second.id and e.queue_position
    }
    assert 2 in positions
    a, b = await wait_terminal(db, first.id), await wait_terminal(db, second.id)
    assert a.state is b.state is JobState.SUCCEEDED
    assert a.submitted_at is not None and b.submitted_at is not None
    assert a.submitted_at <= b.submitted_at


async def test_silent_websocket_still_finishes_by_polling(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    sim.script_next(TaskScript(ws="silent"))
    job = await service.submit(request(), None)
    assert (await wait_terminal(db, job.id)).state is JobState.SUCCEEDED


async def test_clip_above_the_download_cap_is_linked(
    make_service: MakeService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    service = make_service(max_clip_bytes=1000)
    done = await succeeded(service, sim, db, b"m" * 5000)
    assert presenter.deliveries[0][1] is None  # nothing downloaded, linked instead
    assert done.output_url and done.output_url.startswith("http://127.0.0.1")


async def test_delivery_failure_refunds(
    service: JobService, db: Database, presenter: RecordingPresenter
) -> None:
    presenter.fail_delivery = True
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.FAILED
    assert await _kinds(db, job.id) == ["reserve", "refund"]


async def test_card_that_cannot_be_posted_spends_nothing(
    service: JobService, sim: WiroSimulator, presenter: RecordingPresenter
) -> None:
    presenter.fail_post = True
    with pytest.raises(Refused, match="couldn't post"):
        await service.submit(request(), None)
    assert sim.runs == []
    assert (await service.quota_status(GUILD, USER, ())).used == 0


# ------------------------------------------------------------------------------------------
# Cancel and timeout
# ------------------------------------------------------------------------------------------
async def test_cancel_while_queued_at_wiro_uses_task_cancel(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    job = await running_at_wiro(service, sim, db, TaskScript(queue=5.0))
    message = await service.cancel(job.id, USER, is_moderator=False)
    assert "Cancelling" in message
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.CANCELLED
    assert done.cancelled_by == USER and f"<@{USER}>" in (what_happened(done) or "")
    assert _count(sim, "/Task/Cancel") >= 1
    assert _count(sim, "/Task/Kill") == 0
    assert await _kinds(db, job.id) == ["reserve", "refund"]


async def test_cancel_while_generating_uses_task_kill(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    sim.script_next(TaskScript(generate=5.0))
    job = await service.submit(request(), None)
    for _ in range(200):
        job = await db.get_job(job.id)
        if job.stage is Stage.GENERATING:
            break
        await asyncio.sleep(0.05)
    assert job.stage is Stage.GENERATING
    await service.cancel(job.id, MOD, is_moderator=True)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.CANCELLED
    assert done.cancelled_by == MOD and f"<@{MOD}>" in (what_happened(done) or "")
    assert _count(sim, "/Task/Kill") >= 1


async def test_cancel_refused_for_another_member(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    sim.script_next(TaskScript(queue=2.0))
    job = await service.submit(request(), None)
    with pytest.raises(Refused, match="Only the member"):
        await service.cancel(job.id, OTHER, is_moderator=False)
    assert (await db.get_job(job.id)).cancelled_by is None


async def test_cancel_while_waiting_locally_never_submits(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    service = make_service(busy_retry_seconds=0.2)
    sim.busy_runs = 1  # the first Run is refused as busy; a retry would be accepted
    job = await service.submit(request(), None)
    await wait_state(db, job.id, JobState.WAITING)
    message = await service.cancel(job.id, USER, is_moderator=False)
    assert "cancelled" in message
    runs_at_cancel = len(sim.runs)
    # Only the job's runner sends Runs: once it has stopped, no retry can come any more.
    await wait_stopped(service, job.id)
    done = await db.get_job(job.id)
    assert done.state is JobState.CANCELLED
    assert len(sim.runs) == runs_at_cancel
    assert [r for r in sim.runs if r.task_id] == []
    assert await _kinds(db, job.id) == ["reserve", "refund"]


async def test_cancel_after_the_end_is_refused(service: JobService, db: Database) -> None:
    job = await service.submit(request(), None)
    await wait_terminal(db, job.id)
    with pytest.raises(Refused, match="already finished"):
        await service.cancel(job.id, USER, is_moderator=False)


async def test_timeout_kills_and_refunds(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    service = make_service(timeout=timedelta(seconds=1.5))
    sim.script_next(TaskScript(generate=30.0))
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.TIMED_OUT
    assert "minutes" in (done.outcome_reason or "") or "stopped" in (done.outcome_reason or "")
    assert _count(sim, "/Task/Kill") + _count(sim, "/Task/Cancel") >= 1
    assert await _kinds(db, job.id) == ["reserve", "refund"]


# ------------------------------------------------------------------------------------------
# Restarts: a crash at each state, then resume
# ------------------------------------------------------------------------------------------
async def test_restart_while_running_resumes_and_delivers_once(
    make_service: MakeService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    first = make_service()
    job = await running_at_wiro(first, sim, db, TaskScript(generate=1.0))
    await first.shutdown(timeout=2)  # the process dies here
    assert (await db.get_job(job.id)).state is JobState.RUNNING

    second = make_service()
    assert await second.resume_all() == 1
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.SUCCEEDED
    assert len(presenter.deliveries) == 1
    assert len(sim.runs) == 1  # never resubmitted


async def test_restart_while_waiting_locally_submits_later(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    first = make_service(busy_retry_seconds=0.2)
    sim.busy_runs = 1
    job = await first.submit(request(), None)
    await wait_state(db, job.id, JobState.WAITING)
    await first.shutdown(timeout=2)
    second = make_service(busy_retry_seconds=0.2)
    await second.resume_all()
    assert (await wait_terminal(db, job.id)).state is JobState.SUCCEEDED


async def test_restart_mid_submission_fails_without_resubmitting(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    service = make_service()
    job = await service.submit(request(), None)
    await wait_terminal(db, job.id)
    # Forge a job that died between "about to send Run" and Wiro's answer.
    ghost = await service.submit(request(user_id=OTHER), None)
    await wait_terminal(db, ghost.id)
    runs_before = len(sim.runs)
    await service.shutdown(timeout=2)

    pending = await _forge_state(db, JobState.SUBMITTING, run_sent_at=utcnow())
    resumed = make_service()
    await resumed.resume_all()
    done = await wait_terminal(db, pending)
    assert done.state is JobState.FAILED
    assert "not sent again" in (done.outcome_reason or "")
    assert len(sim.runs) == runs_before
    assert await _kinds(db, pending) == ["reserve", "refund"]


async def test_restart_after_posting_the_clip_does_not_post_twice(
    make_service: MakeService, db: Database, presenter: RecordingPresenter
) -> None:
    pending = await _forge_state(db, JobState.DELIVERING, result_message_id=424242)
    service = make_service()
    await service.resume_all()
    done = await wait_terminal(db, pending)
    assert done.state is JobState.SUCCEEDED
    assert done.result_message_id == 424242
    assert presenter.deliveries == []
    assert await _kinds(db, pending) == ["reserve", "charge"]


async def _forge_state(db: Database, state: JobState, **fields: object) -> int:
    """Create a job (with its reservation) and walk it to `state` as a crash would leave it."""
    from bot.jobs.contracts import utcnow
    from storage.models import NewJob
    from tests.factories import reservation_args

    now = utcnow()
    job = await db.create_job_with_reservation(
        NewJob(
            guild_id=GUILD,
            channel_id=1,
            user_id=USER + 50,
            prompt="forged",
            resolution="768P",
            duration=6,
            prompt_optimizer=True,
            has_image=False,
            image_sha256=None,
            image_url=None,
            credits=1,
            upload_limit=None,
            expected_cost_usd=None,
            reroll_of=None,
        ),
        **reservation_args(now=now, credits=100, max_jobs_per_user=5, max_jobs_per_guild=50),
    )
    path = {
        JobState.SUBMITTING: [JobState.SUBMITTING],
        JobState.RUNNING: [JobState.SUBMITTING, JobState.RUNNING],
        JobState.DELIVERING: [JobState.SUBMITTING, JobState.RUNNING, JobState.DELIVERING],
    }[state]
    for step in path:
        extra: dict[str, object] = {}
        if step is JobState.RUNNING:
            extra = {"wiro_task_id": "1", "wiro_task_token": "t" * 30, "submitted_at": now}
        if step is state:
            extra.update(fields)
        await db.transition(job.id, step, **extra)
    return job.id


# ------------------------------------------------------------------------------------------
# Checks before spending
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"prompt": "   "}, "empty"),
        ({"prompt": "x" * 2001}, "2001 characters"),
        ({"resolution": "1080P", "duration": 10}, "6 seconds"),
    ],
)
async def test_bad_requests_are_refused_before_spending(
    service: JobService, sim: WiroSimulator, overrides: dict[str, object], words: str
) -> None:
    with pytest.raises(Refused, match=words):
        await service.submit(request(**overrides), None)
    assert sim.runs == []
    assert (await service.quota_status(GUILD, USER, ())).used == 0


async def test_prompt_of_2000_characters_after_trimming_is_accepted(service: JobService) -> None:
    job = await service.submit(request(prompt="  " + "y" * 2000 + "  "), None)
    assert len(job.prompt) == 2000


async def test_moderator_controls_refuse_before_spending(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    await db.set_paused(GUILD, True, "maintenance", MOD)
    with pytest.raises(Refused, match="paused in this server: maintenance"):
        await service.submit(request(), None)
    await db.set_paused(GUILD, False, None, MOD)

    await db.block_member(GUILD, USER, "spam", MOD)
    with pytest.raises(Refused, match=r"blocked.*spam"):
        await service.submit(request(), None)
    await db.unblock_member(GUILD, USER, MOD)

    await db.allow_channel(GUILD, 777, MOD)
    with pytest.raises(ChannelNotAllowed) as elsewhere:
        await service.submit(request(), None)
    assert elsewhere.value.channel_ids == [777]
    assert "Try <#777>." in refused_words(elsewhere.value)
    await db.remove_channel(GUILD, 777, MOD)

    await db.add_blocked_word(GUILD, "Gore", MOD)
    with pytest.raises(Refused, match="gore"):
        await service.submit(request(prompt="So much GORE here"), None)
    assert sim.runs == []


async def test_credits_exhausted_says_used_cost_and_reset(
    make_service: MakeService, db: Database
) -> None:
    service = make_service(default_limit=Limit(credits=2, period="day"))
    await service.submit(request(resolution="1080P"), None)
    with pytest.raises(Refused) as refused:
        await service.submit(request(), None)
    message = refused_words(refused.value)
    assert "used 2 of 2" in message and "costs 1" in message and "<t:" in message
    assert len([j for j in await db.jobs_for_user(GUILD, USER)]) == 1


async def test_zero_limit_means_no_access(make_service: MakeService) -> None:
    service = make_service(default_limit=Limit(credits=0, period="day"))
    with pytest.raises(LimitReached) as refused:
        await service.submit(request(), None)
    assert refused.value.refusal.what == "no_access"
    assert "don't have access" in refused_words(refused.value)


async def test_concurrent_requests_with_credit_for_one_run_exactly_one(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    service = make_service(default_limit=Limit(credits=1, period="day"), max_jobs_per_user=5)
    results = await asyncio.gather(
        *(service.submit(request(), None) for _ in range(5)), return_exceptions=True
    )
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, Refused)]
    assert len(accepted) == 1 and len(refused) == 4
    await wait_terminal(db, accepted[0].id)
    assert len(sim.runs) == 1


async def test_budget_counts_spent_in_flight_and_asked(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    service = make_service(max_jobs_per_user=5)
    await db.set_budget(GUILD, 0.50, MOD)  # Wiro's price for 768P/6 s is $0.28 in the simulator
    sim.script_next(TaskScript(queue=3.0))
    first = await service.submit(request(), None)
    with pytest.raises(Refused, match="budget"):
        await service.submit(request(user_id=OTHER), None)
    await service.cancel(first.id, USER, is_moderator=False)


async def test_moderator_refund_of_a_finished_job_is_idempotent(
    service: JobService, db: Database
) -> None:
    job = await service.submit(request(), None)
    await wait_terminal(db, job.id)
    outcome = await service.moderator_refund(job.id, MOD, GUILD)
    assert outcome.job.id == job.id and outcome.cancelling is None
    with pytest.raises(Refused, match="already refunded"):
        await service.moderator_refund(job.id, MOD, GUILD)
    assert (await service.quota_status(GUILD, USER, ())).used == 0


async def test_reroll_runs_again_and_charges_again(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    frame = png_frame()
    job = await service.submit(request(), frame)
    await wait_terminal(db, job.id)
    again = await service.reroll(job.id, Asker(USER))
    assert again.reroll_of == job.id
    done = await wait_terminal(db, again.id)
    assert done.state is JobState.SUCCEEDED
    assert sim.runs[-1].image == frame.data
    assert (await service.quota_status(GUILD, USER, ())).used == 2
    with pytest.raises(Refused, match="Only the member"):
        await service.reroll(job.id, Asker(OTHER))


async def test_credentials_refused_while_following_fail_the_job_plainly(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    job = await running_at_wiro(service, sim, db, TaskScript(generate=5.0))
    sim.api_secret = "rotated-secret-value"  # the operator rotated the secret at Wiro
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.FAILED
    assert "credentials were refused" in (done.outcome_reason or "")
    assert await _kinds(db, job.id) == ["reserve", "refund"]


async def test_eta_counts_from_submission_and_is_never_in_the_past(
    service: JobService, db: Database
) -> None:
    from bot.jobs.contracts import utcnow
    from bot.jobs.eta import DEFAULT_ETA_SECONDS

    job_id = await _forge_state(db, JobState.RUNNING)
    job = await db.get_job(job_id)
    fresh = job.model_copy(update={"submitted_at": utcnow()})
    eta = (await service.outcomes.card_extras(fresh)).eta
    assert eta is not None
    expected = DEFAULT_ETA_SECONDS[("768P", 6)]
    assert abs((eta - fresh.submitted_at).total_seconds() - expected) < 5  # type: ignore[operator]
    slow = job.model_copy(update={"submitted_at": utcnow() - timedelta(hours=1)})
    late = (await service.outcomes.card_extras(slow)).eta
    assert late is not None and late > utcnow()


async def test_resume_removes_downloads_a_killed_process_left_behind(
    make_service: MakeService,
) -> None:
    service = make_service()
    work = service.config.work_dir
    work.mkdir(parents=True, exist_ok=True)
    (work / "job-12-abcd.mp4").write_bytes(b"half a clip")
    (work / "keep.txt").write_text("not ours")
    await service.resume_all()
    assert not (work / "job-12-abcd.mp4").exists()
    assert (work / "keep.txt").exists()


async def test_restart_after_the_deadline_still_delivers_a_finished_clip(
    make_service: MakeService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    first = make_service()
    job = await running_at_wiro(first, sim, db, TaskScript(generate=0.5))
    await first.shutdown(timeout=2)  # the bot is down while Wiro finishes (and bills)
    task = sim.tasks[(await db.get_job(job.id)).wiro_task_id or ""]
    for _ in range(100):
        if task.is_terminal:
            break
        await asyncio.sleep(0.05)
    assert task.status == "task_postprocess_end"

    late = make_service(timeout=timedelta(seconds=0.1))  # the job's time ran out meanwhile
    await late.resume_all()
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.SUCCEEDED
    assert len(presenter.deliveries) == 1


async def test_cancel_pressed_while_sending_is_honoured_when_wiro_answers_busy(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    service = make_service(busy_retry_seconds=0.2)
    sim.busy_runs = 1
    job = await service.submit(request(), None)
    # The member's cancel lands while the (busy) Run is out: state SUBMITTING.
    await db.update_job(job.id, cancelled_by=USER)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.CANCELLED
    await wait_stopped(service, job.id)  # only the runner sends Runs; none can come any more
    assert [r for r in sim.runs if r.task_id] == []
    assert await _kinds(db, job.id) == ["reserve", "refund"]


async def test_shutdown_waits_for_a_run_already_sent_and_saves_the_task(
    make_service: MakeService,
    sim: WiroSimulator,
    db: Database,
    wiro: WiroClient,
    presenter: RecordingPresenter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_run = wiro.run

    async def slow_run(**kwargs: object) -> object:
        await asyncio.sleep(0.8)  # a first frame still uploading when SIGTERM arrives
        return await real_run(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(wiro, "run", slow_run)
    first = make_service()
    job = await first.submit(request(), None)
    await wait_state(db, job.id, JobState.SUBMITTING)
    await first.shutdown(timeout=1, submit_grace=5)
    saved = await db.get_job(job.id)
    assert saved.state is JobState.RUNNING and saved.wiro_task_id is not None

    second = make_service()
    await second.resume_all()
    assert (await wait_terminal(db, job.id)).state is JobState.SUCCEEDED
    assert len(sim.runs) == 1 and len(presenter.deliveries) == 1


async def test_rate_limited_run_is_queued_and_sent_again(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    sim.inject("/Run", 429)  # Wiro did not process it: safe to send again later
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.SUCCEEDED
    assert done.submit_attempts == 2
    assert len([r for r in sim.runs if r.task_id]) == 1


async def test_restart_finds_a_clip_posted_before_the_crash_and_does_not_post_again(
    make_service: MakeService, db: Database, presenter: RecordingPresenter
) -> None:
    # Killed after Discord stored the clip but before the bot recorded it, and restarted
    # long after Discord's nonce window: only the channel itself knows.
    pending = await _forge_state(db, JobState.DELIVERING)
    presenter.already_posted[pending] = 555
    service = make_service()
    await service.resume_all()
    done = await wait_terminal(db, pending)
    assert done.state is JobState.SUCCEEDED
    assert done.result_message_id == 555
    assert presenter.deliveries == []
    assert await _kinds(db, pending) == ["reserve", "charge"]


@pytest.mark.parametrize("prompt", ["\u200b\u200b\u200b", " \u2060 ", "\x00\x00", "\u0301\u0301"])
async def test_a_prompt_with_nothing_visible_is_empty(
    service: JobService, sim: WiroSimulator, prompt: str
) -> None:
    with pytest.raises(Refused, match="empty"):
        await service.submit(request(prompt=prompt), None)
    assert sim.runs == []


async def test_control_characters_are_not_sent_to_wiro(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    job = await service.submit(request(prompt="a cat\x00 on\x07 a mat\nat dawn"), None)
    await wait_terminal(db, job.id)
    assert sim.runs[0].fields["prompt"] == "a cat on a mat\nat dawn"


async def test_a_second_reroll_click_while_one_runs_is_refused(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    service = make_service(max_jobs_per_user=5)
    job = await service.submit(request(), None)
    await wait_terminal(db, job.id)
    sim.script_next(TaskScript(queue=3.0))
    await service.reroll(job.id, Asker(USER))
    with pytest.raises(Refused, match="already on its way"):
        await service.reroll(job.id, Asker(USER))


@pytest.mark.parametrize(
    ("follow_up", "words"),
    [("reroll", "A re-roll of this video"), ("remake", "A 1080P remake of this video")],
)
async def test_two_simultaneous_clicks_on_a_follow_up_make_one_job_and_one_run(
    make_service: MakeService,
    sim: WiroSimulator,
    db: Database,
    presenter: RecordingPresenter,
    follow_up: str,
    words: str,
) -> None:
    """A double click: both clicks pass the early check before either job exists (the image
    is checked in between), and the reservation lets exactly one of them through."""
    service = make_service(max_jobs_per_user=5)
    job = await service.submit(request(), png_frame())
    await wait_terminal(db, job.id)
    runs_before = len(sim.runs)
    sim.script_next(TaskScript(queue=1.0))
    click = getattr(service, follow_up)

    async def one() -> str:
        try:
            made = await click(job.id, Asker(USER))
        except Refused as exc:
            return str(exc)
        return f"job {made.id}"

    answers = await asyncio.gather(one(), one())
    made = [a for a in answers if a.startswith("job ")]
    assert len(made) == 1, answers
    assert [a for a in answers if a not in made] == [f"{words} is already on its way."]
    new_id = int(made[0].removeprefix("job "))
    await wait_terminal(db, new_id)
    assert len(sim.runs) == runs_before + 1
    assert len(presenter.posted) == 2  # the first job's card and one follow-up card
    assert len(await db.jobs_for_guild(GUILD)) == 2


async def test_the_early_check_and_the_reservation_refuse_alike(
    make_service: MakeService, db: Database
) -> None:
    """Budget used up, run's price unknown (no Tool/Detail price, no past runs): the early check
    refuses with the same typed refusal the reservation gives, reset time included."""
    from bot.wiro.schema import ToolInfo

    service = make_service()
    service.wiro.tool = ToolInfo.fallback().model_copy(update={"from_fallback": False})
    await db.set_budget(GUILD, 0.0, MOD)
    with pytest.raises(LimitReached) as early:
        await service.precheck(request())
    refusal = early.value.refusal
    assert (refusal.what, refusal.used, refusal.limit, refusal.needs) == ("budget", 0, 0.0, None)
    assert refusal.resets_at is not None and refusal.resets_at.day == 1
    # The reservation inside storage's write transaction gives the identical answer.
    policy = await service.admission.policy(request())
    new = NewJob(guild_id=GUILD, channel_id=2000, user_id=USER, prompt="p", credits=1)
    with pytest.raises(ReservationRefused) as late:
        await db.create_job_with_reservation(
            new, windows=policy.windows, check=policy.check, now=service.clock()
        )
    assert late.value.refusal == refusal
    assert await db.jobs_for_guild(GUILD) == []
