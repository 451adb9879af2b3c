"""Video work with PyAV: the last frame of a clip, joining clips, fitting an upload limit.

PyAV is imported inside the functions that use it, never at import time, so importing the bot
stays light. The functions are blocking; the bot calls them through `VideoWorker`, which runs
them on a small thread pool. Import each name from its module (probe, fit, stitch, frames,
encode, worker, store, last_frames).
"""
