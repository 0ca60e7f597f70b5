"""A progress display for long command-line runs: a bar on a terminal, plain lines elsewhere.

``spoolrt purge``, bulk ``spoolrt retry`` and ``spoolrt worker --until-empty`` use it. On a
terminal one line is redrawn in place (``\\r``, no colours, no cursor tricks beyond clearing the
line); piped into a file or a log collector it writes ordinary lines, a few at most per
``plain_interval`` seconds, so logs stay readable and greppable. The standard library is
enough for that; no dependency is worth it.

Usage::

    with Progress(total=len(files), label="purge") as progress:
        for path in files:
            os.unlink(path)
            progress.echo(f"removed {path}")     # a line of output, above the bar
            progress.advance()

``total`` may be None (unknown) and may change while running (``set_total``): a worker that
drains a spool directory learns about new files as it goes.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import IO

__all__ = ["Progress", "format_duration", "is_interactive"]


def is_interactive(stream: IO[str]) -> bool:
    """Whether ``stream`` is a terminal that understands ``\\r`` (not ``TERM=dumb``)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return bool(tty) and os.environ.get("TERM", "") != "dumb"


class Progress:
    """Counts finished items towards ``total`` and shows it.

    ``stream`` (default stderr) gets the bar or the progress lines, so a command's real output
    on stdout stays clean for pipes. ``echo`` writes a line of real output (stdout by default)
    without tearing the bar. ``interactive`` forces the mode (None: ask the stream);
    ``quiet`` shows nothing at all (for ``--json`` runs), ``echo`` included.
    """

    BAR_WIDTH = 30

    def __init__(
        self,
        total: int | None = None,
        label: str = "",
        *,
        stream: IO[str] | None = None,
        out: IO[str] | None = None,
        interactive: bool | None = None,
        quiet: bool = False,
        min_interval: float = 0.1,
        plain_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.out = out if out is not None else sys.stdout
        self.interactive = is_interactive(self.stream) if interactive is None else interactive
        self.quiet = quiet
        self.min_interval = min_interval
        self.plain_interval = plain_interval
        self._clock = clock
        self._started = clock()
        # A bar is drawn for the first item at once; plain lines start one interval in.
        self._last_draw: float | None = None if self.interactive else self._started
        self._plain_done: int | None = None
        self._drawn = False
        self._closed = False

    # --- what callers use ---------------------------------------------------------------------

    def advance(self, count: int = 1) -> None:
        """Count ``count`` more items as done and refresh the display if it is time."""
        self.done += count
        self._refresh(force=self._last_draw is None)

    def set_total(self, total: int | None) -> None:
        """Change the expected total (None: unknown)."""
        self.total = total
        self._refresh(force=False)

    def echo(self, line: str) -> None:
        """Write one line of output to ``out`` above the bar."""
        if self.quiet:
            return
        same_terminal = self.interactive and self._drawn and _same_terminal(self.out, self.stream)
        if same_terminal:
            self._clear()
        self.out.write(line + "\n")
        self.out.flush()
        if same_terminal:
            self._draw()

    def close(self) -> None:
        """Show the final count and leave the terminal on a fresh line. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.quiet:
            return
        if self.interactive:
            self._draw()
            self.stream.write("\n")
        elif self._plain_done != self.done:  # not the same line twice
            self.stream.write(self.render_plain() + "\n")
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- rendering (pure, tested on their own) ------------------------------------------------

    def render_bar(self, width: int) -> str:
        """The terminal line: ``label [#####.....] done/total pct elapsed``, at most ``width``."""
        elapsed = format_duration(self._clock() - self._started)
        head = f"{self.label} " if self.label else ""
        if self.total:
            fraction = min(1.0, self.done / self.total)
            filled = round(fraction * self.BAR_WIDTH)
            bar = "#" * filled + "." * (self.BAR_WIDTH - filled)
            text = f"{head}[{bar}] {self.done}/{self.total} {fraction:4.0%} {elapsed}"
        else:
            text = f"{head}{self.done} done {elapsed}"
        return text[: max(1, width - 1)]

    def render_plain(self) -> str:
        """One log line: ``label: done/total (pct) in elapsed``."""
        head = f"{self.label}: " if self.label else ""
        elapsed = format_duration(self._clock() - self._started)
        if self.total:
            return f"{head}{self.done}/{self.total} ({self.done / self.total:.0%}) in {elapsed}"
        return f"{head}{self.done} done in {elapsed}"

    # --- drawing ------------------------------------------------------------------------------

    def _refresh(self, *, force: bool) -> None:
        if self._closed or self.quiet:
            return
        now = self._clock()
        interval = self.min_interval if self.interactive else self.plain_interval
        if not force and self._last_draw is not None and now - self._last_draw < interval:
            return
        self._last_draw = now
        if self.interactive:
            self._draw()
        else:
            self._plain_done = self.done
            self.stream.write(self.render_plain() + "\n")
            self.stream.flush()

    def _draw(self) -> None:
        width = shutil.get_terminal_size((80, 24)).columns
        self.stream.write("\r" + self.render_bar(width) + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def _clear(self) -> None:
        self.stream.write("\r\x1b[K")
        self.stream.flush()


def _same_terminal(a: IO[str], b: IO[str]) -> bool:
    """Whether two streams end on one terminal (then a line on one would tear the bar)."""
    try:
        return bool(a.isatty()) and bool(b.isatty())
    except (AttributeError, ValueError):
        return False


def format_duration(seconds: float) -> str:
    """``45s``, ``3m05s``, ``2h10m``, ``3d04h``: two units at most, for a table cell or a bar."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"
