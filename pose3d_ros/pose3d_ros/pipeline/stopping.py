"""Ending a run early but cleanly, on SIGINT (Ctrl-C), SIGTERM (docker stop, systemd, timeout) or the live window.

The signal handler only records the request; the reading of the source checks it between frames (overlap.py), and
the frames already read and every output are then finished as at the end of the source, so they hold every frame
read so far. A second signal ends the process at once with the signal's default action (outputs not yet finished
stay under their temporary names).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

LOG = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Why a run should stop before the end of its source; false until something asks."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.signal: int | None = None
        """The signal that asked, if one did: the command exits with 128 + its number, as shells expect."""

    def __bool__(self) -> bool:
        return self.reason is not None

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def _on_signal(self, signum: int, _frame) -> None:
        if self.signal is not None:  # asked twice: do what the signal does by default, now
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signal = signum
        self.request(signal.Signals(signum).name)
        LOG.warning("%s: stopping: finishing the frames read and the outputs (send it again to stop at once)",
                    signal.Signals(signum).name)

    @contextmanager
    def on_signals(self) -> Iterator[StopRequest]:
        """SIGINT and SIGTERM set this request while the block runs (in the main thread; Python delivers signals
        only there), and the previous handlers come back after it.
        """
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {signum: signal.signal(signum, self._on_signal) for signum in STOP_SIGNALS}
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
