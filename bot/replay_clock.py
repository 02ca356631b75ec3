"""The bot's clock when a console transcript may carry its own times (``[2026-09-30 16:00] 王阿姨: …``):
the wall clock, until a line sets the time, and again after a line without one."""

from __future__ import annotations

from datetime import UTC, datetime


class ReplayClock:
    """A clock a console line can set; unset, it is the wall clock."""

    def __init__(self) -> None:
        self.moment: datetime | None = None

    def __call__(self) -> datetime:
        return self.moment if self.moment is not None else datetime.now(UTC)

    def set(self, moment: datetime | None) -> None:
        """Hold the clock at ``moment`` (timezone-aware), or give it back to the wall (``None``)."""
        self.moment = moment.astimezone(UTC) if moment is not None else None
