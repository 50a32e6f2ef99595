"""The body expert: an H36M-17 lifter that places the whole-body skeleton's body joints.

Why: lifting 133 joints with one 64-wide network spends most of its capacity on the face and hands, and its body
joints come out two to three times less accurate than those of the same network lifting 17 joints (on S9 with exact
2D: shoulders 56-62 mm against 23, knees 79 against 31-37, docs/lifting.md). So a whole-body lift takes its
body from an H36M-17 SemGAN and hangs the face, hands and feet that the whole-body network predicts on it.

* Input: H36M-17 has seven joints that COCO-WholeBody lacks (pelvis, H36M hips, spine, thorax, neck, head). Each
  of the 17 is an affine combination of the 23 COCO body and foot joints (:func:`fit_input_map`, least squares on
  the training set's exact 2D; the ten shared joints are themselves), and the expert is trained on those mapped
  keypoints, so it learns the map's small errors.
* Fusion (:func:`fuse_body`): the expert's shoulders, elbows, wrists, knees and ankles replace the whole-body
  network's; COCO's hips are the H36M hips raised by :data:`~pose3d_ros.data.wholebody.HIP_RAISE_M` along the
  pelvis' up axis (how the training data defines them); the head (nose, eyes, ears, face) is moved with the
  expert's neck, each hand with its wrist and each foot with its ankle, keeping the shapes the whole-body network
  gives them.
"""

from __future__ import annotations

import numpy as np

from ..data.wholebody import HIP_RAISE_M

BODY_SOURCES = 23
"""The COCO-WholeBody joints the map reads: body 0-16 and feet 17-22 (not the face, which detectors miss more)."""
SHARED = {2: 14, 3: 16, 5: 13, 6: 15, 11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10}
"""H36M-17 joint -> the same COCO joint (knees, ankles, shoulders, elbows, wrists)."""
REFERENCE = 11
"""COCO left hip: the regressed joints are offsets from it, so each row of the map sums to one (affine)."""
SOURCE_WEIGHT = 0.05
"""A mapped joint's confidence is the lowest of the joints weighing at least this much in it."""
H36M_L_HIP, H36M_R_HIP, H36M_PELVIS, H36M_THORAX, H36M_NECK = 4, 1, 0, 8, 9
COCO_HIPS = (11, 12)
HEAD = tuple(range(0, 5)) + tuple(range(23, 91))
"""Nose, eyes, ears and the 68 face points: they move with the neck."""
HANDS = ((range(91, 112), 9), (range(112, 133), 10))
FEET = (((17, 18, 19), 15), ((20, 21, 22), 16))


def fit_input_map(kp133: np.ndarray, kp17: np.ndarray, ridge: float = 1e-3) -> np.ndarray:
    """The (17, 23) map from the COCO body joints' 2D (N, 133, 2) to H36M-17 2D (N, 17, 2) of the same people:
    shared joints copied, the others by ridge-regularised least squares over x and y alike.
    """
    kp133 = np.asarray(kp133, np.float64)
    kp17 = np.asarray(kp17, np.float64)
    if kp133.ndim != 3 or kp133.shape[1:] != (133, 2) or kp17.shape != (len(kp133), 17, 2) or not len(kp133):
        raise ValueError(f"need (N, 133, 2) and (N, 17, 2) keypoints, got {kp133.shape} and {kp17.shape}")
    offsets = (kp133[:, :BODY_SOURCES] - kp133[:, [REFERENCE]]).transpose(0, 2, 1).reshape(-1, BODY_SOURCES)
    gram = offsets.T @ offsets
    gram += ridge * np.trace(gram) / BODY_SOURCES * np.eye(BODY_SOURCES)
    weights = np.zeros((17, BODY_SOURCES))
    for target in range(17):
        if target in SHARED:
            weights[target, SHARED[target]] = 1.0
            continue
        goal = (kp17[:, target] - kp133[:, REFERENCE]).reshape(-1)
        weights[target] = np.linalg.solve(gram, offsets.T @ goal)
        weights[target, REFERENCE] += 1.0 - weights[target].sum()
    return weights


def body_keypoints(input_map: np.ndarray, kp133: np.ndarray, conf133: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """H36M-17 keypoints (P, 17, 2) and confidences (P, 17) from whole-body ones (P, 133, 2), (P, 133)."""
    weights = np.asarray(input_map, np.float64)
    kp17 = np.einsum("ts,psd->ptd", weights, np.asarray(kp133, np.float64)[:, :BODY_SOURCES])
    used = np.abs(weights) >= SOURCE_WEIGHT
    conf = np.asarray(conf133, np.float32)[:, :BODY_SOURCES]
    conf17 = np.where(used[None], conf[:, None, :], np.float32(1.0)).min(axis=-1)
    return kp17.astype(np.float32), conf17.astype(np.float32)


def fuse_body(wholebody: np.ndarray, body: np.ndarray, input_map: np.ndarray) -> np.ndarray:
    """Whole-body poses (P, 133, 3) whose body comes from the expert's H36M-17 poses (P, 17, 3), both root-relative
    in one frame, the expert trained on ``input_map``; the result is centred on its COCO root (the midpoint of the
    hips) again.
    """
    wholebody = np.asarray(wholebody, np.float64)
    body = np.asarray(body, np.float64)
    fused = wholebody.copy()
    for h36m, coco in SHARED.items():
        fused[:, coco] = body[:, h36m]
    hips = body[:, [H36M_L_HIP, H36M_R_HIP]]
    across = hips[:, 1] - hips[:, 0]
    up = body[:, H36M_THORAX] - body[:, H36M_PELVIS]
    up -= (up * across).sum(-1, keepdims=True) / np.maximum((across * across).sum(-1, keepdims=True), 1e-12) * across
    up /= np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-12)
    fused[:, list(COCO_HIPS)] = hips + HIP_RAISE_M * up[:, None]
    # The neck of the whole-body pose is the same map applied in 3D (affine combinations commute with projection
    # up to perspective), so the head moves by the expert's neck minus it.
    neck = np.einsum("s,psd->pd", np.asarray(input_map, np.float64)[H36M_NECK], wholebody[:, :BODY_SOURCES])
    fused[:, list(HEAD)] += (body[:, H36M_NECK] - neck)[:, None]
    for joints, wrist in HANDS:
        fused[:, list(joints)] += (fused[:, wrist] - wholebody[:, wrist])[:, None]
    for joints, ankle in FEET:
        fused[:, list(joints)] += (fused[:, ankle] - wholebody[:, ankle])[:, None]
    return (fused - fused[:, list(COCO_HIPS)].mean(axis=1, keepdims=True)).astype(np.float32)
