"""The camera's static TF: body frame -> optical frame, and a gravity-aligned world frame when the attitude is
known (video_source_node publishes it, as a camera driver would, so that RViz has a z-up frame tree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

# The optical frame's axes (x right, y down, z forward) in the REP-103 body frame (x forward, y left, z up).
OPTICAL_IN_BODY = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class StaticTransform:
    """One static TF edge: the child frame's pose in the parent frame."""

    parent: str
    child: str
    translation: tuple[float, float, float]
    rotation: tuple[float, float, float, float]
    """Quaternion (x, y, z, w)."""


def _quaternion(rotation: Rotation) -> tuple[float, float, float, float]:
    """(x, y, z, w) with w >= 0, the form TF tools print, as plain floats (what geometry_msgs accepts)."""
    q = rotation.as_quat()
    return tuple(float(value) for value in (q if q[3] >= 0 else -q))


def camera_transforms(parameters: dict[str, Any]) -> list[StaticTransform]:
    """The static TF of the camera from video_source_node's ``frame_id`` and ``tf.*`` parameters: body frame ->
    optical frame, so that skeletons (optical frame) show z-up in RViz, and world frame -> body frame when
    ``tf.world_frame`` is set: ``tf.height_m`` above the world origin, pitched and rolled as the camera is.
    """
    if not parameters["tf.enabled"]:
        return []
    body = parameters["tf.body_frame"]
    transforms = [StaticTransform(body, parameters["frame_id"], (0.0, 0.0, 0.0),
                                  _quaternion(Rotation.from_matrix(OPTICAL_IN_BODY)))]
    if parameters["tf.world_frame"]:
        # pitch about the body's y (left): positive turns x (forward) down; roll about x: positive lowers the right
        attitude = Rotation.from_euler("YX", [parameters["tf.pitch_deg"], parameters["tf.roll_deg"]], degrees=True)
        transforms.insert(0, StaticTransform(parameters["tf.world_frame"], body,
                                             (0.0, 0.0, float(parameters["tf.height_m"])), _quaternion(attitude)))
    return transforms
