"""The one progress reporter: a line on stderr for work counted in runs.

Studies and the engine report progress through a plain callback ``progress(done, total)``
(runs done so far, runs in all); the command line passes :meth:`Progress.update`. So the
layers below never print progress themselves, and every command's line looks the same.
"""

from __future__ import annotations

import sys
import time
from typing import IO

#: Seconds between redraws on a terminal: often enough to look live, rarely enough to cost
#: nothing next to the simulation.
REDRAW_SECONDS = 0.1
BAR_WIDTH = 24


def clock(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss`` for a duration in seconds."""
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """``label [#####.....] done/total runs  pct  rate runs/s  elapsed  ETA``.

    Redrawn in place (at most every :data:`REDRAW_SECONDS`) when ``stream`` is a terminal,
    otherwise one line at every 10% step, so logs stay short. The rate and ETA count only
    the runs done since the first :meth:`update` (a resumed sweep starts part-way).
    """

    def __init__(self, label: str, *, stream: IO[str] | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self.start_done: float | None = None
        self.total = 0
        self.last_draw = -1.0
        self.last_decile = -1
        self.drawn = False

    def line(self, done: float) -> str:
        frac = min(max(done / self.total, 0.0), 1.0) if self.total else 1.0
        elapsed = time.monotonic() - self.start
        new = done - (self.start_done or 0.0)
        rate = new / elapsed if elapsed > 0 else 0.0
        eta = clock((self.total - done) / rate) if rate > 0 else "?"
        bar = "#" * int(round(frac * BAR_WIDTH))
        return (f"{self.label} [{bar:.<{BAR_WIDTH}}] {int(done)}/{self.total} runs {frac:4.0%}  "
                f"{rate:,.1f} runs/s  elapsed {clock(elapsed)}  ETA {eta}")

    def update(self, done: float, total: int) -> None:
        """Report ``done`` of ``total`` runs finished (fractions of a run allowed)."""
        self.total = total
        if self.start_done is None:
            self.start_done = done
            self.last_decile = int(10 * done / total) if total else 10
        now = time.monotonic()
        if self.tty:
            if now - self.last_draw >= REDRAW_SECONDS or done >= total:
                self.stream.write("\r" + self.line(done) + "\x1b[K")
                self.stream.flush()
                self.last_draw, self.drawn = now, True
        else:
            decile = int(10 * done / total + 1e-9) if total else 10
            if decile > self.last_decile:
                self.last_decile = decile
                self.stream.write(self.line(done) + "\n")
                self.stream.flush()

    def finish(self) -> None:
        """End the line (on a terminal)."""
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
