"""Backend ``holistic``: MediaPipe's legacy Holistic solution (one person; pose, face mesh and both hands).

Its models ship inside the mediapipe wheel except the pose models of model_complexity 0 and 2, which MediaPipe
would download at run time; this backend never downloads and says which file is missing instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pose3d_ros.keypoints2d.detector import KeypointDetector
from pose3d_ros.keypoints2d.mapping import FACE_MESH_USED, MediaPipeLandmarks

POSE_MODEL_FILES = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite", 2: "pose_landmark_heavy.tflite"}
_FACE_MESH_USED = FACE_MESH_USED.tolist()


def pose_model_path(model_complexity: int) -> Path:
    """The pose model file Holistic loads for ``model_complexity``; FileNotFoundError if it is not installed."""
    if model_complexity not in POSE_MODEL_FILES:
        raise ValueError(f"model_complexity must be 0, 1 or 2, got {model_complexity!r}")
    import mediapipe

    path = Path(mediapipe.__file__).parent / "modules" / "pose_landmark" / POSE_MODEL_FILES[model_complexity]
    if not path.is_file():
        raise FileNotFoundError(
            f"Holistic model_complexity={model_complexity} needs {path.name}, which the installed mediapipe does "
            f"not contain (looked for {path}). MediaPipe would download it at run time; pose3d_ros does not. Put "
            f"the file there yourself, or use model_complexity=1, whose model is bundled.")
    return path


class HolisticDetector(KeypointDetector):
    """One person per image (person id 0). ``static_image_mode`` for unrelated images, else frames of a stream
    (MediaPipe then tracks the person between frames, which is faster and steadier).
    """

    backend = "holistic"

    def __init__(self, *, static_image_mode: bool = False, model_complexity: int = 1, smooth_landmarks: bool = True,
                 refine_face_landmarks: bool = False, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5) -> None:
        super().__init__()
        pose_model_path(model_complexity)
        from mediapipe.python.solutions.holistic import Holistic

        self._holistic = Holistic(static_image_mode=static_image_mode, model_complexity=model_complexity,
                                  smooth_landmarks=smooth_landmarks, refine_face_landmarks=refine_face_landmarks,
                                  min_detection_confidence=min_detection_confidence,
                                  min_tracking_confidence=min_tracking_confidence)

    def _run(self, rgb: np.ndarray, timestamp_s: float | None) -> Any:
        if self._holistic is None:
            raise RuntimeError("this Holistic detector has been closed")
        return self._holistic.process(rgb)

    def _extract(self, raw: Any, width: int, height: int) -> MediaPipeLandmarks:
        if raw.pose_landmarks is None:
            return MediaPipeLandmarks.allocate(0)
        out = MediaPipeLandmarks.allocate(1)
        scale = np.array([width, height], np.float32)
        out.pose[0] = [(p.x * width, p.y * height, p.z * width, p.visibility) for p in raw.pose_landmarks.landmark]
        if raw.face_landmarks is not None:
            mesh = raw.face_landmarks.landmark
            out.face[0, FACE_MESH_USED] = np.array([(mesh[i].x, mesh[i].y) for i in _FACE_MESH_USED]) * scale
            out.face_found[0] = True
        for side, hand in enumerate((raw.left_hand_landmarks, raw.right_hand_landmarks)):
            if hand is not None:
                out.hands[0, side] = np.array([(p.x, p.y) for p in hand.landmark]) * scale
                out.hands_found[0, side] = True
        return out

    def _person_ids(self, raw: Any, landmarks: MediaPipeLandmarks) -> np.ndarray:
        return np.zeros(landmarks.num_people, np.int64)

    def close(self) -> None:
        if self._holistic is not None:
            self._holistic.close()
            self._holistic = None
