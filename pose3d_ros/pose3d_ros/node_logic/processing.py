"""A node's processing thread: the newest-frame hand-off, skipping and counting a frame that fails, and the order of
clean-up and exit status on a signal.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from pose3d_ros.node_logic.diagnostics import StageMonitor


class LatestSlot:
    """One-frame mailbox between a subscription callback and the processing thread.

    ``put`` never blocks; a frame that is replaced before it was taken is a drop (counted), so the worker always
    processes the newest frame and latency never builds up in a queue.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._closed = False
        self.dropped = 0

    def put(self, item: Any) -> bool:
        """Store ``item``; True when it replaced a frame that was never processed."""
        with self._cond:
            replaced = self._item is not None
            self.dropped += replaced
            self._item = item
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> Any:
        """The newest frame, waiting up to ``timeout`` s; None on timeout or once closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._item is not None or self._closed, timeout):
                return None
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._item = None
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False


_NUMBER = re.compile(r"(?<![\w.])[-+]?[0-9]+([.][0-9]+)?(e[-+]?[0-9]+)?")  # not the 2 of "WholeBody2D"


def error_kind(err: BaseException) -> str:
    """What kind of failure ``err`` is, to log each kind once: its type and message with the numbers (person ids,
    lengths, values) replaced by '#'.
    """
    return f"{type(err).__name__}: {_NUMBER.sub('#', str(err))}"[:160]


class StageLoop:
    """A node's processing thread, without ROS: subscription callbacks ``submit`` inputs (never blocking: a frame
    replaced before it was processed is a counted drop), and ``step`` processes the newest one.

    A frame whose processing raises (a malformed message's ValueError, a stage refusing its data) is skipped and
    counted in the monitor by :func:`error_kind`; the first frame of each kind is logged with ``log``, the others
    only counted, so that a publisher sending garbage at 200 Hz neither floods the log nor hides a new problem.
    """

    def __init__(self, process: Callable[..., bool], monitor: StageMonitor, log: Callable[[str], None],
                 slot: LatestSlot | None = None, alive: Callable[[], bool] = lambda: True) -> None:
        self.process, self.monitor, self.log, self.alive = process, monitor, log, alive
        self.slot = slot or LatestSlot()

    def submit(self, *messages: Any) -> None:
        self.monitor.record_input()
        if self.slot.put((time.monotonic(), messages)):
            self.monitor.record_drop()

    def step(self, timeout: float | None = 0.2) -> bool:
        """Process the newest input that arrives within ``timeout`` s; False when none came (or the slot closed)."""
        item = self.slot.take(timeout)
        if item is None:
            return False
        arrived, messages = item
        try:
            if self.process(*messages):
                self.monitor.record_output(time.monotonic() - arrived)
        except Exception as err:  # noqa: BLE001 - a bad frame is logged and counted, never fatal
            if not self.alive():  # the process is shutting down during this frame: nothing to report
                return False
            kind = error_kind(err)
            first = kind not in self.monitor.errors_by_kind
            self.monitor.record_error(str(err), kind=kind)
            if first:
                self.log(f"frame skipped: {err} (later frames failing the same way are counted in the "
                         f"diagnostics, not logged)")
        return True


def clean_up_steps(finalized: bool, context_ok: bool) -> tuple[str, ...]:
    """The node's methods to call, in order, when its process ends (a stop signal, or ROS shut down elsewhere).

    With ROS still running, the lifecycle shutdown transition (``trigger_shutdown``: the node's on_shutdown stops
    the worker and the subscriptions, calls ``stopped()`` when it was active -- temporal_node publishes what it
    holds, both skeleton nodes clear their markers -- and ``release()``), then ``destroy_node``. With the context
    already shut down nothing may publish: the worker is stopped and the models and publishers released without
    ``stopped()``. A node already finalized is only destroyed.
    """
    if finalized:
        return ("destroy_node",)
    if context_ok:
        return ("trigger_shutdown", "destroy_node")
    return ("stop_worker", "release", "destroy_node")


# Diagnostic levels, as in diagnostic_msgs/DiagnosticStatus.
