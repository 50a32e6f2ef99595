"""Rescaling the lifted skeleton to a known body height (issue #17).

Every subject of the motion data has the same skeleton, so the lifter predicts everyone at that size: monocular
placement then puts a 1.50 m person too far away and a 1.95 m one too near, by the ratio of the sizes (about 10 %
of the distance for each 16 cm). Where the robot knows who works with it, ``person_height_m`` rescales the lifted
skeleton by ``person_height_m / NOMINAL_STATURE_M`` before it is placed, and the depth error from size goes away.

The factor is a constant, not the ratio to the lifted skeleton's own bone lengths: the shipped whole-body lifter's
bones come out 6 % short and vary by 10 % from pose to pose while its placement is 3 % short, so rescaling by the
measured bones doubled its depth error (S9, level camera: 125 -> 197 mm); the network's size is its training
skeleton's.
"""

from __future__ import annotations

NOMINAL_STATURE_M = 1.66
"""Height of the motion data's skeleton: its head-top joint standing straight (90th percentile of the joint's
height over S9's directions, posing and walking sequences: 1.65-1.66 m). A person's measured stature (to the top
of the skull) may be a centimetre or two more."""


def height_scale(height_m: float) -> float:
    """The factor that brings a lifted skeleton to a person of stature ``height_m`` (metres, 0.5-2.5)."""
    if not 0.5 <= height_m <= 2.5:
        raise ValueError(f"person_height_m must be between 0.5 and 2.5 m (or 0 for unknown), got {height_m}")
    return height_m / NOMINAL_STATURE_M
