"""The REP-155 (ROS4HRI) body frame of a skeleton: its id and its pose at the pelvis."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from pose3d_ros.skeleton import Layout

_TORSO_JOINTS = {"wholebody133": (11, 12, 5, 6), "h36m17": (4, 1, 11, 14)}


def hri_body_id(person_id: int) -> str:
    """REP-155 body id: starts with a letter, so that it is a valid ROS name token (/humans/bodies/<id>/...)."""
    return f"b{int(person_id)}"


def body_frame(positions: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray] | None:
    """REP-155 ``body_<id>`` pose in the camera frame: origin at the mid-hip, z towards the head, x out of the
    chest. Returns (origin (3,), quaternion (x, y, z, w)), or None when the torso is degenerate.
    """
    if layout.name not in _TORSO_JOINTS:
        raise ValueError(f"no torso joints known for layout {layout.name}")
    left_hip, right_hip, left_shoulder, right_shoulder = (np.asarray(positions[j], dtype=np.float64)
                                                          for j in _TORSO_JOINTS[layout.name])
    origin = 0.5 * (left_hip + right_hip)
    up = 0.5 * (left_shoulder + right_shoulder) - origin
    left = left_hip - right_hip
    if np.linalg.norm(up) < 1e-6:
        return None
    z = up / np.linalg.norm(up)
    y = left - z * np.dot(left, z)
    if np.linalg.norm(y) < 1e-6:
        return None
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    return origin, Rotation.from_matrix(np.stack([x, y, z], axis=1)).as_quat()  # (x, y, z, w)
