"""Pose-accuracy metrics: the H3WB whole-body protocol, MPJPE / P-MPJPE for H36M-17, acceleration error.

All functions take arrays of shape (N, J, 3) (or (J, 3) for a single pose) in the same unit (the H3WB
protocol is defined in millimetres) and return plain floats, means over every joint of every sample.
"""

from __future__ import annotations

import numpy as np

PELVIS = (11, 12)  # wholebody133: the H3WB pelvis is the midpoint of the two hips
NOSE = 0
LEFT_HAND_ROOT = 91
RIGHT_HAND_ROOT = 112


def _as_batch(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground-truth shape {gt.shape}")
    if pred.shape[-1] != 3 or pred.ndim not in (2, 3):
        raise ValueError(f"expected poses of shape (N, J, 3) or (J, 3), got {pred.shape}")
    if not (np.isfinite(pred).all() and np.isfinite(gt).all()):
        raise ValueError("poses contain NaN or infinite values")
    return (pred[None], gt[None]) if pred.ndim == 2 else (pred, gt)


def mpjpe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean per-joint position error, without any alignment; ``mask`` (N, J) selects the joints averaged."""
    pred, gt = _as_batch(pred, gt)
    err = np.linalg.norm(pred - gt, axis=-1)
    if mask is None:
        return float(err.mean())
    mask = np.broadcast_to(np.asarray(mask, dtype=bool), err.shape)
    if not mask.any():
        return float("nan")
    return float(err[mask].mean())


def _align(poses: np.ndarray, joints: tuple[int, ...] | int) -> np.ndarray:
    """Subtract the mean of ``joints`` from every joint of each pose."""
    idx = [joints] if isinstance(joints, int) else list(joints)
    return poses - poses[:, idx].mean(axis=1, keepdims=True)


def h3wb_errors(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """The official H3WB metrics for COCO-WholeBody 133 poses (pass millimetres to get millimetres).

    ``all``/``body``/``face``/``hands``: MPJPE over [0:133] / [0:23] / [23:91] / [91:133] after aligning
    prediction and ground truth on the pelvis (midpoint of joints 11 and 12).
    ``face_aligned``: face MPJPE after aligning both on the nose (joint 0).
    ``hands_aligned``: each hand aligned on its own root (91 or 112), the root's zero error included in the
    hand's mean, and the two hands averaged.
    """
    pred, gt = _as_batch(pred, gt)
    if pred.shape[1] != 133:
        raise ValueError(f"the H3WB metric needs 133 joints, got {pred.shape[1]}")
    p, g = _align(pred, PELVIS), _align(gt, PELVIS)
    err = np.linalg.norm(p - g, axis=-1)
    face_err = np.linalg.norm(_align(pred, NOSE)[:, 23:91] - _align(gt, NOSE)[:, 23:91], axis=-1)
    hand_errs = [
        np.linalg.norm(_align(pred[:, s], 0) - _align(gt[:, s], 0), axis=-1).mean()
        for s in (slice(LEFT_HAND_ROOT, LEFT_HAND_ROOT + 21), slice(RIGHT_HAND_ROOT, RIGHT_HAND_ROOT + 21))
    ]
    return {
        "all": float(err.mean()),
        "body": float(err[:, :23].mean()),
        "face": float(err[:, 23:91].mean()),
        "face_aligned": float(face_err.mean()),
        "hands": float(err[:, 91:].mean()),
        "hands_aligned": float(np.mean(hand_errs)),
    }


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Align each predicted pose to its ground truth by the best similarity transform (scale, rotation,
    translation; reflections excluded).
    """
    pred, gt = _as_batch(pred, gt)
    mu_p, mu_g = pred.mean(axis=1, keepdims=True), gt.mean(axis=1, keepdims=True)
    p0, g0 = pred - mu_p, gt - mu_g
    norm_p = np.linalg.norm(p0, axis=(1, 2), keepdims=True)
    norm_g = np.linalg.norm(g0, axis=(1, 2), keepdims=True)
    norm_p = np.where(norm_p > 0, norm_p, 1.0)
    norm_g = np.where(norm_g > 0, norm_g, 1.0)
    p0, g0 = p0 / norm_p, g0 / norm_g
    u, s, vt = np.linalg.svd(np.matmul(np.transpose(g0, (0, 2, 1)), p0))
    v = np.transpose(vt, (0, 2, 1))
    rot = np.matmul(v, np.transpose(u, (0, 2, 1)))
    # Exclude reflections: flip the last singular vector where det(R) < 0.
    sign = np.sign(np.linalg.det(rot))[:, None]
    v[:, :, -1] *= sign
    s[:, -1] *= sign[:, 0]
    rot = np.matmul(v, np.transpose(u, (0, 2, 1)))
    scale = (s.sum(axis=1) * norm_g[:, 0, 0] / norm_p[:, 0, 0])[:, None, None]
    return scale * np.matmul(pred - mu_p, rot) + mu_g


def p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """MPJPE after Procrustes alignment of each pose (protocol #2)."""
    pred, gt = _as_batch(pred, gt)
    return mpjpe(procrustes_align(pred, gt), gt)


def h36m17_errors(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """MPJPE after aligning both on the pelvis (joint 0) and P-MPJPE, for H36M-17 poses."""
    pred, gt = _as_batch(pred, gt)
    if pred.shape[1] != 17:
        raise ValueError(f"the H36M-17 protocol needs 17 joints, got {pred.shape[1]}")
    return {"mpjpe": mpjpe(_align(pred, 0), _align(gt, 0)), "p_mpjpe": p_mpjpe(pred, gt)}


def acceleration_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean norm of the difference of second finite differences over time, for sequences (T, J, 3)
    (per frame^2, in the unit of the input).
    """
    pred, gt = _as_batch(pred, gt)
    if pred.shape[0] < 3:
        raise ValueError("the acceleration error needs at least 3 frames")
    acc_p = pred[2:] - 2 * pred[1:-1] + pred[:-2]
    acc_g = gt[2:] - 2 * gt[1:-1] + gt[:-2]
    return float(np.linalg.norm(acc_p - acc_g, axis=-1).mean())
