"""Backend ``movenet``: several people per image, whole body, from models that install from PyPI (the default).

Top-down, as MediaPipe's own trackers work, with one multi-person model in front:

1. **People**: MoveNet MultiPose Lightning (Google) finds up to six people per frame, a box and the 17 COCO body
   keypoints each; the tracker gives them ids that persist across frames.
2. **Face and hands**: MediaPipe's face-landmark and hand-landmark models run on rotated crops of each person
   (:mod:`pose3d_ros.keypoints2d.crops`): first placed from the body keypoints (eyes and nose; elbow -> wrist),
   then from the part's own landmarks of the previous frame, so that no separate face or palm detector is needed.
3. **Feet**: MediaPipe's pose-landmark model on a crop of the whole person gives heels and toes.

Cost grows with the people, so each frame refreshes the face and hands of at most ``parts_per_frame`` people and
the feet of ``feet_per_frame`` people (0.5: one person's every other frame; the pose-landmark model that finds feet
costs as much as MoveNet), the longest-waiting first; the other people keep the landmarks found
earlier, moved with their wrist, nose or ankles, with a confidence that falls to 0 over ``part_max_age_s``.
Every model file is pinned and checked (:mod:`pose3d_ros.keypoints2d.models`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import cv2
import numpy as np

from pose3d_ros.keypoints2d import crops
from pose3d_ros.keypoints2d.detector import KeypointDetector
from pose3d_ros.keypoints2d.mapping import MediaPipeLandmarks
from pose3d_ros.keypoints2d.models import (
    FACE_LANDMARK,
    HAND_LANDMARK_LITE,
    MOVENET_MULTIPOSE,
    POSE_LANDMARK_FULL,
    LiteModel,
)
from pose3d_ros.keypoints2d.tracking import PersonTracker

log = logging.getLogger(__name__)

MOVENET_MAX_PEOPLE = 6
"""MoveNet MultiPose reports at most six people per image."""
POSE_FROM_COCO17 = np.array([0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28])
"""MediaPipe pose-landmark index of each COCO body keypoint (nose, eyes, ears, shoulders, ... ankles)."""
FEET_LANDMARKS = np.array([29, 30, 31, 32])  # left heel, right heel, left foot index, right foot index
NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR = 0, 1, 2, 3, 4
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_ELBOW, RIGHT_ELBOW, LEFT_WRIST, RIGHT_WRIST = 5, 6, 7, 8, 9, 10
LEFT_HIP, RIGHT_HIP, LEFT_ANKLE, RIGHT_ANKLE = 11, 12, 15, 16
ARMS = ((LEFT_ELBOW, LEFT_WRIST), (RIGHT_ELBOW, RIGHT_WRIST))  # [left, right], as MediaPipeLandmarks.hands

INPUT_STRIDE = 32
"""MoveNet takes any input whose sides are multiples of 32: a 16:9 frame is fed at 256 x 160, not padded square."""
FACE_INPUT, HAND_INPUT, BODY_INPUT = 192, 224, 256
FACE_EYE_CORNERS = (263, 33)
"""Face-mesh vertices at the person's left and right outer eye corners: they set the next face crop's rotation."""
HAND_MIDDLE_BASE = 9
"""Hand landmark at the middle finger's base: wrist -> it points up in the next hand crop."""


ACQUIRE_PRESENCE = 0.1
"""A first crop from body keypoints whose landmark presence reaches this is re-cropped from its landmarks."""


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


@dataclass(frozen=True)
class LandmarkPart:
    """A face or a hand: its landmark model's input size, and how its next crop follows from its landmarks."""

    input_size: int
    presence_is_logit: bool
    """The face model gives its presence as a logit, the hand model as a probability."""
    axis: tuple[int, int]
    """Landmarks (a, b) whose direction a - b sets the crop's rotation ..."""
    axis_is_across: bool
    """... as the part's "up" (a hand: wrist -> middle finger) or as its "right" (a face: eye to eye)."""
    side_per_box: float

    def roi(self, points: np.ndarray) -> crops.Roi | None:
        direction = points[self.axis[0]] - points[self.axis[1]]
        up = np.array([direction[1], -direction[0]]) if self.axis_is_across else direction
        return crops.roi_around(points, up, self.side_per_box)

    def run(self, model: LiteModel, rgb: np.ndarray, roi: crops.Roi) -> tuple[np.ndarray, float]:
        """Landmarks (N, 2) in image pixels and the presence probability of the part in ``roi``."""
        landmarks, flag = model(roi.crop(rgb, self.input_size)[None])[:2]
        presence = float(flag.ravel()[0])
        if self.presence_is_logit:
            presence = _sigmoid(presence)
        return roi.to_image(landmarks.reshape(-1, 3)[:, :2], self.input_size), presence


FACE_PART = LandmarkPart(FACE_INPUT, True, FACE_EYE_CORNERS, True, crops.FACE_SIDE_PER_LANDMARK_BOX)
HAND_PART = LandmarkPart(HAND_INPUT, False, (HAND_MIDDLE_BASE, 0), False, crops.HAND_SIDE_PER_LANDMARK_BOX)


@dataclass
class PartTrack:
    """One part of one person as last found: landmarks in image pixels, the body keypoint they move with, their
    presence probability, and when they were found.
    """

    points: np.ndarray
    anchor: np.ndarray
    presence: float
    found_s: float

    def carried(self, anchor: np.ndarray | None, now_s: float, max_age_s: float) -> tuple[np.ndarray, float]:
        """Landmarks moved with the anchor's motion since they were found, and their confidence after ageing."""
        age = now_s - self.found_s
        confidence = self.presence * max(0.0, 1.0 - age / max_age_s) if age > 0 else self.presence
        if anchor is None:
            return self.points, confidence
        shifted = self.points.copy()
        shifted[:, :2] += anchor - self.anchor
        return shifted, confidence


@dataclass
class PersonParts:
    """What the backend remembers of one tracked person between frames."""

    face: PartTrack | None = None
    hands: list[PartTrack | None] = field(default_factory=lambda: [None, None])
    feet: PartTrack | None = None
    parts_refreshed_s: float = -math.inf
    feet_refreshed_s: float = -math.inf
    seen_s: float = -math.inf


@dataclass
class People:
    """MoveNet's people in one image: boxes (P, 4) x0 y0 x1 y1, keypoints (P, 17, 2) pixels, scores (P, 17)."""

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray


@dataclass
class MoveNetFrame:
    """The raw output of one call: the people, their ids, and their landmarks."""

    landmarks: MediaPipeLandmarks
    ids: np.ndarray


class MoveNetDetector(KeypointDetector):
    """Several people per image: MoveNet for the people, MediaPipe's landmark models for faces, hands and feet.

    ``static_image_mode`` treats every call as an unrelated image (no tracking; every person's parts found
    afresh), else calls are frames of one stream. ``max_people`` (1-6) keeps the highest-scoring people;
    ``min_person_score`` is MoveNet's person score below which a detection is dropped; ``min_keypoint_score`` the
    body-keypoint score below which a keypoint does not place a crop; ``min_part_presence`` the landmark models'
    presence probability below which a face, hand or foot is not found. ``input_size`` is MoveNet's longer input
    side (multiple of 32). ``num_threads`` is the stage's threads: LiteRT's for MoveNet, then as many workers that
    run the landmark models of different parts side by side (each with its own interpreters).
    """

    backend = "movenet"

    def __init__(self, *, static_image_mode: bool = False, max_people: int = MOVENET_MAX_PEOPLE,
                 min_person_score: float = 0.15, min_keypoint_score: float = 0.3, min_part_presence: float = 0.5,
                 parts_per_frame: int = 4, feet_per_frame: float = 0.5, part_max_age_s: float = 0.5,
                 input_size: int = 256, num_threads: int = 2) -> None:
        super().__init__()
        if not 1 <= max_people <= MOVENET_MAX_PEOPLE:
            raise ValueError(f"max_people must be 1 to {MOVENET_MAX_PEOPLE} (MoveNet's limit), got {max_people}")
        if input_size < INPUT_STRIDE or input_size % INPUT_STRIDE:
            raise ValueError(f"input_size must be a positive multiple of {INPUT_STRIDE}, got {input_size}")
        if parts_per_frame < 1 or feet_per_frame < 0 or part_max_age_s <= 0:
            raise ValueError("parts_per_frame must be at least 1, feet_per_frame at least 0 and part_max_age_s > 0")
        self.static_image_mode = static_image_mode
        self.max_people = max_people
        self.min_person_score = min_person_score
        self.min_keypoint_score = min_keypoint_score
        self.min_part_presence = min_part_presence
        self.parts_per_frame = parts_per_frame
        self.feet_per_frame = feet_per_frame
        self._feet_credit = 0.0  # feet refreshes owed: feet_per_frame is added each frame, one spent per person
        self.part_max_age_s = part_max_age_s
        self.input_size = input_size
        self._num_threads = num_threads
        self._people_model: LiteModel | None = None
        self._people_model = self._movenet((input_size, input_size))
        self._local = threading.local()
        self._models()  # load (and verify) the landmark models now, not on the first frame
        self._pool = ThreadPoolExecutor(num_threads, thread_name_prefix="landmarks") if num_threads > 1 else None
        self._tracker = PersonTracker()
        self.last_people_model_s: float | None = None
        """Time of the last call's MoveNet alone (the people model), for benchmarks."""
        self._parts: dict[int, PersonParts] = {}
        self._clock_s = 0.0

    # ---------------------------------------------------------------------------------------------- people
    def _movenet(self, input_hw: tuple[int, int]) -> LiteModel:
        if self._people_model is not None and self._people_model.input_shape[1:3] == input_hw:
            return self._people_model
        self._people_model = LiteModel(MOVENET_MULTIPOSE, num_threads=self._num_threads,
                                       input_shape=(1, *input_hw, 3))
        return self._people_model

    def find_people(self, rgb: np.ndarray) -> People:
        """MoveNet on the whole image, scaled to ``input_size`` on its longer side (no square padding)."""
        height, width = rgb.shape[:2]
        scale = self.input_size / max(width, height)
        resized_w, resized_h = max(1, round(width * scale)), max(1, round(height * scale))
        input_h, input_w = (-(-side // INPUT_STRIDE) * INPUT_STRIDE for side in (resized_h, resized_w))
        model = self._movenet((input_h, input_w))
        start = time.perf_counter()
        canvas = np.zeros((1, input_h, input_w, 3), np.uint8)
        canvas[0, :resized_h, :resized_w] = cv2.resize(rgb, (resized_w, resized_h), interpolation=cv2.INTER_AREA)
        rows = model(canvas)[0][0]  # (6, 56): 17 x (y, x, score), then ymin, xmin, ymax, xmax, score
        self.last_people_model_s = time.perf_counter() - start
        rows = rows[np.isfinite(rows).all(axis=1) & (rows[:, 55] >= self.min_person_score)]
        rows = rows[np.argsort(-rows[:, 55], kind="stable")][: self.max_people]
        to_pixels = np.array([input_w, input_h], np.float32) / scale
        yxs = rows[:, :51].reshape(-1, 17, 3)
        keypoints = yxs[..., 1::-1] * to_pixels
        boxes = rows[:, [52, 51, 54, 53]] * np.tile(to_pixels, 2)
        return People(boxes.astype(np.float32), keypoints.astype(np.float32), yxs[..., 2].astype(np.float32))

    # ----------------------------------------------------------------------------------------- the frame
    def _run(self, rgb: np.ndarray, timestamp_s: float | None) -> MoveNetFrame:
        if self._people_model is None:
            raise RuntimeError("this MoveNet detector has been closed")
        now = self._frame_time(timestamp_s)
        people = self.find_people(rgb)
        if self.static_image_mode:
            self._parts.clear()
            ids = np.arange(len(people.boxes), dtype=np.int64)
        else:
            ids = self._tracker.update(people.boxes, people.keypoints, people.scores, now)
        states = [self._parts.setdefault(int(i), PersonParts()) for i in ids]
        for state in states:
            state.seen_s = now
        self._forget_people(now)

        jobs: list[tuple[PersonParts, str, int, Callable[[], PartTrack | None]]] = []
        everyone = len(states) if self.static_image_mode else None
        for person in self._longest_waiting(states, "parts_refreshed_s", everyone or self.parts_per_frame):
            states[person].parts_refreshed_s = now
            jobs += self._face_and_hand_jobs(rgb, people, person, states[person], now)
        if self.feet_per_frame:
            self._feet_credit = min(self._feet_credit + self.feet_per_frame, max(len(states), 1))
            feet = everyone or int(self._feet_credit)
            self._feet_credit -= min(feet, len(states))
            for person in self._longest_waiting(states, "feet_refreshed_s", feet):
                states[person].feet_refreshed_s = now
                jobs.append((states[person], "feet", 0, partial(self._find_feet, rgb, people, person, now)))
        tracks = self._pool.map(lambda job: job[3](), jobs) if self._pool and len(jobs) > 1 else [
            job[3]() for job in jobs]
        for (state, part, side, _), track in zip(jobs, tracks, strict=True):
            if part == "hands":
                state.hands[side] = track
            else:
                setattr(state, part, track)
        return MoveNetFrame(self._landmarks(people, states, now), ids)

    def _frame_time(self, timestamp_s: float | None) -> float:
        """The stream's time: the caller's stamp, or a steady 1/30 s per call when none is given. When it goes back
        (a looped bag, a restarted clock) nothing found earlier is carried over: the tracker restarts too.
        """
        now = self._clock_s + 1 / 30 if timestamp_s is None else float(timestamp_s)
        if now < self._clock_s:
            self._parts.clear()
        self._clock_s = now
        return now

    def _forget_people(self, now: float) -> None:
        """Drop what is remembered of people gone for longer than their parts can be carried."""
        for person_id in [i for i, s in self._parts.items() if now - s.seen_s > self.part_max_age_s]:
            del self._parts[person_id]

    @staticmethod
    def _longest_waiting(states: list[PersonParts], attribute: str, count: int) -> list[int]:
        order = sorted(range(len(states)), key=lambda k: getattr(states[k], attribute))
        return order[:count]

    def _seen(self, people: People, person: int) -> np.ndarray:
        keypoints = people.keypoints[person]
        inside = np.isfinite(keypoints).all(axis=1)
        return inside & (people.scores[person] >= self.min_keypoint_score)

    def _models(self) -> dict:
        """This thread's landmark interpreters (a LiteRT interpreter must not be shared between threads)."""
        models = getattr(self._local, "models", None)
        if models is None:
            models = {FACE_PART: LiteModel(FACE_LANDMARK), HAND_PART: LiteModel(HAND_LANDMARK_LITE)}
            if self.feet_per_frame:
                models["body"] = LiteModel(POSE_LANDMARK_FULL)
            self._local.models = models
        return models

    # -------------------------------------------------------------------------------------------- parts
    def _face_and_hand_jobs(self, rgb: np.ndarray, people: People, person: int, state: PersonParts, now: float
                            ) -> list[tuple[PersonParts, str, int, Callable[[], PartTrack | None]]]:
        """One job per face and hand to look for: from last frame's landmarks, else placed from the body."""
        keypoints, seen = people.keypoints[person], self._seen(people, person)
        jobs = []
        roi, acquiring = self._tracked_roi(state.face, now, FACE_PART), False
        if roi is None:
            head = [NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR, LEFT_SHOULDER, RIGHT_SHOULDER]
            roi = crops.face_roi_from_head(keypoints[NOSE], keypoints[[LEFT_EYE, RIGHT_EYE]],
                                           keypoints[[LEFT_EAR, RIGHT_EAR]],
                                           keypoints[[LEFT_SHOULDER, RIGHT_SHOULDER]], seen[head])
            acquiring = True
        jobs.append((state, "face", 0, partial(self._find_part, FACE_PART, rgb, roi, keypoints[NOSE], now,
                                               acquiring)))
        for side, (elbow, wrist) in enumerate(ARMS):
            roi, acquiring = self._tracked_roi(state.hands[side], now, HAND_PART), False
            if roi is None and seen[elbow] and seen[wrist]:
                roi, acquiring = crops.hand_roi_from_arm(keypoints[elbow], keypoints[wrist]), True
            jobs.append((state, "hands", side, partial(self._find_part, HAND_PART, rgb, roi, keypoints[wrist], now,
                                                       acquiring)))
        return jobs

    def _tracked_roi(self, track: PartTrack | None, now: float, part: LandmarkPart) -> crops.Roi | None:
        """The next crop from the part's landmarks of the last frame, if they are recent enough to follow."""
        if track is None or now - track.found_s > self.part_max_age_s:
            return None
        return part.roi(track.points[:, :2])

    def _find_part(self, part: LandmarkPart, rgb: np.ndarray, roi: crops.Roi | None, anchor: np.ndarray,
                   now: float, acquiring: bool) -> PartTrack | None:
        """Run the part's landmark model on ``roi``. A crop placed from body keypoints (``acquiring``) is only
        roughly centred: when the model sees something there, it runs once more on the crop its own landmarks
        give, as MediaPipe re-crops a hand found from the pose.
        """
        if roi is None:
            return None
        model = self._models()[part]
        points, presence = part.run(model, rgb, roi)
        if acquiring and presence >= ACQUIRE_PRESENCE:
            roi = part.roi(points)
            if roi is None:
                return None
            points, presence = part.run(model, rgb, roi)
        if presence < self.min_part_presence:
            return None
        return PartTrack(points, anchor.astype(np.float64), presence, now)

    def _find_feet(self, rgb: np.ndarray, people: People, person: int, now: float) -> PartTrack | None:
        """Heels and toes from MediaPipe's pose-landmark model on a crop of the whole person (with every
        landmark's depth, which places the little toes).
        """
        keypoints, seen = people.keypoints[person], self._seen(people, person)
        roi = crops.body_roi(keypoints, seen, (LEFT_HIP, RIGHT_HIP), (LEFT_SHOULDER, RIGHT_SHOULDER))
        if roi is None:
            return None
        outputs = self._models()["body"](roi.crop(rgb, BODY_INPUT)[None])
        landmarks, flag = outputs[0].reshape(-1, 5), float(outputs[1].ravel()[0])
        if flag < self.min_part_presence:
            return None
        xy = roi.to_image(landmarks[:33, :2], BODY_INPUT)
        z = landmarks[:33, 2:3] * (roi.side / BODY_INPUT)
        visibility = 1.0 / (1.0 + np.exp(-np.clip(landmarks[:33, 3:4], -60, 60)))
        ankles = keypoints[[LEFT_ANKLE, RIGHT_ANKLE]].mean(axis=0).astype(np.float64)
        return PartTrack(np.hstack([xy, z, visibility]), ankles, flag, now)

    # ------------------------------------------------------------------------------------------ output
    def _landmarks(self, people: People, states: list[PersonParts], now: float) -> MediaPipeLandmarks:
        out = MediaPipeLandmarks.allocate(len(states))
        out.pose[:, POSE_FROM_COCO17, :2] = people.keypoints
        out.pose[:, POSE_FROM_COCO17, 3] = people.scores
        for person, state in enumerate(states):
            keypoints, seen = people.keypoints[person], self._seen(people, person)
            if state.face is not None:
                anchor = keypoints[NOSE] if seen[NOSE] else None
                points, confidence = state.face.carried(anchor, now, self.part_max_age_s)
                out.face[person] = points
                out.face_found[person] = confidence > 0
                out.face_confidence[person] = confidence
            for side, (_, wrist) in enumerate(ARMS):
                track = state.hands[side]
                if track is not None:
                    points, confidence = track.carried(keypoints[wrist] if seen[wrist] else None, now,
                                                       self.part_max_age_s)
                    out.hands[person, side] = points
                    out.hands_found[person, side] = confidence > 0
                    out.hands_confidence[person, side] = confidence
            if state.feet is not None:
                ankles = [LEFT_ANKLE, RIGHT_ANKLE]
                anchor = keypoints[ankles].mean(axis=0) if seen[ankles].all() else None
                points, confidence = state.feet.carried(anchor, now, self.part_max_age_s)
                out.pose[person, FEET_LANDMARKS] = points[FEET_LANDMARKS]
                out.pose[person, FEET_LANDMARKS, 3] *= confidence
                out.pose[person, :, 2] = points[:, 2]
        return out

    def _extract(self, raw: MoveNetFrame, width: int, height: int) -> MediaPipeLandmarks:
        return raw.landmarks

    def _person_ids(self, raw: MoveNetFrame, landmarks: MediaPipeLandmarks) -> np.ndarray:
        return raw.ids

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._people_model = None
        self._local = threading.local()
        self._parts.clear()
