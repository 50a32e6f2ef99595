"""Depth images for the lifter: pairing them with the keypoints by stamp and checking their encoding and size."""

from __future__ import annotations

import numpy as np


def nearest_stamp(stamp_ns: int, candidates_ns: list[int], max_offset_ns: int) -> int | None:
    """Index of the candidate stamp nearest ``stamp_ns`` if it is at most ``max_offset_ns`` away, else None."""
    if not candidates_ns:
        return None
    offsets = np.abs(np.asarray(candidates_ns, dtype=np.int64) - np.int64(stamp_ns))
    best = int(np.argmin(offsets))
    return best if offsets[best] <= max_offset_ns else None


class DepthCheck:
    """Turns a depth image into float metres for the lifter, or says why it cannot be used: an encoding other than
    16UC1/mono16/32FC1, or a size that is not a pure scale of the colour image. Each distinct problem is put in
    ``warning`` once, for the caller to log; ``used`` and ``refused`` count the images.
    """

    def __init__(self) -> None:
        self.used = 0
        self.refused = 0
        self.warning: str | None = None
        self._reported: set[str] = set()

    def metres(self, depth: np.ndarray, encoding: str | None, image_size: tuple[int, int]) -> np.ndarray | None:
        from pose3d_ros.lifting.depth_placement import depth_in_metres, depth_pixel_scale

        self.warning = None
        try:
            depth_m = depth_in_metres(depth, encoding)
            depth_pixel_scale(depth_m.shape, image_size)
        except ValueError as err:
            self.refuse(err)
            return None
        self.used += 1
        return depth_m

    def refuse(self, err: ValueError) -> None:
        """A depth image that cannot be used (also one that could not be read: a buffer that does not fit)."""
        self.refused += 1
        self.warning = None
        if str(err) not in self._reported:
            self._reported.add(str(err))
            self.warning = f"depth image not used, people placed without it: {err}"



# (left hip, right hip, left shoulder, right shoulder) per layout.
