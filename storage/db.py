"""SQLite storage: the one implementation of `storage.api.Storage`.

`Database` is a facade over one connection (`storage.sqlite`) and the table groups built on it,
each in its own module:

- `storage.jobs`: jobs, the reservation check that creates them, transitions and queries;
- `storage.frames`: first-frame images;
- `storage.ledger`: reserve, charge and refund rows and the sums taken from them;
- `storage.guilds`: what moderators set per server, and their audit log;
- `storage.approvals`: the approval queue (settings, held requests, decisions) and the budget
  alerts already announced;
- `storage.consent`: whose images Animate may use (the server's rule, members who refused);
- `storage.state`: facts the bot keeps about itself (the published command tree's hash);
- `storage.studio`: server styles;
- `storage.languages`: the language of a server's public messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage.approvals import ApprovalTables
from storage.consent import ConsentTables
from storage.frames import FRAME_KEEP, MAX_FRAME_BYTES, FrameTables
from storage.guilds import GuildTables
from storage.jobs import JobTables
from storage.languages import LanguageTables
from storage.ledger import LedgerTables
from storage.sqlite import DEFAULT_BUSY_TIMEOUT_MS, from_db_time, to_db_time
from storage.state import StateTables
from storage.studio import StudioTables

if TYPE_CHECKING:
    from storage.api import Storage

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_MS",
    "FRAME_KEEP",
    "MAX_FRAME_BYTES",
    "Database",
    "from_db_time",
    "to_db_time",
]


class Database(
    JobTables,
    FrameTables,
    LedgerTables,
    GuildTables,
    ApprovalTables,
    ConsentTables,
    StateTables,
    StudioTables,
    LanguageTables,
):
    """The bot's SQLite file: jobs, the credit ledger and moderator settings."""


if TYPE_CHECKING:
    # mypy proves Database satisfies the contract the rest of the bot codes against.
    _contract: type[Storage] = Database
