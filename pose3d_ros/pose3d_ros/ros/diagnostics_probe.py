"""``pose3d bench ros``'s ear on the graph: /diagnostics into a :class:`pose3d_ros.graph_bench.DiagnosticsWindow`.

Only message conversion lives here; the accounting is in pose3d_ros.graph_bench.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor

from pose3d_ros.graph_bench import DiagnosticsWindow, StageStatus


@contextmanager
def diagnostics_probe(window: DiagnosticsWindow) -> Iterator[Callable[[float], None]]:
    """A node that feeds every /diagnostics status into ``window``; yields ``spin(seconds)``, which processes the
    messages for that long (the caller's wait).
    """
    rclpy.init()
    node = rclpy.create_node("pose3d_bench_ros")
    executor = SingleThreadedExecutor()
    executor.add_node(node)

    def received(msg: DiagnosticArray) -> None:
        now = time.monotonic()
        for status in msg.status:
            window.add(status.name, StageStatus(now, int.from_bytes(status.level, "little")
                                                if isinstance(status.level, bytes) else int(status.level),
                                                status.message, {kv.key: kv.value for kv in status.values}))

    node.create_subscription(DiagnosticArray, "/diagnostics", received, 50)

    def spin(seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            executor.spin_once(timeout_sec=min(left, 0.1))

    try:
        yield spin
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown()
