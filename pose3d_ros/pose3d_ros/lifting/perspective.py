"""Perspective-correct lifting: lift each person as seen by a virtual camera that looks straight at them.

The input normalisation subtracts the person's 2D root centre, which throws away the ray to the person: the
network then reads every pose as if the person stood on the optical axis, and a person near the image's edge or
below a pitched camera comes out leaning (25 degrees off axis doubled the whole-body lifter's MPJPE). Rotating the
camera about its centre changes no 3D geometry and maps pixels by the homography ``K R K^-1``, so each person is
lifted in a virtual camera (same K) rotated onto their root ray, placed there, and the result is rotated back by
``R^T``: exact, and one 3x3 per person.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..camera import rotate_pixels, rotation_towards
from ..skeleton import Layout
from .normalization import ROOT_JOINTS, root_centre


def aim_points(kp2d: np.ndarray, conf: np.ndarray, layout: Layout) -> np.ndarray:
    """The pixel (P, 2) each person's virtual camera looks at: the root centre (pelvis) where its root joints (the
    hips; the pelvis of h36m17) are observed (conf > 0); else the median of the observed body joints (a missing hip
    lies wherever ``fill_missing`` put it); else the median of all observed joints; for a person with nothing
    observed, the root centre.
    """
    observed = conf > 0
    aim = root_centre(kp2d, layout)
    lost = ~observed[:, list(ROOT_JOINTS[layout.name])].all(-1)
    if lost.any():  # medians only for the people who need them: they cost far more than the rest of the correction
        body = np.zeros(layout.num_joints, dtype=bool)
        body[layout.parts.get("body", slice(0, layout.num_joints))] = True
        fallback = aim[lost]
        for joints in (observed[lost], observed[lost] & body):  # later choices win where they exist
            fallback = np.where(joints.any(-1, keepdims=True), _masked_median(kp2d[lost], joints), fallback)
        aim[lost] = fallback
    return aim


def _masked_median(points: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-coordinate median (P, 2) of the points (P, J, 2) where ``mask`` (P, J); NaN where nothing is masked."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows without a masked point: the caller replaces them
        return np.nanmedian(np.where(mask[..., None], points, np.nan), axis=1)


def virtual_views(kp2d: np.ndarray, conf: np.ndarray, K: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (P, J, 2) px seen by each person's virtual camera (the same K (3, 3) or (P, 3, 3), rotated onto
    the person's :func:`aim_points` ray), float64, and the rotations R (P, 3, 3) from the camera to them.

    A person with a keypoint 90 degrees or more off their own ray (someone spanning a wide-angle image, or a
    keypoint far outside it) has no complete virtual view: they keep the real one (R = I).
    """
    kp2d = np.asarray(kp2d, dtype=np.float64)
    rotation = rotation_towards(aim_points(kp2d, np.asarray(conf), layout), K)
    virtual = rotate_pixels(kp2d, K, rotation)
    seen = np.isfinite(virtual).all(axis=(-2, -1))
    rotation = np.where(seen[:, None, None], rotation, np.eye(3))
    return np.where(seen[:, None, None], virtual, kp2d), rotation


def rotate_back(points: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Points (P, ..., 3) from the virtual cameras' frames back to the camera's: ``R^T x`` with R (P, 3, 3)."""
    R = rotation.reshape(rotation.shape[:1] + (1,) * (points.ndim - 2) + (3, 3))
    return np.einsum("...ji,...j->...i", R, points)
