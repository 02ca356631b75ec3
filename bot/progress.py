"""Progress of long command-line work (``minyi eval``, ``train``, ``brief``, ``demo``): a bar on
stderr when stderr is a terminal, and nothing at all when it is piped or redirected, so scripts and
files get only the command's output.

``progress(description, total)`` is a context manager yielding a ``Bar``; the work calls
``bar.advance()`` after each item (or step, with a note saying what comes next). rich draws it, and is
imported only when there is a terminal to draw on.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


class Bar:
    """One task's progress; silent unless ``progress`` found a terminal."""

    def __init__(self, rich_progress: Any = None, task: Any = None) -> None:
        self._progress = rich_progress
        self._task = task

    def advance(self, n: int = 1, note: str | None = None) -> None:
        """``n`` more items done; ``note`` (if given) replaces the description: what runs now."""
        if self._progress is None:
            return
        if note is None:
            self._progress.advance(self._task, n)
        else:
            self._progress.update(self._task, advance=n, description=note)

    def complete(self) -> None:
        """Everything done (items that needed no work included)."""
        if self._progress is not None:
            total = next(t.total for t in self._progress.tasks if t.id == self._task)
            self._progress.update(self._task, completed=total)


def on_terminal(stream: TextIO | None = None) -> bool:
    """True when ``stream`` (default stderr) is a terminal someone watches."""
    stream = stream or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Bar]:
    """A progress bar for ``total`` items (None: unknown), on stderr if it is a terminal."""
    if not on_terminal():
        yield Bar()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    # The bar stays once done (transient=False): the figures printed after it read below it.
    with Progress(*columns, console=Console(stderr=True), redirect_stdout=False) as shown:
        yield Bar(shown, shown.add_task(description, total=total))
