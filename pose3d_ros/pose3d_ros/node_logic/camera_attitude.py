"""Where lifter_node's up direction comes from: TF from a gravity-aligned frame, fixed parameters, or unknown."""

from __future__ import annotations

from typing import Any

import numpy as np

from pose3d_ros.camera import up_from_pitch_roll, up_from_quaternion


def up_from_parameters(pitch_deg: float, roll_deg: float) -> np.ndarray | None:
    """The up direction in the camera frame from the camera_pitch_deg / camera_roll_deg parameters; None (unknown)
    when the pitch is NaN.
    """
    if not np.isfinite(pitch_deg):
        return None
    if not np.isfinite(roll_deg):
        raise ValueError(f"camera_roll_deg must be a number when camera_pitch_deg is given, got {roll_deg}")
    return up_from_pitch_roll(pitch_deg, roll_deg)


class CameraAttitude:
    """A TF lookup from ``gravity_frame`` per frame (the node does the lookup and hands over the rotation or the
    failure), else the fixed pitch and roll parameters, else unknown. Failed lookups count, and the first one says
    why (``warning``, to log once).
    """

    def __init__(self, gravity_frame: str, pitch_deg: float, roll_deg: float):
        self.gravity_frame = gravity_frame
        self.fixed = None if gravity_frame else up_from_parameters(pitch_deg, roll_deg)
        self.failures = 0
        self.warning: str | None = None

    def up(self, quaternion: Any = None, failure: str = "") -> np.ndarray | None:
        """The up direction for a frame: from the looked-up rotation (x, y, z, w) of the camera frame from
        ``gravity_frame`` when there is one, None after a failed lookup (``failure`` says why), the fixed one
        without ``gravity_frame``.
        """
        self.warning = None
        if not self.gravity_frame:
            return self.fixed
        if quaternion is not None:
            return up_from_quaternion(quaternion)
        self.failures += 1
        if self.failures == 1:
            self.warning = (f"no transform from {self.gravity_frame} to the camera frame ({failure}): lifting "
                            f"without the up direction until there is (logged once, counted in diagnostics)")
        return None
