"""The body expert: an H36M-17 lifter that places the whole-body skeleton's body joints.

Why: lifting 133 joints with one 64-wide network spends most of its capacity on the face and hands, and its body
joints come out two to three times less accurate than those of the same network lifting 17 joints (on S9 with exact
2D: shoulders 56-62 mm against 23, knees 79 against 31-37, docs/lifting.md). So a whole-body lift takes its
body from an H36M-17 SemGAN and hangs the face, hands and feet that the whole-body network predicts on it.

* Input: H36M-17 has seven joints that COCO-WholeBody lacks (pelvis, H36M hips, spine, thorax, neck, head). Each
  of the 17 is an affine combination of the 23 COCO body and foot joints (:func:`fit_input_map`, least squares on
  the training set's exact 2D; the ten shared joints are themselves), and the expert is trained on those mapped
  keypoints, so it learns the map's small errors.
* Fusion (:func:`fuse_body`): the torso -- shoulders and hips, which set how the person leans -- is the expert's
  (COCO's hips are the H36M hips raised along the pelvis' up axis, as the training data defines them:
  :func:`~pose3d_ros.data.wholebody.coco_hips`). Elbows, wrists, knees and ankles are the two networks' estimates
  weighted by the inverse of their predicted error variances (SemGAN's error head), per person and joint: where
  the whole-body network sees a limb better (its wrists sit where its hands are) it keeps a share. The limbs keep
  the expert's bone lengths along the blend's directions: the whole-body network's limbs come out short, and a
  shorter body is placed nearer than it stands. The head (nose, eyes, ears, face) moves towards the expert's head
  joint by the same inverse-variance share: the face hangs on H36M's head joint in the data
  (:func:`pose3d_ros.data.wholebody.head_frame`). Each hand moves with its wrist and each foot with its ankle,
  keeping the shapes the whole-body network gives them.
"""

from __future__ import annotations

import numpy as np

from ..data.wholebody import coco_hips

BODY_SOURCES = 23
"""The COCO-WholeBody joints the map reads: body 0-16 and feet 17-22 (not the face, which detectors miss more)."""
SHARED = {2: 14, 3: 16, 5: 13, 6: 15, 11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10}
"""H36M-17 joint -> the same COCO joint (knees, ankles, shoulders, elbows, wrists)."""
REFERENCE = 11
"""COCO left hip: the regressed joints are offsets from it, so each row of the map sums to one (affine)."""
SOURCE_WEIGHT = 0.05
"""A mapped joint's confidence is the lowest of the joints weighing at least this much in it."""
H36M_L_HIP, H36M_R_HIP, H36M_PELVIS, H36M_THORAX, H36M_HEAD = 4, 1, 0, 8, 10
COCO_HIPS = (11, 12)
HEAD = tuple(range(0, 5)) + tuple(range(23, 91))
"""Nose, eyes, ears and the 68 face points: they move together, towards the expert's head joint."""
TORSO = (5, 6)
"""COCO shoulders: with the hips, always the expert's (they set the torso's lean)."""
LIMBS = ((5, 7, 9), (6, 8, 10), (11, 13, 15), (12, 14, 16))
"""COCO shoulder, elbow, wrist and hip, knee, ankle of each arm and leg."""
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


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _bone_length(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    return np.linalg.norm(end - start, axis=-1, keepdims=True)


def inverse_variance_weight(sigma: np.ndarray, other_sigma: np.ndarray) -> np.ndarray:
    """The weight of the estimate with error ``other_sigma`` when averaging it with one of error ``sigma``."""
    variance, other = np.square(sigma, dtype=np.float64), np.square(other_sigma, dtype=np.float64)
    return np.divide(variance, variance + other, out=np.full(variance.shape, 0.5), where=variance + other > 0)


_H36M_SHARED, _COCO_SHARED = np.array(list(SHARED)), np.array(list(SHARED.values()))
_BLENDED = ~np.isin(_COCO_SHARED, TORSO)
_ROOTS, _MIDDLES, _ENDS = (np.array(joints) for joints in zip(*LIMBS, strict=True))
_CARRIED = np.array([joint for joints, _ in (*HANDS, *FEET) for joint in joints])
_CARRIERS = np.array([anchor for joints, anchor in (*HANDS, *FEET) for _ in joints])
"""Each hand and foot joint, and the wrist or ankle that carries it."""


def fuse_body(wholebody: np.ndarray, wholebody_error: np.ndarray, body: np.ndarray, body_error: np.ndarray,
              input_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whole-body poses (P, 133, 3) and errors (P, 133) whose body comes from the expert's H36M-17 poses
    (P, 17, 3) with errors (P, 17), both root-relative in one frame, the expert trained on ``input_map``; the
    result is centred on its COCO root (the midpoint of the hips). A combined joint's error is the smaller of the
    two: the combination is at least as good as the better estimate, and the errors of two networks that saw the
    same keypoints are not independent enough for the inverse-variance formula's smaller one.
    """
    wholebody = np.asarray(wholebody, np.float64)
    body = np.asarray(body, np.float64)
    wholebody_error = np.asarray(wholebody_error, np.float32)
    body_error = np.asarray(body_error, np.float32)
    hips = coco_hips(body[:, H36M_L_HIP], body[:, H36M_R_HIP], body[:, H36M_PELVIS], body[:, H36M_THORAX])
    root = hips.mean(axis=1, keepdims=True)  # the expert's pose on the whole-body pose's root
    body, hips = body - root, hips - root
    expert = wholebody.copy()  # the expert's estimate of each COCO joint it has
    expert[:, _COCO_SHARED] = body[:, _H36M_SHARED]
    expert[:, list(COCO_HIPS)] = hips
    shared_error = body_error[:, _H36M_SHARED]
    weight = np.where(_BLENDED, inverse_variance_weight(wholebody_error[:, _COCO_SHARED], shared_error), 1.0)
    fused, error = expert.copy(), wholebody_error.copy()
    fused[:, _COCO_SHARED] = weight[..., None] * expert[:, _COCO_SHARED] + (1.0 - weight[..., None]) * wholebody[
        :, _COCO_SHARED]
    error[:, _COCO_SHARED] = np.where(_BLENDED, np.minimum(shared_error, wholebody_error[:, _COCO_SHARED]),
                                      shared_error)
    error[:, list(COCO_HIPS)] = body_error[:, [H36M_L_HIP, H36M_R_HIP]]
    # The limbs: the blend's directions, the expert's bone lengths.
    upper = _bone_length(expert[:, _ROOTS], expert[:, _MIDDLES])
    lower = _bone_length(expert[:, _MIDDLES], expert[:, _ENDS])
    middle_blend, end_blend = fused[:, _MIDDLES], fused[:, _ENDS]
    fused[:, _MIDDLES] = fused[:, _ROOTS] + upper * _unit(middle_blend - fused[:, _ROOTS])
    fused[:, _ENDS] = fused[:, _MIDDLES] + lower * _unit(end_blend - middle_blend)
    # The whole-body pose's own head joint is the map applied in 3D (affine combinations commute with projection up
    # to perspective).
    head = np.einsum("s,psd->pd", np.asarray(input_map, np.float64)[H36M_HEAD], wholebody[:, :BODY_SOURCES])
    weight = inverse_variance_weight(wholebody_error[:, list(HEAD[:5])].mean(axis=1), body_error[:, H36M_HEAD])
    fused[:, list(HEAD)] += (weight[:, None] * (body[:, H36M_HEAD] - head))[:, None]
    fused[:, _CARRIED] += fused[:, _CARRIERS] - wholebody[:, _CARRIERS]
    return (fused - fused[:, list(COCO_HIPS)].mean(axis=1, keepdims=True)).astype(np.float32), error
