"""Progress of a batch on stderr: files done/total, documents per second, ETA, failures.

`auto`: a bar redrawn in place when stderr is a terminal, else only the closing line; `json`:
one JSON object a line (`start`, `progress` at most twice a second, `done`); `none`: quiet."""

from __future__ import annotations

import json
import sys
import time

MODES = ("auto", "json", "none")


class Progress:
    def __init__(self, mode: str = "auto", stream=None):
        self.stream = stream if stream is not None else sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "quiet"
        self.mode = mode
        self.total = self.already = self.done = self.failed = 0
        self._t0 = self._last = 0.0

    def start(self, total: int, already: int, failed: int, backend: str, workers: int) -> None:
        self.total, self.already, self.done, self.failed = total, already, already, failed
        self._t0 = time.monotonic()
        self._emit({"event": "start", "total": total, "already_done": already,
                    "todo": total - already, "backend": backend, "workers": workers})

    def row(self, row: dict) -> None:
        self.done += 1
        self.failed += row.get("status") == "failed"
        now = time.monotonic()
        if now - self._last >= 0.5 or self.done == self.total:
            self._last = now
            self._emit(self.state("progress"))

    def state(self, event: str) -> dict:
        elapsed = time.monotonic() - self._t0
        new = self.done - self.already
        rate = new / elapsed if elapsed > 0 and new else 0.0
        left = self.total - self.done
        return {"event": event, "done": self.done, "total": self.total, "failed": self.failed,
                "docs_per_s": round(rate, 3),
                "eta_s": round(left / rate, 1) if rate else None,
                "elapsed_s": round(elapsed, 3)}

    def finish(self, rows: int, failed: int, out: str) -> None:
        state = self.state("done")
        state.update(rows=rows, failed=failed, out=out)
        if self.mode == "json":
            self._emit(state)
            return
        if self.mode == "none":
            return
        self._clear()
        print(f"albert-lens batch: {rows} documents in {out}"
              + (f", {failed} failed (their rows say why)" if failed else "")
              + f"; {state['done'] - self.already} analysed in {state['elapsed_s']:.1f} s",
              file=self.stream)

    def note(self, event: dict, line: str) -> None:
        """A fact about the run: an event of its own in JSON, a line on a terminal."""
        if self.mode == "json":
            self._emit(event)
        elif self.mode == "bar":
            self.say(line)

    def say(self, line: str) -> None:
        if self.mode == "json":
            self._emit({"event": "message", "message": line})
        else:
            self._clear()
            print(line, file=self.stream)

    def _emit(self, state: dict) -> None:
        if self.mode == "json":
            self.stream.write(json.dumps(state) + "\n")
            self.stream.flush()
        elif self.mode == "bar" and state["event"] == "progress":
            eta = state["eta_s"]
            eta_text = "--:--" if eta is None else f"{int(eta) // 60}:{int(eta) % 60:02d}"
            width = 30
            filled = int(width * state["done"] / state["total"]) if state["total"] else width
            self.stream.write(f"\r\033[K[{'#' * filled}{'.' * (width - filled)}] "
                              f"{state['done']}/{state['total']} files  "
                              f"{state['docs_per_s']:.1f} docs/s  ETA {eta_text}  "
                              f"{state['failed']} failed")
            self.stream.flush()

    def _clear(self) -> None:
        if self.mode == "bar":
            self.stream.write("\r\033[K")
            self.stream.flush()
