"""SQLite storage for the bot: `Database` implements the `Storage` contract in `storage.api`."""

from storage.api import IllegalTransition, JobNotFound, NewJob, ReservationRefused, Storage
from storage.db import Database

__all__ = [
    "Database",
    "IllegalTransition",
    "JobNotFound",
    "NewJob",
    "ReservationRefused",
    "Storage",
]
