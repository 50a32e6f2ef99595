"""Camera-frame placement: where the person stands, from their 2D keypoints and root-relative 3D pose.

For a root-relative pose X_j (camera orientation, metres) and root translation t, joint j projects to
``x_j = (X_j + t_x) / (Z_j + t_z)``, ``y_j = (Y_j + t_y) / (Z_j + t_z)`` in normalised camera coordinates
``(x, y, 1) = K^-1 (u, v, 1)``. Multiplying out gives two equations linear in t per joint:

    t_x - x_j t_z = x_j Z_j - X_j,        t_y - y_j t_z = y_j Z_j - Y_j

which are solved in the confidence-weighted least-squares sense, for all people at once (3x3 normal equations per
person). The solution is exact for noise-free projections of the pose; with noisy keypoints it minimises the
image-plane error scaled by each joint's depth, which is nearly uniform for a person several metres away.
"""

from __future__ import annotations

import numpy as np

from ..camera import normalised_coordinates


def solve_root_translation(kp2d: np.ndarray, conf: np.ndarray, root_relative: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Root translations (P, 3) in metres for keypoints (P, J, 2) px, confidences (P, J), root-relative poses
    (P, J, 3) and intrinsics (3, 3) or (P, 3, 3). A person whose confidences are all 0 is solved with equal
    weights (their keypoints still follow the fill-missing convention).
    """
    kp2d = np.asarray(kp2d, dtype=np.float64)
    pose = np.asarray(root_relative, dtype=np.float64)
    weights = np.clip(np.asarray(conf, dtype=np.float64), 0.0, None)
    K = np.asarray(K, dtype=np.float64)
    if len(kp2d) == 0:
        return np.zeros((0, 3))
    x, y = np.moveaxis(normalised_coordinates(kp2d, K), -1, 0)
    weights = np.where(weights.sum(-1, keepdims=True) > 0, weights, 1.0)

    bx = x * pose[..., 2] - pose[..., 0]
    by = y * pose[..., 2] - pose[..., 1]
    w_sum, wx, wy = weights.sum(-1), (weights * x).sum(-1), (weights * y).sum(-1)
    normal = np.zeros((len(kp2d), 3, 3))
    normal[:, 0, 0] = normal[:, 1, 1] = w_sum
    normal[:, 0, 2] = normal[:, 2, 0] = -wx
    normal[:, 1, 2] = normal[:, 2, 1] = -wy
    normal[:, 2, 2] = (weights * (x * x + y * y)).sum(-1)
    rhs = np.stack([(weights * bx).sum(-1), (weights * by).sum(-1), -(weights * (x * bx + y * by)).sum(-1)], axis=-1)
    # A tiny ridge keeps the solve defined when every joint projects to one point (a degenerate input).
    ridge = 1e-12 * np.maximum(np.trace(normal, axis1=1, axis2=2), 1e-12)[:, None, None] * np.eye(3)
    return np.linalg.solve(normal + ridge, rhs[..., None])[..., 0]


def solve_root_translation_at_depth(kp2d: np.ndarray, conf: np.ndarray, root_relative: np.ndarray, K: np.ndarray,
                                    root_depth: np.ndarray) -> np.ndarray:
    """Root translations (P, 3) whose z is the given ``root_depth`` (P,) (measured, e.g. by a depth camera): ``t_x``
    and ``t_y`` are the confidence-weighted least-squares solution of the same reprojection equations with ``t_z``
    known, which decouple into weighted means.
    """
    kp2d = np.asarray(kp2d, dtype=np.float64)
    pose = np.asarray(root_relative, dtype=np.float64)
    weights = np.clip(np.asarray(conf, dtype=np.float64), 0.0, None)
    weights = np.where(weights.sum(-1, keepdims=True) > 0, weights, 1.0)
    depth = np.asarray(root_depth, dtype=np.float64)[:, None]
    x, y = np.moveaxis(normalised_coordinates(kp2d, np.asarray(K, dtype=np.float64)), -1, 0)
    t_x = (weights * (x * (pose[..., 2] + depth) - pose[..., 0])).sum(-1) / weights.sum(-1)
    t_y = (weights * (y * (pose[..., 2] + depth) - pose[..., 1])).sum(-1) / weights.sum(-1)
    return np.stack([t_x, t_y, depth[:, 0]], axis=-1)
