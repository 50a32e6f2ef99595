"""The 2D stage's driver: image in, COCO-WholeBody keypoints of every person out, whatever the MediaPipe backend."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from pose3d_ros.keypoints2d.image import to_rgb
from pose3d_ros.keypoints2d.mapping import MediaPipeLandmarks, to_wholebody
from pose3d_ros.keypoints2d.result import Keypoints2D

BACKENDS = ("holistic", "tasks")


@dataclass(frozen=True)
class StageTiming:
    """Where one call's time went: inside MediaPipe, and in the whole call (conversion + MediaPipe + mapping)."""

    mediapipe_s: float
    total_s: float

    @property
    def overhead_s(self) -> float:
        return self.total_s - self.mediapipe_s


class KeypointDetector(ABC):
    """``detector(image) -> Keypoints2D``; a context manager that releases the MediaPipe graphs on exit.

    Subclasses run MediaPipe (``_run``, the only part timed as MediaPipe's) and turn its output into arrays
    (``_extract``); conversion, mapping and the person ids are shared here.
    """

    backend: str

    def __init__(self) -> None:
        self.last_timing: StageTiming | None = None

    def __call__(self, image: np.ndarray, *, color_order: str = "bgr", timestamp_s: float | None = None
                 ) -> Keypoints2D:
        """Detect everyone in ``image`` (see ``to_rgb`` for the accepted formats; BGR unless told otherwise).

        ``timestamp_s`` is the frame's time in a stream; backends that track between frames need it to increase
        (when omitted, the wall clock is used). A frame with nobody gives an empty result.
        """
        start = time.perf_counter()
        rgb = to_rgb(image, color_order)
        height, width = rgb.shape[:2]
        before_mediapipe = time.perf_counter()
        raw = self._run(rgb, timestamp_s)
        mediapipe_s = time.perf_counter() - before_mediapipe
        landmarks = self._extract(raw, width, height)
        kp2d, conf = to_wholebody(landmarks, (width, height))
        result = Keypoints2D(kp2d, conf, self._person_ids(landmarks), (width, height))
        self.last_timing = StageTiming(mediapipe_s, time.perf_counter() - start)
        return result

    @abstractmethod
    def _run(self, rgb: np.ndarray, timestamp_s: float | None) -> Any:
        """Run MediaPipe on a contiguous RGB uint8 image; return its raw output."""

    @abstractmethod
    def _extract(self, raw: Any, width: int, height: int) -> MediaPipeLandmarks:
        """Raw MediaPipe output -> pixel arrays, one row per person."""

    @abstractmethod
    def _person_ids(self, landmarks: MediaPipeLandmarks) -> np.ndarray:
        """Ids (P,) for this frame's people."""

    @abstractmethod
    def close(self) -> None:
        """Release MediaPipe's graphs."""

    def __enter__(self) -> KeypointDetector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def create_detector(backend: str = "holistic", **options: Any) -> KeypointDetector:
    """Make a detector: ``holistic`` (single person, models bundled with mediapipe) or ``tasks`` (several people,
    needs the user's .task model files). ``options`` go to ``HolisticDetector`` or ``TasksDetector``.
    """
    if backend == "holistic":
        from pose3d_ros.keypoints2d.holistic import HolisticDetector

        return HolisticDetector(**options)
    if backend == "tasks":
        from pose3d_ros.keypoints2d.tasks import TasksDetector

        return TasksDetector(**options)
    raise ValueError(f"unknown 2D backend {backend!r}; expected one of {', '.join(BACKENDS)}")
