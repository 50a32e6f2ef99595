"""The 2D stage beside the rest: reading, 2D keypoints and the run loop in three threads, bounded buffers between.

Why: on a CPU the 2D models take most of a frame's time, and the run loop (lift, temporal step, writing,
rendering) would otherwise wait for them. LiteRT, torch and OpenCV release the GIL in their native work, so while
the 2D stage works on frame t + 1 the loop lifts, refines and writes frame t, and the reader decodes frame t + 2.

* reader thread: the source's frames (up to ``max_frames``) into a :class:`FrameBuffer`. A live source (a camera)
  does not wait for the pipeline: its buffer holds the newest frame, and a frame the 2D stage had no time for is
  dropped and counted (``dropped``); any other source waits, so a file or a recording never loses a frame to speed.
* 2D thread: :class:`DetectionStep` on each frame, into a second buffer that the run loop reads; when the loop is
  slower than the 2D stage this buffer fills and the 2D thread waits (the reader then drops, or waits).
* A stop request (signal, q in the live window) ends the reading; the frames already read are still finished.

:class:`Detections` gives the same :class:`Detected` items one after the other in the caller's thread when
``overlap`` is False: the same steps in the same order, so that both give the same skeletons.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from .sources import Frame, FrameSource

BUFFER_FRAMES = 2
"""Frames each buffer holds: enough to keep both threads busy, few enough to add little latency. A live source's
buffer holds one, its newest frame."""


@dataclass
class Detected:
    """One frame read from the source, after the 2D stage (or the reason it did not get there)."""

    frame: Frame
    read_s: float
    """``time.perf_counter()`` when the frame was read."""
    keypoints: Any = None
    started_s: float = float("nan")
    """When the 2D stage took it: where its latency is counted from (a file is read ahead, a camera's newest frame
    waits at most for the frame in the 2D stage)."""
    detected_s: float = float("nan")
    """``time.perf_counter()`` when the 2D stage was done with it."""
    refused: str | None = None
    """The 2D stage's error message, when it refused the frame."""
    out_of_order: bool = False
    """Its stamp is not after the previous frame's: it was not given to the 2D stage."""


class DetectionStep:
    """The part of a frame's processing that comes before the run loop: the stamp check, then the 2D stage.

    Rows, messages and the temporal stage are keyed by stamp and a tracking 2D stage needs increasing times, so a
    repeated or earlier stamp (a driver's duplicate, a recording that loops) is not detected but reported.
    """

    def __init__(self, detect) -> None:
        self.detect = detect
        self.seconds = 0.0
        """Time spent in the 2D stage."""
        self._last_stamp_ns: int | None = None

    def __call__(self, frame: Frame, read_s: float) -> Detected:
        if self._last_stamp_ns is not None and frame.stamp_ns <= self._last_stamp_ns:
            return Detected(frame, read_s, out_of_order=True)
        self._last_stamp_ns = frame.stamp_ns
        start = time.perf_counter()
        try:
            keypoints = self.detect(frame.image, frame.stamp_ns)
        except ValueError as err:  # the stage refused this frame's data: skipped, like a node would
            return Detected(frame, read_s, refused=str(err))
        finally:
            self.seconds += time.perf_counter() - start
        return Detected(frame, read_s, keypoints, start, time.perf_counter())


class FrameBuffer:
    """A bounded first-in first-out buffer between two threads.

    ``drop_oldest``: ``put`` on a full buffer drops the oldest item (counted in ``dropped``) instead of waiting.
    ``finish`` says nothing more will come; ``cancel`` wakes and ends both sides at once.
    """

    END = object()

    def __init__(self, capacity: int, drop_oldest: bool = False) -> None:
        self.capacity, self.drop_oldest = capacity, drop_oldest
        self.dropped = 0
        self._items: deque = deque()
        self._finished = self._cancelled = False
        self._changed = threading.Condition()

    def put(self, item) -> bool:
        """Add an item; False once the buffer is cancelled (the producer should stop)."""
        with self._changed:
            while len(self._items) >= self.capacity and not self._cancelled:
                if self.drop_oldest:
                    self._items.popleft()
                    self.dropped += 1
                    break
                self._changed.wait()
            if self._cancelled:
                return False
            self._items.append(item)
            self._changed.notify_all()
            return True

    def __len__(self) -> int:
        return len(self._items)

    def get(self):
        """The oldest item, waiting for one; :attr:`END` once finished and empty, or cancelled."""
        with self._changed:
            while not self._items and not (self._finished or self._cancelled):
                self._changed.wait()
            if self._cancelled or not self._items:
                return self.END
            item = self._items.popleft()
            self._changed.notify_all()
            return item

    def finish(self) -> None:
        with self._changed:
            self._finished = True
            self._changed.notify_all()

    def cancel(self) -> None:
        with self._changed:
            self._cancelled = True
            self._items.clear()
            self._changed.notify_all()


class _Failure:
    """An exception raised in a thread, carried to the run loop, which raises it."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Detections:
    """The source's frames through a :class:`DetectionStep`, in order, until the source ends or ``stop`` is true;
    a context manager (leaving it, even by an error, ends and joins the threads).

    Without ``overlap``, each frame is read and detected when the loop asks for the next one, and ``stop`` is checked
    after the loop has processed a frame, before the next is read. With it, see the module docstring.
    """

    def __init__(self, source: FrameSource, step: DetectionStep, stop, *, max_frames: int | None,
                 overlap: bool) -> None:
        self.frames, self.step, self.stop, self.overlap = islice(source, max_frames), step, stop, overlap
        self.read = FrameBuffer(1, drop_oldest=True) if source.live else FrameBuffer(BUFFER_FRAMES)
        self.detected = FrameBuffer(BUFFER_FRAMES)
        self._threads = [threading.Thread(target=self._reader, name="pose3d-read", daemon=True),
                         threading.Thread(target=self._detector, name="pose3d-2d", daemon=True)] if overlap else []

    @property
    def dropped(self) -> int:
        """Frames of a live source dropped because the pipeline was busy."""
        return self.read.dropped

    def __enter__(self) -> Detections:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.read.cancel()
        self.detected.cancel()
        for thread in self._threads:
            thread.join()

    def __iter__(self) -> Iterator[Detected]:
        if not self.overlap:
            for frame in self.frames:
                yield self.step(frame, time.perf_counter())
                if self.stop:
                    return
            return
        while (item := self.detected.get()) is not FrameBuffer.END:
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def _reader(self) -> None:
        try:
            for frame in self.frames:
                if not self.read.put((frame, time.perf_counter())) or self.stop:
                    break
        except BaseException as err:  # noqa: BLE001 -- carried to the run loop, which raises it
            self.read.put(_Failure(err))
        finally:
            self.read.finish()

    def _detector(self) -> None:
        try:
            while (item := self.read.get()) is not FrameBuffer.END:
                result = item if isinstance(item, _Failure) else self.step(*item)
                if not self.detected.put(result) or isinstance(result, _Failure):
                    break
        except BaseException as err:  # noqa: BLE001 -- carried to the run loop, which raises it
            self.detected.put(_Failure(err))
        finally:
            self.detected.finish()
