"""What the monitor learns from the pipeline's other stages: the frames the 2D stage dropped, read from its
diagnostics (``pose3d_ros.node_logic.StageMonitor``'s running total "total dropped", once a second), as the count
since the previous skeleton message that ``SafetyMonitor.update(..., dropped_frames=)`` takes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

TOTAL_DROPPED = "total dropped"


class StageDrops:
    """Counts the frames one stage dropped, from the diagnostic status named ``status_name``.

    The first reading is the baseline (drops before the monitor started say nothing about now); a total that goes
    down means the stage restarted, and its new total is all new drops. Thread-safe: diagnostics arrive on the
    executor, skeletons are processed on the node's worker.
    """

    def __init__(self, status_name: str) -> None:
        self.status_name = status_name
        self._total: int | None = None
        self._pending = 0
        self._lock = threading.Lock()

    def read(self, name: str, values: Mapping[str, str]) -> None:
        """One diagnostic status (its name and key/values); statuses of other stages are ignored."""
        if name != self.status_name or TOTAL_DROPPED not in values:
            return
        total = int(values[TOTAL_DROPPED])
        with self._lock:
            if self._total is not None:
                self._pending += total - self._total if total >= self._total else total
            self._total = total

    def take(self) -> int:
        """The drops read since the previous call."""
        with self._lock:
            dropped, self._pending = self._pending, 0
            return dropped
