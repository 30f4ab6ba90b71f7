"""A small progress line for long work: done/total, rate, ETA, and the latest metrics.

Writes to stderr: on a terminal it redraws one line; in logs (CI, pipes) it prints a line about
every tenth of the work, so files stay short. Work a resumed run did before (`skip`) counts as done
but not into the rate, so the ETA stays right. Only process 0 of a multi-host run shows it.
"""

from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  return f"{seconds // 60:d}:{seconds % 60:02d}"


class Progress:

  def __init__(self, total: int, desc: str, unit: str = "step", enabled: bool = True, stream=None):
    self.total, self.desc, self.unit, self.enabled = total, desc, unit, enabled
    self.stream = stream or sys.stderr
    self.done = 0
    self.skipped = 0  # work done before this process (a resumed run): not part of the rate
    self.start = time.perf_counter()
    self.tty = getattr(self.stream, "isatty", lambda: False)()
    self._next_log = 0

  def skip(self, n: int) -> None:
    """Counts `n` units as done without timing them (the part of a resumed run done earlier)."""
    self.done += n
    self.skipped += n

  def update(self, done: int, **metrics) -> None:
    self.done = done
    if not self.enabled:
      return
    finished = done >= self.total
    if not self.tty and done < self._next_log and not finished:
      return
    self._next_log = done + max(self.total // 10, 1)
    elapsed = time.perf_counter() - self.start
    rate = (done - self.skipped) / elapsed if elapsed > 0 else 0.0
    eta = (self.total - done) / rate if rate > 0 else 0.0
    shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
    line = (f"{self.desc}: {done}/{self.total} {self.unit}s [{_clock(elapsed)}<{_clock(eta)}, "
            f"{rate:,.0f} {self.unit}s/s] {shown}")
    end = "\n" if (finished or not self.tty) else ""
    print(("\r" if self.tty else "") + line, end=end, file=self.stream, flush=True)
