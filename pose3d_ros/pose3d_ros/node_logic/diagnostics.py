"""Per-stage statistics for diagnostic_msgs: rates, latency, drops and their levels."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

OK, WARN, ERROR, STALE = 0, 1, 2, 3

USE_FQN_PARAMETER = "diagnostic_updater.use_fqn"
"""diagnostic_updater's parameter: prefix status names with the node's namespace. The launch files set it for the
nodes of a namespaced pipeline, so that one pipeline per camera gives statuses that can be told apart."""
AUTO_STATUS = "auto"
"""safety_node's ``dropped_frames_status`` default: the 2D stage of its own namespace."""


def stage_status_name(kind: str, namespace: str, use_fqn: bool) -> str:
    """The /diagnostics status name of a pose3d_ros node ``kind`` (named as its executable, as the launch files
    name it): "<node>: <kind> stage", the node prefixed with its namespace under ``use_fqn`` as
    diagnostic_updater does it.
    """
    node = "/".join([namespace, kind]) if use_fqn else kind
    return f"{node}: {kind} stage"


def watched_drops_status(setting: str, namespace: str, use_fqn: bool) -> str | None:
    """The status whose drops safety_node watches, from its ``dropped_frames_status`` setting: :data:`AUTO_STATUS`
    = the 2D stage in the same namespace, named as safety_node's own updater would name it (the launch files give
    every node of a pipeline the same ``use_fqn``); empty = none; anything else is taken as it is.
    """
    if setting == AUTO_STATUS:
        return stage_status_name("keypoints2d_node", namespace, use_fqn)
    return setting or None


@dataclass(frozen=True)
class StageReport:
    level: int
    message: str
    values: dict[str, str]


@dataclass
class StageMonitor:
    """Input/output rates, processing latency, drops and errors over a sliding window, for diagnostics.

    Thread-safe; times are monotonic seconds (``time.monotonic`` unless given).
    """

    window_s: float = 5.0
    max_latency_s: float = 0.5
    max_drop_ratio: float = 0.5
    stale_s: float = 2.0
    _inputs: deque = field(default_factory=deque)
    _outputs: deque = field(default_factory=deque)
    _drops: deque = field(default_factory=deque)
    _errors: deque = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    total_inputs: int = 0
    total_outputs: int = 0
    total_dropped: int = 0
    total_errors: int = 0
    last_error: str = ""
    errors_by_kind: Counter = field(default_factory=Counter)
    """Failed frames by :func:`error_kind`, since configuration."""
    events: dict = field(default_factory=dict)
    """The stage's own counts (clock jumps, duplicate stamps, people given up), latest snapshot."""

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.stale_s <= 0 or self.max_latency_s <= 0:
            raise ValueError("diagnostics window_s, stale_s and max_latency_s must be positive")
        if not 0.0 <= self.max_drop_ratio <= 1.0:
            raise ValueError("diagnostics.max_drop_ratio must lie in [0, 1]")

    @staticmethod
    def _now(now: float | None) -> float:
        return time.monotonic() if now is None else now

    def record_input(self, now: float | None = None) -> None:
        with self._lock:
            self._inputs.append(self._now(now))
            self.total_inputs += 1

    def record_output(self, latency_s: float, now: float | None = None) -> None:
        """A processed frame; ``latency_s`` from the input's arrival (or its stamp) to publication."""
        with self._lock:
            self._outputs.append((self._now(now), float(latency_s)))
            self.total_outputs += 1

    def record_drop(self, count: int = 1, now: float | None = None) -> None:
        with self._lock:
            self._drops.extend([self._now(now)] * count)
            self.total_dropped += count

    def record_error(self, message: str, now: float | None = None, kind: str | None = None) -> None:
        with self._lock:
            self._errors.append(self._now(now))
            self.total_errors += 1
            self.last_error = message
            self.errors_by_kind[kind or "error"] += 1

    def record_events(self, counts: Mapping[str, int]) -> None:
        """The stage's own event counts so far (e.g. TemporalFrames.events), reported as ``event: <name>``."""
        with self._lock:
            self.events = {name: int(count) for name, count in counts.items() if count}

    def report(self, now: float | None = None, active: bool = True) -> StageReport:
        now = self._now(now)
        with self._lock:
            start = now - self.window_s
            for events in (self._inputs, self._drops, self._errors):
                while events and events[0] < start:
                    events.popleft()
            while self._outputs and self._outputs[0][0] < start:
                self._outputs.popleft()
            inputs, drops, errors = len(self._inputs), len(self._drops), len(self._errors)
            latencies = np.array([latency for _, latency in self._outputs])
            last_input = self._inputs[-1] if self._inputs else None
            values = {
                "input rate (Hz)": f"{inputs / self.window_s:.2f}",
                "output rate (Hz)": f"{len(latencies) / self.window_s:.2f}",
                "mean latency (ms)": f"{1e3 * latencies.mean():.1f}" if len(latencies) else "n/a",
                "max latency (ms)": f"{1e3 * latencies.max():.1f}" if len(latencies) else "n/a",
                "dropped in window": str(drops),
                "errors in window": str(errors),
                "total inputs": str(self.total_inputs),
                "total outputs": str(self.total_outputs),
                "total dropped": str(self.total_dropped),
                "total errors": str(self.total_errors),
            }
            if self.last_error:
                values["last error"] = self.last_error
            values.update({f"errors: {kind}": str(count) for kind, count in self.errors_by_kind.items()})
            values.update({f"event: {name}": str(count) for name, count in sorted(self.events.items())})
        if not active:
            return StageReport(OK, "inactive", values)
        if errors:
            return StageReport(ERROR, f"{errors} frames failed in the last {self.window_s:g} s: {self.last_error}",
                               values)
        if last_input is None or now - last_input > self.stale_s:
            return StageReport(WARN, f"no input for more than {self.stale_s:g} s", values)
        if drops and drops / max(inputs, 1) > self.max_drop_ratio:
            return StageReport(WARN, f"dropping {drops} of {inputs} frames: processing is slower than the input",
                               values)
        if len(latencies) and latencies.mean() > self.max_latency_s:
            return StageReport(WARN, f"mean latency {1e3 * latencies.mean():.0f} ms exceeds "
                               f"{1e3 * self.max_latency_s:.0f} ms", values)
        return StageReport(OK, "running", values)
