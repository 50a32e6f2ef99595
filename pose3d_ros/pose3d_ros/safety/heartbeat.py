"""When the safety node's timer publishes: only after a period without any publication. While skeletons flow the
topic carries one message per input frame; when they stop, the timer's ``SafetyMonitor.check`` messages keep coming
at the period and turn into ``unknown`` once the data is too old, so silence is never mistaken for "clear".
"""

from __future__ import annotations


class Heartbeat:
    def __init__(self, period_s: float) -> None:
        if not period_s > 0:
            raise ValueError(f"the check period must be positive, not {period_s}")
        self.period_ns = round(period_s * 1e9)
        self._last_ns: int | None = None

    def published(self, now_ns: int) -> None:
        self._last_ns = int(now_ns)

    def due(self, now_ns: int) -> bool:
        """Whether nothing was published for a period (or ever)."""
        return self._last_ns is None or now_ns - self._last_ns >= self.period_ns
