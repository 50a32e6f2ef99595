"""Skeletons also in another TF frame (``output_frame``, e.g. a gravity-aligned ``base_link`` or ``map``): the
rigid transform at the image's stamp applied to every joint. The node does the TF lookup and hands over the
transform or the failure; frames without a transform are counted, the first failure says why.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

TRANSFORMED_SUFFIX = "/transformed"
"""The topic of the transformed skeletons: the node's skeleton topic with this suffix."""


def transform_positions(positions: np.ndarray, quaternion_xyzw, translation) -> np.ndarray:
    """(P, J, 3) points in the source frame -> the target frame of a TF transform (rotation as x, y, z, w)."""
    rotation = Rotation.from_quat(np.asarray(quaternion_xyzw, dtype=np.float64)).as_matrix()
    moved = np.asarray(positions, np.float64) @ rotation.T + np.asarray(translation, np.float64)
    return moved.astype(np.float32)


class OutputFrame:
    """Counts frames that could not be transformed into ``frame``; ``warning`` is set on the first one (log once)."""

    def __init__(self, frame: str):
        self.frame = frame
        self.published = 0
        self.failures = 0
        self.warning: str | None = None

    def transformed(self, positions: np.ndarray, quaternion_xyzw=None, translation=None,
                    failure: str = "") -> np.ndarray | None:
        """The positions in ``frame``, or None after a failed lookup (``failure`` says why)."""
        self.warning = None
        if quaternion_xyzw is None:
            self.failures += 1
            if self.failures == 1:
                self.warning = (f"no transform to output_frame {self.frame} ({failure}): skeletons of such frames "
                                f"are published in the camera frame only (logged once, counted in diagnostics)")
            return None
        self.published += 1
        return transform_positions(positions, quaternion_xyzw, translation)
