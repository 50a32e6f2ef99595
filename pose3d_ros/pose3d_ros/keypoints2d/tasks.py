"""Backend ``tasks``: MediaPipe Tasks PoseLandmarker + HandLandmarker + FaceLandmarker, several people per image.

The three .task model files are not part of the mediapipe wheel and nothing is downloaded at run time: the user
gives a directory holding them (``model_dir``) and/or each file's path. Hands and faces are given to people by
``tracking.associate_parts``; person ids come from ``tracking.PersonTracker``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from pose3d_ros.keypoints2d.detector import KeypointDetector
from pose3d_ros.keypoints2d.mapping import BODY_FROM_POSE, FACE_MESH_USED, FACE_NOSE_TIP_VERTEX, MediaPipeLandmarks
from pose3d_ros.keypoints2d.tracking import NUM_BODY_KEYPOINTS, PersonTracker, associate_parts

log = logging.getLogger(__name__)

TRACKED_VISIBILITY = 0.5
"""Pose landmarks above this visibility make the box the tracker follows."""
_COCO_BODY_LANDMARKS = [landmark for _, landmark in BODY_FROM_POSE[:NUM_BODY_KEYPOINTS]]  # COCO body 0..16

# Model file names as Google publishes them, in order of preference when a directory holds several.
TASK_MODEL_NAMES = {
    "pose": ("pose_landmarker_full.task", "pose_landmarker_heavy.task", "pose_landmarker_lite.task"),
    "hand": ("hand_landmarker.task",),
    "face": ("face_landmarker.task",),
}


def find_task_models(model_dir: str | Path | None = None, *, pose_model: str | Path | None = None,
                     hand_model: str | Path | None = None, face_model: str | Path | None = None) -> dict[str, Path]:
    """Resolve the pose, hand and face .task files: an explicit path wins, else the first known name in ``model_dir``.

    Raises FileNotFoundError listing every model that is missing and where it was looked for.
    """
    explicit = {"pose": pose_model, "hand": hand_model, "face": face_model}
    found: dict[str, Path] = {}
    missing = []
    for kind, names in TASK_MODEL_NAMES.items():
        if explicit[kind] is not None:
            candidates = [Path(explicit[kind]).expanduser()]
        elif model_dir is not None:
            candidates = [Path(model_dir).expanduser() / name for name in names]
        else:
            missing.append(f"{kind} model: no path given ({kind}_model) and no model_dir to look in")
            continue
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            missing.append(f"{kind} model: looked for {', '.join(str(c) for c in candidates)}")
        else:
            found[kind] = path
    if missing:
        raise FileNotFoundError("the tasks backend needs three MediaPipe .task files (see docs/keypoints2d.md for "
                                "where to get them); missing:\n  " + "\n  ".join(missing))
    return found


def _xy(landmarks: list, width: int, height: int) -> np.ndarray:
    return np.array([(p.x * width, p.y * height) for p in landmarks], np.float32).reshape(-1, 2)


def landmarks_from_tasks(pose_result: Any, hand_result: Any, face_result: Any, width: int, height: int
                         ) -> MediaPipeLandmarks:
    """The three landmarkers' results for one image -> one row per detected pose, with its hands and face."""
    poses = pose_result.pose_landmarks
    out = MediaPipeLandmarks.allocate(len(poses))
    for person, pose in enumerate(poses):
        out.pose[person] = [(p.x * width, p.y * height, p.z * width, p.visibility or 0.0) for p in pose]
    hands = [_xy(hand, width, height) for hand in hand_result.hand_landmarks]
    faces = face_result.face_landmarks
    noses = [(face[FACE_NOSE_TIP_VERTEX].x * width, face[FACE_NOSE_TIP_VERTEX].y * height) for face in faces]
    hand_index, face_index = associate_parts(out.pose[..., :2], np.reshape([h[0] for h in hands], (-1, 2)),
                                             np.reshape(noses, (-1, 2)))
    for person, side in zip(*np.nonzero(hand_index >= 0), strict=True):
        out.hands[person, side] = hands[hand_index[person, side]]
        out.hands_found[person, side] = True
    for person in np.flatnonzero(face_index >= 0):
        mesh = faces[face_index[person]]
        out.face[person, FACE_MESH_USED] = _xy([mesh[i] for i in FACE_MESH_USED], width, height)
        out.face_found[person] = True
    return out


class TasksDetector(KeypointDetector):
    """Several people per image with MediaPipe Tasks; ids stable across the frames of a stream.

    ``static_image_mode`` treats every call as an unrelated image (ids 0..P-1); otherwise the landmarkers run in
    VIDEO mode (tracking between frames) and need increasing timestamps.
    """

    backend = "tasks"

    def __init__(self, model_dir: str | Path | None = None, *, pose_model: str | Path | None = None,
                 hand_model: str | Path | None = None, face_model: str | Path | None = None, max_people: int = 4,
                 static_image_mode: bool = False, min_detection_confidence: float = 0.5,
                 min_presence_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        super().__init__()
        paths = find_task_models(model_dir, pose_model=pose_model, hand_model=hand_model, face_model=face_model)
        if max_people < 1:
            raise ValueError(f"max_people must be at least 1, got {max_people}")
        log.info("MediaPipe Tasks models: %s", ", ".join(f"{k} {p}" for k, p in paths.items()))
        from mediapipe.tasks.python import BaseOptions, vision

        self._static = static_image_mode
        mode = vision.RunningMode.IMAGE if static_image_mode else vision.RunningMode.VIDEO

        common = dict(running_mode=mode, min_tracking_confidence=min_tracking_confidence)
        options = {
            "pose": (vision.PoseLandmarker, vision.PoseLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=str(paths["pose"])), num_poses=max_people,
                min_pose_detection_confidence=min_detection_confidence,
                min_pose_presence_confidence=min_presence_confidence, **common)),
            "hand": (vision.HandLandmarker, vision.HandLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=str(paths["hand"])), num_hands=2 * max_people,
                min_hand_detection_confidence=min_detection_confidence,
                min_hand_presence_confidence=min_presence_confidence, **common)),
            "face": (vision.FaceLandmarker, vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=str(paths["face"])), num_faces=max_people,
                min_face_detection_confidence=min_detection_confidence,
                min_face_presence_confidence=min_presence_confidence, **common)),
        }
        self._landmarkers = []
        for kind, (landmarker, landmarker_options) in options.items():
            try:
                self._landmarkers.append(landmarker.create_from_options(landmarker_options))
            except (RuntimeError, ValueError) as err:  # MediaPipe's message does not name the file
                self.close()
                raise ValueError(f"cannot load the {kind} model {paths[kind]}: {err}") from err
        self._tracker = PersonTracker()
        self._last_timestamp_ms = -1

    def _timestamp_ms(self, timestamp_s: float | None) -> int:
        """Strictly increasing milliseconds, as VIDEO mode demands, from the frame's stamp or the clock."""
        stamp = time.monotonic() if timestamp_s is None else timestamp_s
        self._last_timestamp_ms = max(int(round(stamp * 1000)), self._last_timestamp_ms + 1)
        return self._last_timestamp_ms

    def _run(self, rgb: np.ndarray, timestamp_s: float | None) -> Any:
        if not self._landmarkers:
            raise RuntimeError("this Tasks detector has been closed")
        import mediapipe as mp

        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        if self._static:
            return [landmarker.detect(image) for landmarker in self._landmarkers]
        stamp = self._timestamp_ms(timestamp_s)
        return [landmarker.detect_for_video(image, stamp) for landmarker in self._landmarkers]

    def _extract(self, raw: Any, width: int, height: int) -> MediaPipeLandmarks:
        return landmarks_from_tasks(*raw, width, height)

    def _person_ids(self, raw: Any, landmarks: MediaPipeLandmarks) -> np.ndarray:
        if self._static:
            return np.arange(landmarks.num_people, dtype=np.int64)
        # The box of the landmarks the model sees: it extrapolates a body cut off by the frame far beyond it,
        # differently each frame, and the tracker compares box heights.
        xy = landmarks.pose[..., :2]
        seen = landmarks.pose[..., 3:] > TRACKED_VISIBILITY
        seen |= ~seen.any(axis=1, keepdims=True)  # nobody invisible: then the box of them all
        boxes = np.concatenate([np.where(seen, xy, np.inf).min(axis=1), np.where(seen, xy, -np.inf).max(axis=1)],
                               axis=-1)
        body = landmarks.pose[:, _COCO_BODY_LANDMARKS]
        return self._tracker.update(boxes, body[..., :2], body[..., 3], self._last_timestamp_ms / 1000)

    def close(self) -> None:
        for landmarker in self._landmarkers:
            landmarker.close()
        self._landmarkers = []

