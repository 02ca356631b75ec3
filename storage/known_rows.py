"""Ids of persons and groups this process has already found or made, kept across units of work.

Storing a group message needs its sender's and group's ids; asking the database for them at every
message cost two statements each time. This memo remembers ``(platform, user or chat id) → (id, name)``
per engine. An entry may come from a row the current transaction made, so every rollback of a
transaction or savepoint on the engine forgets everything (rows are never deleted otherwise), and so
does every error the database raises: a COMMIT that fails (the connection lost during it) fires no
rollback event, yet keeps none of the rows. What is remembered was committed, or belongs to a
transaction still open that has not rolled back. Another process (a second worker, ``minyi``'s
commands) may rename a person or a group meanwhile: the memo is also forgotten every
``KEEP_SECONDS``, so such a change is seen (and a message's own name stored again) within that.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

Key = tuple[str, str]
KEEP_SECONDS = 60.0
"""Seconds the memo is kept before it is forgotten and found again from the database."""


class KnownRows:
    """The persons' and groups' ids (and names) one engine's sessions found or made."""

    def __init__(self) -> None:
        self.persons: dict[Key, tuple[int, str]] = {}
        self.groups: dict[Key, tuple[int, str]] = {}
        self.since = time.monotonic()
        """When the memo was last forgotten."""

    def forget(self, *_: Any) -> None:
        """Forget everything (a rollback may have taken some of these rows with it)."""
        self.persons.clear()
        self.groups.clear()
        self.since = time.monotonic()


_by_engine: WeakKeyDictionary[Engine, KnownRows] = WeakKeyDictionary()
_lock = threading.Lock()


def known_rows(session: Session) -> KnownRows:
    """The memo of the engine ``session`` works on, made (and hooked to its rollbacks) on first use."""
    bind = session.get_bind()
    engine: Engine = bind if isinstance(bind, Engine) else bind.engine
    known = _by_engine.get(engine)
    if known is None:
        with _lock:
            known = _by_engine.get(engine)
            if known is None:
                known = KnownRows()
                event.listen(engine, "rollback", known.forget)
                event.listen(engine, "rollback_savepoint", known.forget)
                event.listen(engine, "handle_error", known.forget)
                _by_engine[engine] = known
    if time.monotonic() - known.since > KEEP_SECONDS:
        known.forget()  # renamed elsewhere meanwhile, perhaps
    return known
