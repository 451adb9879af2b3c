"""Video work with PyAV: the last frame of a clip, joining clips, fitting an upload limit.

PyAV is imported inside the functions that use it, never at import time, so importing the bot
stays light. The functions are blocking; the bot calls them through `VideoWorker`, which runs
them on a small thread pool.
"""

from bot.media.video.fit import FitImpossible, FitPlan, FitResult, plan_fit
from bot.media.video.probe import AudioInfo, ClipInfo, VideoCancelled, VideoError, probe
from bot.media.video.stitch import StitchResult
from bot.media.video.worker import VideoWorker

__all__ = [
    "AudioInfo",
    "ClipInfo",
    "FitImpossible",
    "FitPlan",
    "FitResult",
    "StitchResult",
    "VideoCancelled",
    "VideoError",
    "VideoWorker",
    "plan_fit",
    "probe",
]
