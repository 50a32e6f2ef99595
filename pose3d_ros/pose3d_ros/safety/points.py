"""The monitored joints of everyone in view as plain points, for consumers that do their own separation
monitoring: existing speed-and-separation controllers take obstacle points (a ``geometry_msgs/PoseArray``) in
their own frame, not skeletons.
"""

from __future__ import annotations

import numpy as np

from pose3d_ros.node_logic.temporal_frames import SkeletonFrame
from pose3d_ros.skeleton import JointStatus

from .config import JointSettings
from .geometry import Pose


def monitored_points(skeletons: SkeletonFrame, joints: JointSettings, to_target: Pose) -> np.ndarray:
    """(K, 3) the monitored joints the monitor would use (finite, not MISSING), person by person in joint order,
    moved into the target frame by ``to_target`` (the skeletons' frame's pose in the target frame).
    """
    points = np.asarray(skeletons.positions, dtype=np.float64)[:, joints.indices]
    status = np.asarray(skeletons.status)[:, joints.indices]
    usable = np.isfinite(points).all(axis=-1) & (status != JointStatus.MISSING)
    return to_target.apply(points[usable]) if usable.any() else np.zeros((0, 3))
