"""The safety node's diagnostic status: how old its data is end to end (image stamp -> publication), and what it
last said.

The age is the number the reaction time T_r of the separation distance must cover (docs/safety.md): camera,
2D, lifting, the temporal stage's look-ahead, transport and the monitor itself. It is measured on the messages
published for input frames; the timer's messages repeat an old frame and would only measure the silence.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from pose3d_ros.node_logic.diagnostics import OK, WARN, StageReport

from .monitor import SafetyReport
from .states import SafetyState, UnknownCause


class SafetyDiagnostics:
    """End-to-end ages over a sliding window and the newest report, as a :class:`StageReport`. Thread-safe."""

    def __init__(self, window_s: float = 5.0) -> None:
        if not window_s > 0:
            raise ValueError(f"the diagnostics window must be positive, not {window_s}")
        self.window_ns = round(window_s * 1e9)
        self._ages: deque[tuple[int, int]] = deque()  # (published at, image age) ns
        self._last: SafetyReport | None = None
        self._lock = threading.Lock()

    def record(self, report: SafetyReport, now_ns: int, for_input: bool) -> None:
        """A published report; ``for_input``: published for a skeleton message (not by the timer)."""
        with self._lock:
            self._last = report
            if for_input and report.image_stamp_ns:
                self._ages.append((int(now_ns), int(now_ns) - report.image_stamp_ns))

    def ages_ms(self, now_ns: int) -> np.ndarray:
        """End-to-end ages (ms) of the input frames published within the window."""
        with self._lock:
            while self._ages and self._ages[0][0] < now_ns - self.window_ns:
                self._ages.popleft()
            return np.array([age for _, age in self._ages], dtype=np.float64) / 1e6

    def report(self, now_ns: int) -> StageReport:
        ages = self.ages_ms(now_ns)
        with self._lock:
            last = self._last
        values = {
            "end-to-end age p50 (ms)": f"{np.median(ages):.0f}" if len(ages) else "n/a",
            "end-to-end age p95 (ms)": f"{np.percentile(ages, 95):.0f}" if len(ages) else "n/a",
            "end-to-end age max (ms)": f"{ages.max():.0f}" if len(ages) else "n/a",
            "frames in window": str(len(ages)),
        }
        if last is None:
            return StageReport(WARN, "nothing published yet", values)
        values["worst state"] = last.worst.name.lower()
        for o, name in enumerate(last.names):
            values[f"object {name}"] = describe(SafetyState(int(last.state[o])), UnknownCause(int(last.causes[o])))
        if last.worst == SafetyState.UNKNOWN:
            causes = UnknownCause(int(np.bitwise_or.reduce(last.causes)))
            return StageReport(WARN, f"unknown: {cause_names(causes)}", values)
        return StageReport(OK, f"monitoring, worst state {last.worst.name.lower()}", values)


def cause_names(causes: UnknownCause) -> str:
    return ", ".join(cause.name.lower() for cause in UnknownCause if cause in causes)


def describe(state: SafetyState, causes: UnknownCause) -> str:
    return f"{state.name.lower()} ({cause_names(causes)})" if causes else state.name.lower()
