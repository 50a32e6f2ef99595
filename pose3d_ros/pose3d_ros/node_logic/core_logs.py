"""The core's Python log records, forwarded to a node's ROS logger."""

from __future__ import annotations

import logging
from typing import Any


class ForwardToNodeLogger(logging.Handler):
    """Forwards the core's Python log records (``pose3d_ros.*``: a CUDA fallback, a refiner giving up on a person,
    an unsupported distortion model) to a node's logger, so that they reach /rosout with the node's name instead of
    bypassing ROS logging. ``target`` has rclpy's logger methods: debug, info, warning, error.
    """

    def __init__(self, target: Any):
        super().__init__()
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        # One call per severity on its own line: rclpy keys a log call by its call site and refuses ("Logger
        # severity cannot be changed between calls") a site that logs at another severity than the first time.
        try:
            message = f"{record.name}: {record.getMessage()}"
            if record.levelno >= logging.ERROR:
                self.target.error(message)
            elif record.levelno >= logging.WARNING:
                self.target.warning(message)
            elif record.levelno >= logging.INFO:
                self.target.info(message)
            else:
                self.target.debug(message)
        except Exception:  # noqa: BLE001 -- logging must never break the stage
            self.handleError(record)


def forward_core_logs(target: Any, level: int = logging.INFO) -> ForwardToNodeLogger:
    """Route the ``pose3d_ros`` loggers to ``target`` (a node's logger) instead of Python's default stderr; the
    last node created in a process gets them.

    The core's module loggers reach the handler by propagation, which ``launch`` turns off: after ``import launch``
    every new logger is a ``LaunchLogger`` with ``propagate = False`` (launch_testing runs launch inside the
    pytest process of ``colcon test``). It is turned back on for the core's loggers that exist.
    """
    handler = ForwardToNodeLogger(target)
    propagate_again(("pose3d_ros",))
    core = logging.getLogger("pose3d_ros")
    for previous in [h for h in core.handlers if isinstance(h, ForwardToNodeLogger)]:
        core.removeHandler(previous)
    core.addHandler(handler)
    core.setLevel(level)
    core.propagate = False
    return handler


def propagate_again(roots: tuple[str, ...]) -> None:
    """Turn propagation back on for the existing loggers named under ``roots`` (e.g. "pose3d_ros"): after
    ``import launch`` every new logger is a ``LaunchLogger`` with ``propagate = False``.
    """
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.split(".")[0] in roots and isinstance(logger, logging.Logger):
            logger.propagate = True
