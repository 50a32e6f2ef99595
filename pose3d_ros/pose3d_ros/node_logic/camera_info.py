"""Camera intrinsics from sensor_msgs/CameraInfo, undistortion of keypoints, and noticing when none arrives."""

from __future__ import annotations

from typing import Any

import numpy as np

SUPPORTED_DISTORTION = ("plumb_bob", "rational_polynomial", "equidistant")


def camera_matrix(k: Any, width: int, height: int) -> tuple[np.ndarray, bool]:
    """K (3, 3) from CameraInfo.k; (default intrinsics, True) when the camera is uncalibrated (K all zero)."""
    from pose3d_ros.camera import default_intrinsics

    matrix = np.asarray(k, dtype=np.float64).reshape(3, 3)
    if not np.isfinite(matrix).all() or matrix[0, 0] <= 0 or matrix[1, 1] <= 0:
        if width <= 0 or height <= 0:
            raise ValueError(f"CameraInfo has neither intrinsics nor an image size ({width}x{height})")
        return default_intrinsics(width, height), True
    return matrix, False


def undistort_keypoints(kp2d: np.ndarray, K: np.ndarray, distortion: Any, model: str) -> np.ndarray:
    """Pixels of the ideal pinhole camera K (what the lifter assumes) from raw pixels (P, J, 2)."""
    import cv2

    d = np.asarray(distortion, dtype=np.float64).reshape(-1)
    kp2d = np.asarray(kp2d, dtype=np.float64)
    if kp2d.size == 0 or not np.any(d):
        return kp2d.astype(np.float32)
    points = kp2d.reshape(-1, 1, 2)
    if model in ("plumb_bob", "rational_polynomial"):
        out = cv2.undistortPoints(points, K, d, P=K)
    elif model == "equidistant":
        out = cv2.fisheye.undistortPoints(points, K, d[:4], P=K)
    else:
        raise ValueError(f"distortion model {model!r} is not supported; supported: {', '.join(SUPPORTED_DISTORTION)}")
    return out.reshape(kp2d.shape).astype(np.float32)


class CameraInfoWatch:
    """Decides, per image, whether to wait for CameraInfo, use it, or go on without it after a warning.

    ``image(now)`` returns "with_info" while CameraInfo keeps arriving (at most ``timeout_s`` old), "wait" during
    the first ``timeout_s`` without any, then "without_info"; ``warning`` holds a message the first time it
    gives up, for the node to log once (again after CameraInfo came back and stopped). Images that come back after
    a pause of more than ``timeout_s`` (a paused bag, a camera restarted) restart the wait, since their CameraInfo
    may arrive just after them: going on without it there would process the first image twice, alone and then
    paired by the synchronizer.
    """

    def __init__(self, timeout_s: float):
        if timeout_s < 0:
            raise ValueError("camera_info_timeout_s must be >= 0")
        self.timeout_s = timeout_s
        self._since: float | None = None
        self._last_info: float | None = None
        self._last_image: float | None = None
        self._warned = False
        self.warning: str | None = None

    def info(self, now: float) -> None:
        self._last_info = now
        self._warned = False

    def image(self, now: float) -> str:
        self.warning = None
        if self._since is None or now - self._last_image > self.timeout_s:
            self._since = now
        self._last_image = now
        if self._last_info is not None and now - self._last_info <= self.timeout_s:
            return "with_info"
        waited_from = self._since if self._last_info is None else max(self._last_info, self._since)
        if now - waited_from < self.timeout_s:
            return "wait"
        if not self._warned:
            self._warned = True
            self.warning = (f"no CameraInfo for {self.timeout_s:g} s: going on without it (default intrinsics of "
                            f"pose3d_ros.camera where 3D needs them); check the camera_info topic")
        return "without_info"
