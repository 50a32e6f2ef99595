"""Multi-person bookkeeping for the tasks backend: which hand and face belong to whom, and stable person ids."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

POSE_NOSE, POSE_LEFT_WRIST, POSE_RIGHT_WRIST = 0, 15, 16
ASSOCIATION_GATE = 0.15
"""A hand or face is given to a person only if it lies within this fraction of the person's size (the diagonal of
their pose landmarks' bounding box) of the matching pose landmark: a few centimetres of disagreement between the
two models is normal, a quarter of a metre is another person's hand."""


def _assign(cost: np.ndarray, gate: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost one-to-one matching of rows to columns, keeping only pairs with cost <= gate (per column)."""
    if cost.size == 0:
        return []
    allowed = cost <= gate[None, :]
    rows, cols = linear_sum_assignment(np.where(allowed, cost, 1e12))
    return [(r, c) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]


def person_scale(pose_xy: np.ndarray) -> np.ndarray:
    """Size of each person (P,): the diagonal of the bounding box of their (P, 33, 2) pose landmarks."""
    return np.linalg.norm(pose_xy.max(axis=1) - pose_xy.min(axis=1), axis=-1)


def associate_parts(pose_xy: np.ndarray, hand_wrists: np.ndarray, face_noses: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Give detected hands and faces to people by proximity.

    ``pose_xy`` (P, 33, 2) pose landmarks, ``hand_wrists`` (H, 2) each detected hand's wrist landmark,
    ``face_noses`` (F, 2) each detected face's nose-tip vertex, all in pixels. A hand's wrist is matched to the
    pose wrists (each person has a left and a right slot), a face's nose tip to the pose nose, by a minimum-total-
    distance assignment gated by ASSOCIATION_GATE. The hand model's own left/right label is not used: it assumes
    mirrored selfie images and is unreliable on people seen from behind, whereas the pose model's wrists are the
    person's own sides. Returns hand_index (P, 2) [left, right] and face_index (P,), -1 where none was matched.
    """
    num_people = len(pose_xy)
    gate = ASSOCIATION_GATE * person_scale(pose_xy) if num_people else np.zeros(0)
    hand_index = np.full((num_people, 2), -1, np.intp)
    face_index = np.full(num_people, -1, np.intp)
    wrists = pose_xy[:, [POSE_LEFT_WRIST, POSE_RIGHT_WRIST]].reshape(-1, 2)  # slot 2p + side
    hand_cost = np.linalg.norm(np.asarray(hand_wrists)[:, None] - wrists[None], axis=-1)
    for hand, slot in _assign(hand_cost, np.repeat(gate, 2)):
        hand_index[slot // 2, slot % 2] = hand
    face_cost = np.linalg.norm(np.asarray(face_noses)[:, None] - pose_xy[None, :, POSE_NOSE], axis=-1)
    for face, person in _assign(face_cost, gate):
        face_index[person] = face
    return hand_index, face_index


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (N, M) of boxes (N, 4) and (M, 4) given as x0, y0, x1, y1."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0, None), axis=-1)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=-1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=-1)
    return intersection / np.maximum(area_a[:, None] + area_b[None, :] - intersection, 1e-9)


class IouTracker:
    """Stable person ids across frames: each person's box is matched to the tracks of the previous frames by IoU.

    Boxes overlapping a track by at least ``min_iou`` continue it (best total IoU wins, one box per track); other
    boxes start a new id. A track not seen for more than ``max_missed`` frames is forgotten. People who cross or
    leave and come back may get a new id; that is the price of keeping it this simple.
    """

    def __init__(self, min_iou: float = 0.3, max_missed: int = 10) -> None:
        self.min_iou = min_iou
        self.max_missed = max_missed
        self._boxes = np.zeros((0, 4))
        self._ids = np.zeros(0, np.int64)
        self._missed = np.zeros(0, np.int64)
        self._next_id = 0

    def update(self, boxes: np.ndarray) -> np.ndarray:
        """Ids (N,) for this frame's boxes (N, 4)."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        ids = np.full(len(boxes), -1, np.int64)
        iou = box_iou(boxes, self._boxes)
        matched_tracks = []
        for box, track in _assign(-iou, np.full(len(self._boxes), -self.min_iou)):
            ids[box] = self._ids[track]
            self._boxes[track] = boxes[box]
            matched_tracks.append(track)
        self._missed += 1
        self._missed[matched_tracks] = 0
        new = ids < 0
        ids[new] = self._next_id + np.arange(new.sum())
        self._next_id += int(new.sum())
        keep = self._missed <= self.max_missed
        self._boxes = np.concatenate([self._boxes[keep], boxes[new]])
        self._ids = np.concatenate([self._ids[keep], ids[new]])
        self._missed = np.concatenate([self._missed[keep], np.zeros(new.sum(), np.int64)])
        return ids
