"""The job lifecycle's test doubles and makers: who asks where, a recording presenter, a
request, a first frame."""

from __future__ import annotations

import asyncio
import io
import weakref
from dataclasses import dataclass, field

from PIL import Image

from bot.jobs.contracts import Asker, CardExtras, ClipToPost, Delivery, PresenterError, VideoRequest
from bot.jobs.service import JobService
from bot.media.images import FirstFrame, check_image
from storage.models import Job

KEY, SECRET = "test-key", "test-secret"
GUILD, CHANNEL, USER, OTHER, MOD = 1000, 2000, 3000, 3001, 3002


# Every recording presenter of the running test: `wait_terminal` waits for them to hear of the
# end too (a job's row turns terminal a moment before the service renders its final card and
# calls job_finished).
PRESENTERS: list[weakref.ref[RecordingPresenter]] = []


@dataclass
class RecordingPresenter:
    """A JobPresenter that remembers everything it was asked to show."""

    upload_limit: int = 10 * 1024 * 1024
    fail_post: bool = False
    fail_delivery: bool = False
    posted: list[Job] = field(default_factory=list)
    updates: list[tuple[Job, CardExtras]] = field(default_factory=list)
    deliveries: list[tuple[Job, bytes | None, int | None]] = field(default_factory=list)
    original_sizes: list[int | None] = field(default_factory=list)
    link_reasons: list[str | None] = field(default_factory=list)
    finished: list[Job] = field(default_factory=list)
    already_posted: dict[int, int] = field(default_factory=dict)  # job id -> message id
    lost_cards: dict[int, int] = field(default_factory=dict)  # posted, never recorded
    _next_message: int = 900_000

    def __post_init__(self) -> None:
        PRESENTERS.append(weakref.ref(self))

    async def post_card(self, job: Job, extras: CardExtras, thumbnail: bytes | None) -> int:
        if self.fail_post:
            raise PresenterError("Missing Access")
        self.posted.append(job)
        self._next_message += 1
        return self._next_message

    async def update_card(self, job: Job, extras: CardExtras) -> None:
        self.updates.append((job, extras))

    def attach_limit(self, job: Job) -> int:
        return self.upload_limit

    async def deliver_clip(self, job: Job, post: ClipToPost) -> Delivery:
        if self.fail_delivery:
            raise PresenterError("Unknown Channel")
        clip, size, link_reason = post.clip, post.size, post.link_reason
        data = await asyncio.to_thread(clip.read_bytes) if clip is not None else None
        self.deliveries.append((job, data, size))
        self.original_sizes.append(post.original_size)
        self.link_reasons.append(link_reason)
        self._next_message += 1
        attached = data is not None and size is not None and size <= self.upload_limit
        note = "compressed" if post.original_size is not None else None
        return Delivery(
            message_id=self._next_message,
            attached=attached,
            note=note if attached else (link_reason or "linked"),
        )

    async def find_delivery(self, job: Job) -> int | None:
        return self.already_posted.get(job.id)

    async def find_card(self, job: Job) -> int | None:
        return self.lost_cards.get(job.id)

    async def job_finished(self, job: Job) -> None:
        self.finished.append(job)

    def stages(self, job_id: int) -> list[str]:
        """Distinct consecutive stages the card showed for a job."""
        seen: list[str] = []
        for job, _ in self.updates:
            if job.id == job_id and (not seen or seen[-1] != job.stage.value):
                seen.append(job.stage.value)
        return seen


def request(**overrides: object) -> VideoRequest:
    values: dict[str, object] = {
        "guild_id": GUILD,
        "channel_id": CHANNEL,
        "user_id": USER,
        "role_ids": frozenset(),
        "prompt": "A red fox runs through fresh snow at dawn",
    }
    values.update(overrides)
    return VideoRequest(**values)  # type: ignore[arg-type]


async def extend(service: JobService, job_id: int, prompt: str = "", duration: int = 6) -> Job:
    """The requester (USER) extends job `job_id` by `duration` seconds (no upload limit known)."""
    return await service.extend(job_id, Asker(USER), prompt=prompt, duration=duration)


def png_frame(width: int = 640, height: int = 360) -> FirstFrame:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buffer, "PNG")
    return check_image(buffer.getvalue())
