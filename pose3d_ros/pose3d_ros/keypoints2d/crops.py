"""Rotated square crops for the landmark models, and where to put them for a face, a hand or a whole body.

A landmark model sees its part upright and filling a fixed share of its input, as MediaPipe's own trackers crop
it: a :class:`Roi` is a square in the image (centre, side, and the image direction that becomes "up" in the crop).
The first crop of a part is placed from the person's body keypoints (a hand beyond the wrist along the forearm, a
face around the eyes and nose, the body around the hips); later crops from the part's own landmarks of the
previous frame, which is tighter and follows the part when the body keypoints lag.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

HAND_CENTRE_ALONG_FOREARM = 0.4
"""A hand's crop centre lies beyond the wrist by this fraction of the forearm (wrist to the middle of the palm)."""
HAND_SIDE_PER_FOREARM = 1.2
"""... and its side is this many forearm lengths: tight, since the hand model wants the hand to fill its input
(measured on the demo figure: presence 0.6-0.8 at 1.2, 0.3-0.5 at 1.5, under 0.2 at 2.0); the second pass from
the first pass's landmarks then centres it (presence 0.8-0.9)."""
HAND_SIDE_PER_LANDMARK_BOX = 2.0
"""A hand crop from last frame's landmarks: side = this times the larger side of their box (MediaPipe's 2.0)."""
FACE_SIDE_PER_EYE_DISTANCE = 4.5
FACE_SIDE_PER_EAR_DISTANCE = 2.0
FACE_SIDE_PER_SHOULDER_WIDTH = 0.6
"""A face crop from body keypoints: the largest side these give (a face in profile has its eyes close together)."""
FACE_SIDE_PER_LANDMARK_BOX = 1.5
"""A face crop from last frame's mesh: this times the larger side of the mesh's box (MediaPipe's 1.5)."""
BODY_SIDE_PER_TORSO = 4.2
BODY_SIDE_PER_EXTENT = 2.5
"""A whole-body crop around the hips: the larger of these times the torso length and times the farthest visible
keypoint's distance from the hips (MediaPipe's body crop is 1.25 x the circle through the body around the hips)."""
MIN_SIDE_PX = 8.0


@dataclass(frozen=True)
class Roi:
    """A square region of the image: ``centre`` (x, y) pixels, ``side`` pixels, and the unit vector ``up`` (image
    coordinates) that points to the top of the crop.
    """

    centre: np.ndarray
    side: float
    up: np.ndarray

    def affine(self, size: int) -> np.ndarray:
        """(2, 3) affine map from image pixels to the pixels of a ``size`` x ``size`` crop."""
        right = np.array([-self.up[1], self.up[0]])
        down = -self.up
        scale = size / self.side
        rows = np.stack([right, down]) * scale
        return np.hstack([rows, (size / 2 - rows @ self.centre)[:, None]])

    def to_image(self, points: np.ndarray, size: int) -> np.ndarray:
        """Crop pixels (..., 2) of a ``size`` crop -> image pixels."""
        right = np.array([-self.up[1], self.up[0]])
        offsets = (np.asarray(points, np.float64)[..., :2] - size / 2) * (self.side / size)
        return self.centre + offsets[..., :1] * right - offsets[..., 1:2] * self.up

    def crop(self, rgb: np.ndarray, size: int) -> np.ndarray:
        """The crop as float32 in [0, 1] (the landmark models' input range); outside the image is black."""
        pixels = cv2.warpAffine(rgb, self.affine(size), (size, size), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        return pixels.astype(np.float32) * (1.0 / 255.0)


def _unit(vector: np.ndarray) -> np.ndarray | None:
    norm = float(np.hypot(*vector))
    return vector / norm if norm > 1e-6 and np.isfinite(norm) else None


def _valid(roi: Roi) -> Roi | None:
    ok = np.all(np.isfinite(roi.centre)) and np.isfinite(roi.side) and roi.side >= MIN_SIDE_PX
    return roi if ok else None


def roi_around(points: np.ndarray, up: np.ndarray, side_per_box: float) -> Roi | None:
    """A crop around landmarks: their box in the frame whose top is ``up``, its centre, ``side_per_box`` times its
    larger side.
    """
    up_unit = _unit(np.asarray(up, np.float64))
    points = np.asarray(points, np.float64)
    if up_unit is None or not np.all(np.isfinite(points)):
        return None
    right = np.array([-up_unit[1], up_unit[0]])
    along_right, along_up = points @ right, points @ up_unit
    low, high = np.array([along_right.min(), along_up.min()]), np.array([along_right.max(), along_up.max()])
    middle = (low + high) / 2
    return _valid(Roi(middle[0] * right + middle[1] * up_unit, float(np.max(high - low)) * side_per_box, up_unit))


def hand_roi_from_arm(elbow: np.ndarray, wrist: np.ndarray) -> Roi | None:
    """A hand's first crop: beyond the wrist along the forearm, fingers up."""
    forearm = np.asarray(wrist, np.float64) - np.asarray(elbow, np.float64)
    up = _unit(forearm)
    if up is None:
        return None
    length = float(np.hypot(*forearm))
    return _valid(Roi(np.asarray(wrist, np.float64) + HAND_CENTRE_ALONG_FOREARM * forearm,
                      HAND_SIDE_PER_FOREARM * length, up))


def face_roi_from_head(nose: np.ndarray, eyes: np.ndarray, ears: np.ndarray, shoulders: np.ndarray,
                       seen: np.ndarray) -> Roi | None:
    """A face's first crop from body keypoints: ``eyes``, ``ears``, ``shoulders`` (2, 2) are [left, right] of the
    person, ``seen`` (7,) flags nose, eyes, ears, shoulders in that order. Needs the nose and both eyes.
    """
    if not (seen[0] and seen[1] and seen[2]):
        return None
    eyes = np.asarray(eyes, np.float64)
    across = eyes[0] - eyes[1]  # the person's right eye -> left eye: image right for a face seen from the front
    unit = _unit(across)
    if unit is None:
        return None
    sides = [FACE_SIDE_PER_EYE_DISTANCE * float(np.hypot(*across))]
    if seen[3] and seen[4]:
        sides.append(FACE_SIDE_PER_EAR_DISTANCE * float(np.hypot(*(ears[0] - ears[1]))))
    if seen[5] and seen[6]:
        sides.append(FACE_SIDE_PER_SHOULDER_WIDTH * float(np.hypot(*(shoulders[0] - shoulders[1]))))
    up = np.array([unit[1], -unit[0]])
    centre = (eyes.mean(axis=0) + np.asarray(nose, np.float64)) / 2
    return _valid(Roi(centre, max(sides), up))


def body_roi(keypoints: np.ndarray, seen: np.ndarray, hips: tuple[int, int], shoulders: tuple[int, int]
             ) -> Roi | None:
    """A whole-body crop around the hips, head up, from body keypoints (N, 2) and their ``seen`` flags (N,)."""
    if not (seen[list(hips)].all() and seen[list(shoulders)].all()):
        return None
    keypoints = np.asarray(keypoints, np.float64)
    hip_centre = keypoints[list(hips)].mean(axis=0)
    torso = keypoints[list(shoulders)].mean(axis=0) - hip_centre
    up = _unit(torso)
    if up is None:
        return None
    extent = np.max(np.hypot(*(keypoints[seen] - hip_centre).T))
    side = max(BODY_SIDE_PER_TORSO * float(np.hypot(*torso)), BODY_SIDE_PER_EXTENT * float(extent))
    return _valid(Roi(hip_centre, side, up))
