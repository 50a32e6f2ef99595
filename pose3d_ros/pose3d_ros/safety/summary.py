"""What a stream of safety reports amounted to: time in each state per object, the nearest approach, NaN joints."""

from __future__ import annotations

import numpy as np

from .monitor import SafetyReport
from .states import SafetyState, UnknownCause


class SafetySummary:
    """Accumulates reports in order. Each report's states last until the next report's image stamp; the last one
    lasts ``frame_interval_s`` (the source's frame period).
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.seconds = np.zeros((len(names), len(SafetyState)))
        self.nearest = np.full(len(names), np.inf)
        self.causes = np.zeros(len(names), np.uint16)
        self.nan_joints = 0
        self.reports = 0
        self._previous: SafetyReport | None = None

    def add(self, report: SafetyReport) -> None:
        if self._previous is not None:
            self._count(self._previous, (report.image_stamp_ns - self._previous.image_stamp_ns) / 1e9)
        self._previous = report
        self.nearest = np.fmin(self.nearest, report.distance)
        self.causes |= report.causes
        self.nan_joints += report.nan_joints
        self.reports += 1

    def finish(self, frame_interval_s: float) -> None:
        if self._previous is not None:
            self._count(self._previous, frame_interval_s)
            self._previous = None

    def _count(self, report: SafetyReport, seconds: float) -> None:
        self.seconds[np.arange(len(self.names)), report.state] += max(seconds, 0.0)

    def to_dict(self) -> dict:
        return {
            "objects": {
                name: {"seconds": {state.name.lower(): float(self.seconds[o, state]) for state in SafetyState},
                       "nearest_m": None if not np.isfinite(self.nearest[o]) else float(self.nearest[o]),
                       "unknown_causes": [cause.name.lower() for cause in UnknownCause
                                          if self.causes[o] & cause]}
                for o, name in enumerate(self.names)},
            "reports": self.reports, "nan_joints": self.nan_joints,
        }

    def lines(self) -> list[str]:
        """One line per object for the run's printed summary."""
        width = max(len(name) for name in self.names)
        out = []
        for o, name in enumerate(self.names):
            times = " | ".join(f"{state.name.lower()} {self.seconds[o, state]:.1f} s" for state in SafetyState)
            nearest = f"nearest {self.nearest[o]:.2f} m" if np.isfinite(self.nearest[o]) else "nobody measured"
            causes = [cause.name.lower() for cause in UnknownCause if self.causes[o] & cause]
            out.append(f"{name:<{width}}  {times}  ({nearest}" + (f"; unknown: {', '.join(causes)})" if causes
                                                                  else ")"))
        if self.nan_joints:
            out.append(f"{self.nan_joints} monitored joints with NaN positions were ignored")
        return out
