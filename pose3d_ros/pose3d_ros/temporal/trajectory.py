"""The root trajectory: where the person is, kept apart from how the body is posed.

The lifter recovers each frame's root (pelvis) translation by least-squares reprojection; its error is mostly
depth noise that is independent from frame to frame, and a person's pelvis moves smoothly. So the refiner does not
feed the root to the network (which sees root-relative poses) but smooths and fills it with a local linear
regression over time (a Gaussian-weighted least-squares line through the valid roots near the query time,
evaluated at that time): no lag on constant-velocity motion, works at any and irregular frame rates, fills short
gaps by interpolation (or, at the causal end of a stream, by extrapolation along the fitted line).
"""

from __future__ import annotations

import numpy as np

from ..skeleton import Layout

ROOT_JOINTS = {"wholebody133": (11, 12), "h36m17": (0,), "h36m32": (0,)}
"""Joints whose mean is the root centre of each layout (contract 3: the pelvis)."""


def root_joints(layout: Layout) -> tuple[int, ...]:
    try:
        return ROOT_JOINTS[layout.name]
    except KeyError:
        raise ValueError(f"no root centre is defined for layout {layout.name!r}") from None


def root_centre(layout: Layout, poses: np.ndarray) -> np.ndarray:
    """The root centre (..., 3) of poses (..., J, 3)."""
    return np.asarray(poses)[..., list(root_joints(layout)), :].mean(axis=-2)


def local_linear(stamps: np.ndarray, values: np.ndarray, valid: np.ndarray, query: float,
                 bandwidth_s: float) -> np.ndarray | None:
    """Gaussian-weighted least-squares line through the valid ``values`` (N, D) at ``stamps`` (N,), evaluated at
    ``query``. Samples farther than three bandwidths are ignored; with a single usable sample its value is returned,
    with none, None.
    """
    stamps = np.asarray(stamps, dtype=np.float64)
    offset = stamps - query
    use = np.asarray(valid, dtype=bool) & (np.abs(offset) <= 3.0 * bandwidth_s)
    if not use.any():
        return None
    offset, values = offset[use], np.asarray(values, dtype=np.float64)[use]
    weight = np.exp(-0.5 * (offset / bandwidth_s) ** 2)
    if len(offset) == 1 or np.ptp(offset) < 1e-9:
        return (weight[:, None] * values).sum(axis=0) / weight.sum()
    # Weighted normal equations of value = a + b * offset; a is the fit at the query time.
    s0, s1, s2 = weight.sum(), (weight * offset).sum(), (weight * offset**2).sum()
    y0 = (weight[:, None] * values).sum(axis=0)
    y1 = (weight[:, None] * offset[:, None] * values).sum(axis=0)
    determinant = s0 * s2 - s1**2
    if determinant <= 1e-12 * max(s0 * s2, 1e-300):
        return y0 / s0
    return (s2 * y0 - s1 * y1) / determinant
