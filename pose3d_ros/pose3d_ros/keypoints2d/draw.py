"""Overlay of whole-body keypoints and the skeleton's bones on an image, coloured by part."""

from __future__ import annotations

import cv2
import numpy as np

from pose3d_ros.keypoints2d.image import to_rgb
from pose3d_ros.keypoints2d.result import Keypoints2D
from pose3d_ros.skeleton import FACE_OFFSET, LEFT_HAND_OFFSET, RIGHT_HAND_OFFSET, WHOLEBODY133

PART_COLORS_BGR = {
    "body": (0, 165, 255),       # orange
    "face": (255, 255, 0),       # cyan
    "left_hand": (0, 200, 0),    # green
    "right_hand": (255, 0, 255),  # magenta
}
_PART_OF_JOINT = np.searchsorted([FACE_OFFSET, LEFT_HAND_OFFSET, RIGHT_HAND_OFFSET],
                                 np.arange(WHOLEBODY133.num_joints), side="right")
_JOINT_COLORS = [tuple(PART_COLORS_BGR[name]) for name in PART_COLORS_BGR]
_BONES = np.array(WHOLEBODY133.bones)


def draw_keypoints(image: np.ndarray, result: Keypoints2D, *, color_order: str = "bgr", min_conf: float = 0.0,
                   thickness: int | None = None) -> np.ndarray:
    """An 8-bit BGR copy of ``image`` (any format the detector accepts) with every person's joints and bones.

    Joints with confidence <= ``min_conf`` (by default those not detected, conf 0) and bones touching them are
    left out. Bones take the colour of their child joint's part; face points are drawn smaller than the rest.
    """
    canvas = cv2.cvtColor(to_rgb(image, color_order), cv2.COLOR_RGB2BGR)
    if thickness is None:
        thickness = max(1, round(min(canvas.shape[:2]) / 300))
    for kp, conf in zip(result.kp2d, result.conf, strict=True):
        shown = conf > min_conf
        points = np.round(kp).astype(np.int32)
        for parent, child in _BONES[shown[_BONES[:, 0]] & shown[_BONES[:, 1]]]:
            cv2.line(canvas, tuple(map(int, points[parent])), tuple(map(int, points[child])),
                     _JOINT_COLORS[_PART_OF_JOINT[child]], thickness, cv2.LINE_AA)
        for joint in np.flatnonzero(shown):
            is_face = _PART_OF_JOINT[joint] == 1
            radius = thickness if is_face else 2 * thickness
            cv2.circle(canvas, tuple(map(int, points[joint])), radius, _JOINT_COLORS[_PART_OF_JOINT[joint]], -1,
                       cv2.LINE_AA)
    return canvas
