"""Multi-person bookkeeping: which hand and face belong to whom (tasks backend), and persistent person ids."""

from __future__ import annotations

import logging
from functools import partial

import norfair
import numpy as np
from norfair import Detection
from scipy.optimize import linear_sum_assignment

log = logging.getLogger(__name__)

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


NUM_BODY_KEYPOINTS = 17
STEADY_POINTS = np.r_[0:7, 11, 12, 17, 18]
"""Head, shoulders, hips and the two box corners: the points that move with the person as a whole. The distance
uses only these, because a constant-velocity prediction of a swinging wrist or ankle is off by half a step within
a few frames, which would make a hidden person's own track look farther than the person in front of them."""


class PersonTracker:
    """Person ids that stay with a person across frames, through short occlusions, crossings and exits.

    norfair follows each person as their 17 COCO body keypoints plus the two corners of their box, with a
    constant-velocity Kalman filter per point, and matches this frame's detections to the tracks' predictions
    (greedily, smallest distance first). The distance is the mean distance of the steady points (STEADY_POINTS)
    seen in both, relative to the detection's box diagonal, plus ``size_weight`` times the absolute log ratio of
    the detection's box height to the track's last matched box height; a match needs a distance below
    ``match_distance``. The size term keeps people at different depths apart where they cross: the nearer one is
    taller in the image, so a hidden person's track does not take the detection of the person in front of them
    (nor the reverse), and coasts on its prediction instead. The prediction lets ids survive a crossing in which
    one person is hidden. norfair counts frames: it keeps predicting a lost track for as many frames as the track
    had been seen, at most ``predict_frames``. After norfair gives up, this class keeps the track's last seen box
    until ``max_lost_s`` seconds (time, not frames) after it was last seen: a newly found person gets such a
    box's id back if their box height is within a factor ``reid_size_ratio`` of it and the distance of the box
    centres in its box heights, plus ``reid_size_weight`` times the absolute log height ratio, is below
    ``reid_distance`` (least total first, one each). That brings back a person who left the image and returned at
    the same edge, or came out from behind someone later than predicted, and the size term picks the right one
    when two people were lost close together.

    Ids start at 0 and are never reused within a tracker's life. Keypoints that are NaN/inf or whose score is at
    most ``min_keypoint_score`` count as unseen. A timestamp earlier than the previous one (a bag played in a loop)
    resets the tracker, logged at INFO: every person gets a new id, since nothing from the old timeline is valid
    in the new one. Equal timestamps are allowed.
    """

    def __init__(self, max_lost_s: float = 5.0, match_distance: float = 0.3, reid_distance: float = 1.5,
                 predict_frames: int = 30, min_keypoint_score: float = 0.1, reid_size_ratio: float = 1.5,
                 size_weight: float = 0.5, reid_size_weight: float = 3.0) -> None:
        if (max_lost_s < 0 or match_distance <= 0 or reid_distance < 0 or predict_frames < 1 or size_weight < 0
                or reid_size_weight < 0 or reid_size_ratio < 1):
            raise ValueError("max_lost_s, reid_distance, size_weight and reid_size_weight must be >= 0, "
                             "match_distance > 0, predict_frames >= 1, reid_size_ratio >= 1")
        self.reid_size_ratio = reid_size_ratio
        self.size_weight = size_weight
        self.reid_size_weight = reid_size_weight
        self.max_lost_s = max_lost_s
        self.match_distance = match_distance
        self.reid_distance = reid_distance
        self.predict_frames = predict_frames
        self.min_keypoint_score = min_keypoint_score
        self._next_id = 0
        self._reset()

    def _reset(self) -> None:
        # initialization_delay=0: every detection gets an id in the frame it first appears (the pipeline needs one)
        self._norfair = norfair.Tracker(distance_function="euclidean", distance_threshold=self.match_distance,
                                        hit_counter_max=self.predict_frames, initialization_delay=0)
        # Set after construction: norfair's constructor logs a warning for any callable (it prefers vectorised
        # distances, which cannot see the per-point scores this distance needs).
        self._norfair.distance_function = norfair.distances.ScalarDistance(
            partial(_relative_keypoint_distance, size_weight=self.size_weight))
        self._id_of_object: dict[int, int] = {}  # norfair object id -> our id
        self._last_box: dict[int, np.ndarray] = {}  # our id -> box when last seen
        self._last_seen_s: dict[int, float] = {}  # our id -> time when last seen
        self._last_timestamp_s: float | None = None

    def update(self, boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, timestamp_s: float) -> np.ndarray:
        """Ids (N,) int64 of this frame's people: ``boxes`` (N, 4) x0, y0, x1, y1, ``keypoints`` (N, 17, 2), both in
        pixels, ``scores`` (N, 17) in [0, 1], ``timestamp_s`` the frame's time in seconds.
        """
        boxes, keypoints, scores = _validated(boxes, keypoints, scores)
        if self._last_timestamp_s is not None and timestamp_s < self._last_timestamp_s:
            log.info("time went back from %.3f s to %.3f s: person tracking restarts, with new ids",
                     self._last_timestamp_s, timestamp_s)
            self._reset()
        self._last_timestamp_s = timestamp_s
        self._forget_lost(timestamp_s)
        seen = np.isfinite(keypoints).all(axis=-1) & (scores > self.min_keypoint_score)
        points = np.concatenate([np.where(seen[..., None], keypoints, 0.0), boxes.reshape(-1, 2, 2)], axis=1)
        point_scores = np.concatenate([seen, np.ones((len(boxes), 2), bool)], axis=1).astype(np.float64)
        diagonals = np.maximum(np.linalg.norm(boxes[:, 2:] - boxes[:, :2], axis=1), 1.0)
        heights = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
        detections = [Detection(points[i], scores=point_scores[i], data=(i, diagonals[i], heights[i]))
                      for i in range(len(boxes))]
        objects = self._norfair.update(detections)

        ids = np.full(len(boxes), -1, np.int64)
        new_objects = []
        for obj in objects:
            if not any(obj.last_detection is detection for detection in detections):
                continue  # not matched in this frame
            if obj.id in self._id_of_object:
                ids[obj.last_detection.data[0]] = self._id_of_object[obj.id]
            else:
                new_objects.append(obj)
        self._give_ids(new_objects, boxes, ids, timestamp_s)
        for index, person_id in enumerate(ids):
            self._last_box[person_id] = boxes[index]
            self._last_seen_s[person_id] = timestamp_s
        return ids

    def _give_ids(self, new_objects: list, boxes: np.ndarray, ids: np.ndarray, timestamp_s: float) -> None:
        """Ids for norfair's new objects: a lost person's id if the box has their place and size, else a new one."""
        alive = {obj.id for obj in self._norfair.tracked_objects}
        predicted = {pid for obj_id, pid in self._id_of_object.items() if obj_id in alive}
        lost = [person_id for person_id in self._last_box if person_id not in ids and person_id not in predicted]
        new_boxes = np.array([boxes[obj.last_detection.data[0]] for obj in new_objects]).reshape(-1, 4)
        lost_boxes = np.array([self._last_box[person_id] for person_id in lost]).reshape(-1, 4)
        lost_heights = np.maximum(lost_boxes[:, 3] - lost_boxes[:, 1], 1.0)
        centre_distance = np.linalg.norm(_centres(new_boxes)[:, None] - _centres(lost_boxes)[None], axis=-1)
        new_heights = np.maximum(new_boxes[:, 3] - new_boxes[:, 1], 1.0)
        log_ratio = np.abs(np.log(new_heights[:, None] / lost_heights[None]))
        cost = np.where(log_ratio < np.log(self.reid_size_ratio),
                        centre_distance / lost_heights[None] + self.reid_size_weight * log_ratio, np.inf)
        reidentified = dict(_assign(cost, np.full(len(lost), self.reid_distance)))
        for row, obj in enumerate(new_objects):
            if row in reidentified:
                person_id = lost[reidentified[row]]
                self._drop_objects_of(person_id)
            else:
                person_id = self._next_id
                self._next_id += 1
            self._id_of_object[obj.id] = person_id
            ids[obj.last_detection.data[0]] = person_id

    def _drop_objects_of(self, person_id: int) -> None:
        """Stop norfair predicting a person's old object, which would otherwise claim the id a second time."""
        stale = {obj_id for obj_id, pid in self._id_of_object.items() if pid == person_id}
        self._norfair.tracked_objects = [obj for obj in self._norfair.tracked_objects if obj.id not in stale]
        for obj_id in stale:
            del self._id_of_object[obj_id]

    def _forget_lost(self, timestamp_s: float) -> None:
        """Drop people unseen for more than max_lost_s, and our record of objects norfair has dropped."""
        for person_id in [pid for pid, seen_s in self._last_seen_s.items() if timestamp_s - seen_s > self.max_lost_s]:
            self._drop_objects_of(person_id)
            del self._last_box[person_id], self._last_seen_s[person_id]
        alive = {obj.id for obj in self._norfair.tracked_objects}
        self._id_of_object = {obj_id: pid for obj_id, pid in self._id_of_object.items() if obj_id in alive}


def _relative_keypoint_distance(detection, tracked_object, size_weight: float) -> float:
    """Mean distance of the steady points seen in the detection and ever seen in the track, over the box diagonal,
    plus ``size_weight`` times the absolute log ratio of the detection's box height to the track's last matched one.

    The track's height is its last detection's, not the Kalman estimate of its box corners: while a person is
    hidden, the corners' noisy velocities make the predicted box grow or shrink, whereas their height hardly
    changes in the second or so a crossing hides them.
    """
    both = ((detection.scores > 0) & tracked_object.detected_at_least_once_points)[STEADY_POINTS]
    error = np.linalg.norm(detection.points[STEADY_POINTS][both] - tracked_object.estimate[STEADY_POINTS][both],
                           axis=-1).mean()
    size_change = abs(np.log(detection.data[2] / tracked_object.last_detection.data[2]))
    return float(error / detection.data[1] + size_weight * size_change)


def _centres(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, :2] + boxes[:, 2:]) / 2


def _validated(boxes, keypoints, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    keypoints = np.asarray(keypoints, dtype=np.float64).reshape(-1, NUM_BODY_KEYPOINTS, 2)
    scores = np.nan_to_num(np.asarray(scores, dtype=np.float64).reshape(-1, NUM_BODY_KEYPOINTS), nan=0.0)
    if not len(boxes) == len(keypoints) == len(scores):
        raise ValueError(f"{len(boxes)} boxes, {len(keypoints)} keypoint sets and {len(scores)} score sets: "
                         "one of each per person expected")
    if not np.isfinite(boxes).all():
        raise ValueError("person boxes must be finite")
    return boxes, keypoints, scores
