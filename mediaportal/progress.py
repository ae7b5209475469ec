"""A plain progress line for long management commands (works in a terminal and in logs)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, *, label: str, stream=None, width: int = 30):
        self.total, self.label, self.width = total, label, width
        self.stream = stream or sys.stdout
        self.done = 0
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def advance(self, note: str = "", *, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        # Redraw at most 10 times a second on a terminal; every 5% in a log.
        if self._tty and now - self._last_draw < 0.1 and self.done < self.total:
            return
        if not self._tty and self.total and self.done % max(1, self.total // 20) and self.done < self.total:
            return
        self._last_draw = now
        filled = int(self.width * self.done / self.total) if self.total else self.width
        rate = self.done / max(now - self.started, 1e-6)
        line = f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} ({rate:.1f}/s) {note[:40]}"
        self.stream.write(("\r" + line + "\x1b[K") if self._tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()
