"""A 3D model of the 68 iBUG face landmarks (plus the two COCO ear points), with per-person shape variation and
an expression that varies smoothly over time.

Model frame (metres): origin at the midpoint of the two tragions (the notches in front of the ear canals),
x towards the person's RIGHT, y up, z forward (out of the face), head upright in the Frankfort horizontal.
The neutral shape is built from adult anthropometric averages (e.g. Farkas' tables): face width at the ears
(bizygomatic) 14 cm, nasion 3 cm above and 9 cm in front of the tragions, nose tip 12 cm in front, eye fissures
3 cm long with the outer corner 1.3 cm behind the inner one, mouth 5 cm wide, chin 11 cm below the tragions.
Only the right half and the midline are written down; the left half is their mirror image.

Expression (all in [0, 1] or [-1, 1], smooth functions of time):

* ``jaw``: the mandible (lower contour, lower lip) rotates about the jaw joints, up to 20 degrees;
* ``smile``: mouth corners move outwards, up and back (negative: pursed lips);
* ``brows``: brows raised (negative: frown, inner ends lowered and drawn together);
* ``blink``: upper eyelids closing onto the lower ones (brief blinks every few seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import FACE_OFFSET, WHOLEBODY133
from .signals import SmoothSignals

CM = 0.01

# Right half and midline of the neutral face, iBUG index -> (x right, y up, z forward) in cm.
_RIGHT_HALF_CM = {
    # jaw contour, from in front of the right ear (0) round to the chin (8)
    0: (7.0, 1.5, 2.0), 1: (7.0, -0.8, 2.0), 2: (6.8, -3.2, 2.4), 3: (6.4, -5.5, 2.9), 4: (5.6, -7.5, 4.0),
    5: (4.7, -9.0, 5.9), 6: (3.5, -10.1, 7.7), 7: (1.9, -10.7, 9.0), 8: (0.0, -11.0, 9.6),
    # right brow, outer (17) to inner (21)
    17: (6.0, 3.5, 6.6), 18: (5.0, 4.3, 8.1), 19: (3.8, 4.6, 8.9), 20: (2.6, 4.5, 9.4), 21: (1.3, 4.2, 9.7),
    # nose bridge, nasion (27) to tip (30), and the lower nose (31 right wing, 33 subnasale)
    27: (0.0, 3.0, 9.1), 28: (0.0, 1.6, 9.9), 29: (0.0, 0.2, 10.8), 30: (0.0, -1.2, 11.9),
    31: (1.7, -1.8, 9.6), 32: (0.9, -2.1, 10.3), 33: (0.0, -2.3, 10.6),
    # right eye: outer corner (36), upper lid (37, 38), inner corner (39), lower lid (40, 41)
    36: (4.6, 1.4, 7.6), 37: (3.6, 2.0, 8.5), 38: (2.5, 2.0, 8.9), 39: (1.6, 1.5, 8.9),
    40: (2.5, 1.1, 8.8), 41: (3.6, 1.1, 8.4),
    # outer lips: right corner (48), upper (49-51), lower (59, 58, 57)
    48: (2.5, -4.6, 8.9), 49: (1.6, -4.0, 10.1), 50: (0.6, -3.6, 10.6), 51: (0.0, -3.7, 10.7),
    59: (1.7, -5.1, 9.6), 58: (0.8, -5.5, 10.2), 57: (0.0, -5.6, 10.3),
    # inner lips: right corner (60), upper (61, 62), lower (67, 66)
    60: (2.2, -4.6, 9.1), 61: (1.0, -4.5, 10.1), 62: (0.0, -4.5, 10.3), 67: (1.0, -4.65, 10.0),
    66: (0.0, -4.65, 10.2),
}
RIGHT_EAR_CM = (7.5, 0.3, -1.0)  # COCO's ear point: the middle of the outer ear, just behind the tragus

FACE_FLIP = np.array(WHOLEBODY133.flip[FACE_OFFSET:FACE_OFFSET + 68]) - FACE_OFFSET


def _neutral_face() -> np.ndarray:
    points = np.full((68, 3), np.nan)
    for index, xyz in _RIGHT_HALF_CM.items():
        points[index] = xyz
        points[FACE_FLIP[index]] = (-xyz[0], xyz[1], xyz[2])
    assert not np.isnan(points).any()
    return points * CM


NEUTRAL_FACE = _neutral_face()
"""(68, 3) neutral landmarks in the model frame, metres."""

# Landmark groups moved by the expression.
_JAW_WEIGHT = np.zeros(68)
_JAW_WEIGHT[[3, 13]], _JAW_WEIGHT[[4, 12]] = 0.35, 0.75
_JAW_WEIGHT[list(range(5, 12)) + [55, 56, 57, 58, 59, 65, 66, 67]] = 1.0
_JAW_PIVOT = np.array([0.0, -0.5, 1.0]) * CM  # the temporomandibular joints, just in front of the ears
_MAX_JAW_DEG = 20.0
_MOUTH_CORNERS = [48, 54, 60, 64]
_UPPER_LIDS, _LOWER_LIDS = [37, 38, 43, 44], [41, 40, 47, 46]  # each upper-lid point over its lower one
_BROWS = list(range(17, 27))
_INNER_BROWS = [20, 21, 22, 23]


@dataclass(frozen=True)
class FaceShape:
    """One person's neutral face: landmarks (68, 3) and ear points (2, 3) [left, right] in the model frame."""

    landmarks: np.ndarray
    ears: np.ndarray

    def mirrored(self) -> FaceShape:
        flip_x = np.array([-1.0, 1.0, 1.0])
        return FaceShape(self.landmarks[FACE_FLIP] * flip_x, self.ears[::-1] * flip_x)


def sample_face_shape(rng: np.random.Generator) -> FaceShape:
    """A random adult face: overall size (sd 5%), width, height and depth (sd 4-5% each), nose length, mouth width,
    eye spacing and jaw width varied, plus a slight asymmetry (1.5 mm per landmark).
    """
    points = NEUTRAL_FACE.copy()
    ears = np.array([[-RIGHT_EAR_CM[0], *RIGHT_EAR_CM[1:]], RIGHT_EAR_CM]) * CM
    nose = np.arange(27, 36)
    points[nose, 2] += rng.normal(0.0, 0.05) * (points[nose, 2] - 0.08)  # nose protrusion
    points[nose[:4], 1] = points[27, 1] + (points[nose[:4], 1] - points[27, 1]) * rng.normal(1.0, 0.06)
    mouth = np.arange(48, 68)
    points[mouth, 0] *= np.clip(rng.normal(1.0, 0.07), 0.8, 1.2)
    eyes = np.arange(36, 48)
    points[eyes, 0] += np.sign(points[eyes, 0]) * rng.normal(0.0, 0.15 * CM)
    jaw = np.arange(2, 15)
    points[jaw, 0] *= np.clip(rng.normal(1.0, 0.05), 0.85, 1.15)
    points += rng.normal(0.0, 0.15 * CM, points.shape)
    axes_scale = np.clip(rng.normal(1.0, [0.04, 0.04, 0.05]), 0.88, 1.12) * np.clip(rng.normal(1.0, 0.05), 0.88, 1.12)
    return FaceShape(points * axes_scale, ears * axes_scale)


@dataclass(frozen=True)
class FaceMotion:
    """A person's expression over time: smooth random signals for jaw, smile and brows, plus blinks."""

    signals: SmoothSignals  # channels: jaw, smile, brows
    blink_period_s: float
    blink_phase_s: float

    def mirrored(self) -> FaceMotion:
        return self

    def expression(self, times_s: np.ndarray) -> dict[str, np.ndarray]:
        raw = self.signals(times_s)  # (T, 3) in about [-1, 1]
        # Speech-like jaw: mostly nearly closed, sometimes wide open; smile and brows in [-1, 1].
        jaw = np.clip(0.25 + 0.35 * raw[:, 0], 0.0, 1.0) ** 1.5
        smile = np.clip(0.2 + 0.6 * raw[:, 1], -1.0, 1.0)
        brows = np.clip(0.6 * raw[:, 2], -1.0, 1.0)
        since = np.mod(np.asarray(times_s) - self.blink_phase_s, self.blink_period_s)
        blink = np.clip(1.0 - np.abs(since - 0.1) / 0.1, 0.0, 1.0)  # a 0.2 s blink once per period
        return {"jaw": jaw, "smile": smile, "brows": brows, "blink": blink}


def sample_face_motion(rng: np.random.Generator) -> FaceMotion:
    return FaceMotion(SmoothSignals.sample(rng, channels=3, low_hz=0.1, high_hz=1.2),
                      blink_period_s=rng.uniform(2.5, 6.0), blink_phase_s=rng.uniform(0.0, 6.0))


def pose_face(shape: FaceShape, expression: dict[str, np.ndarray]) -> np.ndarray:
    """Landmarks (T, 68, 3) in the model frame for the expression values (each (T,))."""
    jaw, smile, brows, blink = (np.asarray(expression[k])[:, None] for k in ("jaw", "smile", "brows", "blink"))
    points = np.broadcast_to(shape.landmarks, (len(jaw), 68, 3)).copy()

    # Mouth corners: a smile widens and lifts them and pulls them back; pursing narrows the mouth.
    sign_x = np.sign(shape.landmarks[_MOUTH_CORNERS, 0])
    points[:, _MOUTH_CORNERS, 0] += sign_x * 0.5 * CM * smile
    points[:, _MOUTH_CORNERS, 1] += 0.4 * CM * np.maximum(smile, 0.0)
    points[:, _MOUTH_CORNERS, 2] -= 0.3 * CM * np.maximum(smile, 0.0)

    # Brows: raised up to 1 cm; a frown lowers the inner ends and draws them together.
    points[:, _BROWS, 1] += 0.9 * CM * np.maximum(brows, 0.0)
    frown = np.maximum(-brows, 0.0)
    points[:, _INNER_BROWS, 1] -= 0.5 * CM * frown
    points[:, _INNER_BROWS, 0] -= np.sign(shape.landmarks[_INNER_BROWS, 0]) * 0.3 * CM * frown

    # Blinks: the upper lids close onto the lower ones.
    points[:, _UPPER_LIDS, 1] += blink * (shape.landmarks[_LOWER_LIDS, 1] - shape.landmarks[_UPPER_LIDS, 1])

    # Jaw: rotate the mandible's landmarks about the jaw joints' axis (x), weighted along the contour.
    angle = np.radians(_MAX_JAW_DEG) * jaw * _JAW_WEIGHT[None]  # (T, 68)
    rel_y, rel_z = points[..., 1] - _JAW_PIVOT[1], points[..., 2] - _JAW_PIVOT[2]
    points[..., 1] = _JAW_PIVOT[1] + rel_y * np.cos(angle) - rel_z * np.sin(angle)
    points[..., 2] = _JAW_PIVOT[2] + rel_y * np.sin(angle) + rel_z * np.cos(angle)
    return points
