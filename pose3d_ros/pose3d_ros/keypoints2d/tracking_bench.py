"""Synthetic 2D tracking benchmark: people walking, crossing, hiding and leaving, and how well trackers keep ids.

``make_sequence(seed, rate)`` draws one scene, ``score_ids`` counts a tracker's id errors against its truth and
``run_benchmark`` runs every candidate on the same sequences (`pose3d bench tracking`, docs/keypoints2d.md).
``demo_detections`` runs MoveNet MultiPose on the four-person demo and ``run_demo_benchmark`` every candidate on
those detections, scored against the demo's truth as a demo run scores it (`pose3d bench tracking --demo`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from pose3d_ros.keypoints2d.tracking import PersonTracker

IMAGE_SIZE = (1280, 720)
RATES = ("15fps", "30fps", "irregular")
KEYPOINT_NOISE_PX = 3.0
MISS_PROBABILITY = 0.05
FALSE_POSITIVE_PROBABILITY = 0.03  # per frame
OCCLUSION_S = (0.3, 1.0)
OUTSIDE_S = (2.0, 4.0)
STEPS_PER_S = 1.8  # walking cadence, steps per second
# A person facing the camera, feet at the origin, y up, in body heights, COCO body order (left = person's left).
BODY_TEMPLATE = np.array([
    (0.0, 0.93), (0.02, 0.95), (-0.02, 0.95), (0.05, 0.94), (-0.05, 0.94),  # nose, eyes, ears
    (0.11, 0.82), (-0.11, 0.82), (0.13, 0.64), (-0.13, 0.64), (0.13, 0.47), (-0.13, 0.47),  # arms
    (0.07, 0.52), (-0.07, 0.52), (0.07, 0.28), (-0.07, 0.28), (0.07, 0.04), (-0.07, 0.04),  # legs
])
LEFT_LEG, RIGHT_LEG, LEFT_ARM, RIGHT_ARM = [13, 15], [14, 16], [7, 9], [8, 10]


@dataclass
class TrackingSequence:
    """Per frame the detections a detector would report, and which true person each one is (-1: a false one)."""

    name: str
    timestamps: np.ndarray  # (T,) seconds
    boxes: list[np.ndarray]  # T × (N_t, 4) x0, y0, x1, y1 pixels
    keypoints: list[np.ndarray]  # T × (N_t, 17, 2) pixels
    scores: list[np.ndarray]  # T × (N_t, 17)
    truth: list[np.ndarray]  # T × (N_t,) int64
    occlusions_s: list[float]  # how long each crossing hid the farther person
    outside_s: list[float]  # how long each exit kept the leaving person outside the image


def _timestamps(rate: str, duration_s: float, rng: np.random.Generator) -> np.ndarray:
    if rate == "irregular":  # a 30 fps camera whose frames arrive one, two or three periods apart, with jitter
        gaps = rng.choice([1, 2, 3], size=int(duration_s * 30), p=[0.6, 0.25, 0.15]) / 30.0
        stamps = np.cumsum(gaps + rng.normal(0, 0.003, len(gaps)).clip(-0.01, 0.01))
        return stamps[stamps < duration_s]
    fps = {"15fps": 15.0, "30fps": 30.0}[rate]
    return np.arange(int(duration_s * fps)) / fps


def _triangle(t: np.ndarray, low: float, high: float, speed: float, phase: float) -> tuple[np.ndarray, np.ndarray]:
    """Walking back and forth between ``low`` and ``high`` at ``speed``: position and direction (+1 / -1)."""
    span = high - low
    travelled = (speed * t + phase * 2 * span) % (2 * span)
    going = travelled < span
    return np.where(going, low + travelled, high - (travelled - span)), np.where(going, 1.0, -1.0)


def _poses(x: np.ndarray, feet_y: float, height: float, direction: np.ndarray, walking: bool,
           t: np.ndarray) -> np.ndarray:
    """(T, 17, 2) image keypoints of one person: legs and arms swing in opposition at walking cadence."""
    body = np.repeat(BODY_TEMPLATE[None].copy(), len(t), axis=0)
    swing = np.sin(np.pi * STEPS_PER_S * t) * (1.0 if walking else 0.05)
    forward = direction[:, None]
    body[:, LEFT_LEG, 0] += forward * swing[:, None] * [0.08, 0.15]
    body[:, RIGHT_LEG, 0] -= forward * swing[:, None] * [0.08, 0.15]
    body[:, LEFT_ARM, 0] -= forward * swing[:, None] * [0.04, 0.08]
    body[:, RIGHT_ARM, 0] += forward * swing[:, None] * [0.04, 0.08]
    body[:, :, 1] += 0.01 * np.abs(swing)[:, None]
    return np.stack([x[:, None] + height * body[..., 0], feet_y - height * body[..., 1]], axis=-1)


def make_sequence(seed: int, rate: str = "30fps", duration_s: float = 24.0) -> TrackingSequence:
    """Four people on a 1280 × 720 image, drawn from ``seed`` (the same seed gives the same scene at every rate).

    Two walk back and forth across the image at different depths, a third walks out at the left edge, stays
    outside for 2-4 s and comes back at the same edge, a fourth stands in the background, swaying. Whenever two
    people cross, the farther one is missing from the detections for 0.3-1 s around the crossing. Every
    detection has 3 px of keypoint noise and random keypoint scores; 5 % of them are missed at random, and 3 % of
    frames hold a false detection (a small, low-scored skeleton somewhere in the image).
    """
    rng = np.random.default_rng(seed)
    t = _timestamps(rate, duration_s, rng)
    width, height_px = IMAGE_SIZE
    feet_y = np.array([rng.uniform(640, 700), rng.uniform(520, 580), rng.uniform(590, 630), rng.uniform(430, 460)])
    heights = 0.55 * feet_y  # farther (higher in the image) is smaller
    speeds = rng.uniform(0.55, 0.9, 4) * heights  # pixels per second
    out_s = rng.uniform(*OUTSIDE_S)
    leave_x = -speeds[2] * out_s / 2  # the turning point outside: the centre is outside the image for out_s
    tracks = [
        _triangle(t, 150, 1130, speeds[0], rng.uniform()),
        _triangle(t, 100, 1180, speeds[1], rng.uniform()),
        _triangle(t, leave_x, rng.uniform(700, 1000), speeds[2], rng.uniform(0.3, 0.45)),
        (rng.uniform(300, 1000) + 15 * np.sin(0.5 * t), np.ones_like(t)),
    ]
    poses = np.stack([_poses(x, feet_y[p], heights[p], d, p < 3, t) for p, (x, d) in enumerate(tracks)], axis=1)
    centres = poses[:, :, :, 0].mean(axis=-1)  # (T, 4)
    in_image = (centres >= 0) & (centres < width)
    outside_s = _outside_durations(t, in_image[:, 2])
    visible = in_image.copy()

    occlusions_s = []
    for near in range(4):
        for far in range(4):
            if feet_y[far] >= feet_y[near]:
                continue
            side = np.sign(centres[:, near] - centres[:, far])
            for crossing in np.flatnonzero((side[1:] != side[:-1]) & in_image[1:, near] & in_image[1:, far]):
                hidden_s = rng.uniform(*OCCLUSION_S)
                at = (t[crossing] + t[crossing + 1]) / 2
                hidden = np.abs(t - at) <= hidden_s / 2
                visible[hidden, far] = False
                occlusions_s.append(hidden_s)

    boxes, keypoints, scores, truth = [], [], [], []
    for frame in range(len(t)):
        people = np.flatnonzero(visible[frame] & (rng.uniform(size=4) > MISS_PROBABILITY))
        frame_kp = poses[frame, people] + rng.normal(0, KEYPOINT_NOISE_PX, (len(people), 17, 2))
        frame_scores = rng.uniform(0.5, 0.95, (len(people), 17))
        frame_truth = list(people)
        if rng.uniform() < FALSE_POSITIVE_PROBABILITY:
            fake_height = rng.uniform(80, 200)
            fake = rng.uniform([0, fake_height], [width, height_px]) + fake_height * BODY_TEMPLATE * [1, -1]
            frame_kp = np.concatenate([frame_kp, (fake + rng.normal(0, 8, (17, 2)))[None]])
            frame_scores = np.concatenate([frame_scores, rng.uniform(0.2, 0.5, (1, 17))])
            frame_truth.append(-1)
        inside = (frame_kp >= 0).all(-1) & (frame_kp[..., 0] < width) & (frame_kp[..., 1] < height_px)
        frame_scores = np.where(inside, frame_scores, 0.0)
        order = rng.permutation(len(frame_truth))
        boxes.append(_boxes(frame_kp, frame_scores)[order])
        keypoints.append(frame_kp[order])
        scores.append(frame_scores[order])
        truth.append(np.array(frame_truth, np.int64)[order])
    return TrackingSequence(f"seed{seed}-{rate}", t, boxes, keypoints, scores, truth, occlusions_s, outside_s)


def _outside_durations(t: np.ndarray, visible: np.ndarray) -> list[float]:
    """Lengths of the stretches in which a person who had been seen is outside the image and then returns."""
    changes = np.flatnonzero(np.diff(visible.astype(int)))
    return [float(t[back + 1] - t[gone + 1]) for gone, back in zip(changes[::2], changes[1::2], strict=False)
            if visible[gone] and not visible[back]]


def _boxes(keypoints: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Boxes around each person's scored keypoints, with room for the head and feet, clipped to the image."""
    seen = (scores > 0)[..., None]
    low = np.where(seen, keypoints, np.inf).min(axis=1)
    high = np.where(seen, keypoints, -np.inf).max(axis=1)
    pad = 0.1 * (high[:, 1:] - low[:, 1:])
    boxes = np.concatenate([low - pad, high + pad], axis=1)
    return np.clip(boxes, 0, np.tile(IMAGE_SIZE, 2)).reshape(-1, 4)


def score_ids(sequence: TrackingSequence, ids: list[np.ndarray]) -> dict:
    """Id errors of one tracker's ``ids`` (one array per frame) against the sequence's truth.

    ``person_switches``: a true person's id differs from the one they had in their previous detected frame (a
    person who comes back with a new id counts once). ``id_reuses``: an id given to a true person other than the
    last one it was given to. ``id_switches`` is their sum. ``fragments``: distinct ids a true person had, minus
    one, summed over people. ``false_ids``: ids only ever given to false detections. ``unassigned``: detections
    of true people left without an id (-1). Rates are per 100 person-frames (detections of true people).
    """
    last_id_of_person: dict[int, int] = {}
    last_person_of_id: dict[int, int] = {}
    ids_of_person: dict[int, set] = {}
    people_of_id: dict[int, set] = {}
    counts = {"person_switches": 0, "id_reuses": 0, "unassigned": 0, "person_frames": 0}
    for frame_truth, frame_ids in zip(sequence.truth, ids, strict=True):
        for person, person_id in zip(frame_truth.tolist(), np.asarray(frame_ids).tolist(), strict=True):
            counts["person_frames"] += person >= 0
            if person_id < 0:
                counts["unassigned"] += person >= 0
                continue
            people_of_id.setdefault(person_id, set()).add(person)
            if person < 0:
                continue
            ids_of_person.setdefault(person, set()).add(person_id)
            counts["person_switches"] += last_id_of_person.get(person, person_id) != person_id
            counts["id_reuses"] += last_person_of_id.get(person_id, person) != person
            last_id_of_person[person] = person_id
            last_person_of_id[person_id] = person
    counts["id_switches"] = counts["person_switches"] + counts["id_reuses"]
    counts["fragments"] = sum(len(person_ids) - 1 for person_ids in ids_of_person.values())
    counts["false_ids"] = sum(people == {-1} for people in people_of_id.values())
    return counts


class IouTracker:
    """The tracker the tasks backend used before PersonTracker, kept as the benchmark's baseline.

    Each box continues the track it overlaps most (IoU >= ``min_iou``, one box per track, Hungarian); other boxes
    start a new id; a track unseen for more than ``max_lost_s`` is forgotten. No motion model, no keypoints.
    """

    def __init__(self, min_iou: float = 0.3, max_lost_s: float = 5.0) -> None:
        self.min_iou, self.max_lost_s = min_iou, max_lost_s
        self._boxes, self._ids, self._seen_s = np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0)
        self._next_id = 0

    def update(self, boxes, keypoints, scores, timestamp_s: float) -> np.ndarray:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        keep = timestamp_s - self._seen_s <= self.max_lost_s
        self._boxes, self._ids, self._seen_s = self._boxes[keep], self._ids[keep], self._seen_s[keep]
        ids = np.full(len(boxes), -1, np.int64)
        iou = box_iou(boxes, self._boxes)
        rows, cols = linear_sum_assignment(-iou) if iou.size else ([], [])
        for box, track in zip(rows, cols, strict=True):
            if iou[box, track] >= self.min_iou:
                ids[box] = self._ids[track]
                self._boxes[track], self._seen_s[track] = boxes[box], timestamp_s
        new = ids < 0
        ids[new] = self._next_id + np.arange(new.sum())
        self._next_id += int(new.sum())
        self._boxes = np.concatenate([self._boxes, boxes[new]])
        self._ids = np.concatenate([self._ids, ids[new]])
        self._seen_s = np.concatenate([self._seen_s, np.full(new.sum(), timestamp_s)])
        return ids


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (N, M) of boxes (N, 4) and (M, 4) given as x0, y0, x1, y1."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0, None), axis=-1)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=-1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=-1)
    return intersection / np.maximum(area_a[:, None] + area_b[None, :] - intersection, 1e-9)


class ByteTrackAdapter:
    """supervision's ByteTrack (boxes and one score per person) behind PersonTracker's interface.

    ByteTrack counts frames, so its lost-track buffer is ``max_lost_s`` at the sequence's typical frame rate.
    Detections it does not confirm get -1. Needs supervision <= 0.26 (later releases moved ByteTrack out).
    """

    def __init__(self, max_lost_s: float = 5.0, frame_rate: float = 30.0) -> None:
        import supervision

        rate = max(1, round(frame_rate))
        self._tracker = supervision.ByteTrack(lost_track_buffer=round(max_lost_s * 30), frame_rate=rate)
        self._detections = supervision.Detections

    def update(self, boxes, keypoints, scores, timestamp_s: float) -> np.ndarray:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(boxes) == 0:
            self._tracker.update_with_detections(self._detections.empty())
            return np.zeros(0, np.int64)
        confidence = np.asarray(scores, dtype=np.float64).reshape(len(boxes), -1).mean(axis=1)
        detections = self._detections(xyxy=boxes, confidence=confidence, class_id=np.zeros(len(boxes), int),
                                      data={"index": np.arange(len(boxes))})
        tracked = self._tracker.update_with_detections(detections)
        ids = np.full(len(boxes), -1, np.int64)
        ids[tracked.data["index"]] = tracked.tracker_id
        return ids


def candidates(max_lost_s: float, frame_rate: float) -> dict:
    """Tracker factories by name; ByteTrack only where a supervision that has it is installed."""
    found = {
        "PersonTracker (norfair)": lambda: PersonTracker(max_lost_s=max_lost_s),
        "IouTracker (baseline)": lambda: IouTracker(max_lost_s=max_lost_s),
    }
    try:
        import supervision

        if hasattr(supervision, "ByteTrack"):
            found["ByteTrack (supervision)"] = lambda: ByteTrackAdapter(max_lost_s, frame_rate)
    except ImportError:
        pass
    return found


def run_benchmark(seeds: int = 3, rates: tuple[str, ...] = RATES, duration_s: float = 24.0,
                  max_lost_s: float = 5.0) -> dict:
    """Every candidate on the same sequences: totals per tracker and rate, and per sequence."""
    rows = []
    for seed in range(seeds):
        for rate in rates:
            sequence = make_sequence(seed, rate, duration_s)
            frame_rate = 1.0 / float(np.median(np.diff(sequence.timestamps)))
            for name, make in candidates(max_lost_s, frame_rate).items():
                tracker, ids = make(), []
                start = time.perf_counter()
                for frame in range(len(sequence.timestamps)):
                    ids.append(tracker.update(sequence.boxes[frame], sequence.keypoints[frame],
                                              sequence.scores[frame], float(sequence.timestamps[frame])))
                elapsed_s = time.perf_counter() - start
                rows.append({"tracker": name, "sequence": sequence.name, "rate": rate,
                             "updates": len(ids), "update_ms": 1000 * elapsed_s / len(ids),
                             "occlusions_s": sequence.occlusions_s, "outside_s": sequence.outside_s,
                             **score_ids(sequence, ids)})
    return {"seeds": seeds, "duration_s": duration_s, "max_lost_s": max_lost_s, "sequences": rows,
            "summary": _summarise(rows)}


def _summarise(rows: list[dict]) -> list[dict]:
    summary = []
    for name in dict.fromkeys(row["tracker"] for row in rows):
        for rate in [*dict.fromkeys(row["rate"] for row in rows), "all"]:
            chosen = [row for row in rows if row["tracker"] == name and rate in (row["rate"], "all")]
            total = {key: sum(row[key] for row in chosen) for key in
                     ("person_frames", "id_switches", "person_switches", "id_reuses", "fragments", "false_ids",
                      "unassigned", "updates")}
            per_100 = 100.0 / max(total["person_frames"], 1)
            summary.append({
                "tracker": name, "rate": rate, **total,
                "id_switches_per_100": total["id_switches"] * per_100,
                "unassigned_per_100": total["unassigned"] * per_100,
                "update_ms": sum(row["update_ms"] * row["updates"] for row in chosen) / max(total["updates"], 1),
            })
    return summary


@dataclass
class DetectionFrame:
    """One frame's people as the movenet backend hands them to its tracker, and what the frame really shows."""

    timestamp_s: float
    boxes: np.ndarray  # (N, 4) x0, y0, x1, y1 pixels
    keypoints: np.ndarray  # (N, 17, 2) pixels
    scores: np.ndarray  # (N, 17)
    truth: object  # pipeline.sources.FrameTruth


def demo_detections(max_people: int = 6) -> list[DetectionFrame]:
    """MoveNet MultiPose's people (``MoveNetDetector.find_people``) on every frame of the four-person demo."""
    from pose3d_ros.keypoints2d.image import to_rgb
    from pose3d_ros.keypoints2d.movenet import MoveNetDetector
    from pose3d_ros.pipeline.demo import DemoSource

    source = DemoSource()
    detector = MoveNetDetector(max_people=max_people, feet_per_frame=0)
    frames = []
    try:
        for frame in source:
            people = detector.find_people(to_rgb(frame.image))
            frames.append(DetectionFrame(frame.stamp_ns / 1e9, people.boxes, people.keypoints, people.scores,
                                         source.truth(frame.index)))
    finally:
        detector.close()
    return frames


def score_demo_ids(frames: list[DetectionFrame], ids: list[np.ndarray]) -> dict:
    """Id switches and reuses of one tracker's ``ids`` on ``frames``, counted as a demo run counts them.

    Each frame the detections are matched to the true people by ``pipeline.demo_metrics.match_people`` (their
    17 body keypoints, scored above 0, against the visible true body joints); a *switch* is a true person matched
    to another id than at their previous matched frame, a *reuse* an id matched to another true person than
    before. ``switches_per_100`` is per 100 found (matched) person-frames, like a demo run's summary.
    """
    from pose3d_ros.pipeline.demo_metrics import FrameOutput, match_people

    last_id_of_person: dict[int, int] = {}
    last_person_of_id: dict[int, int] = {}
    counts = {"found": 0, "switches": 0, "reuses": 0}
    for frame, frame_ids in zip(frames, ids, strict=True):
        truth, people = frame.truth, len(frame_ids)
        kp2d = np.zeros((people, truth.kp2d.shape[1], 2))
        conf = np.zeros((people, truth.kp2d.shape[1]))
        kp2d[:, :17] = np.nan_to_num(frame.keypoints)
        conf[:, :17] = np.clip(np.nan_to_num(frame.scores), 0.0, None)
        for row, column in match_people(truth, FrameOutput(np.asarray(frame_ids), kp2d, conf)):
            person, person_id = int(truth.person_ids[row]), int(frame_ids[column])
            counts["found"] += 1
            counts["switches"] += last_id_of_person.get(person, person_id) != person_id
            counts["reuses"] += last_person_of_id.get(person_id, person) != person
            last_id_of_person[person], last_person_of_id[person_id] = person_id, person
    found = max(counts["found"], 1)
    return {**counts, "switches_per_100": 100.0 * counts["switches"] / found,
            "id_switches_per_100": 100.0 * (counts["switches"] + counts["reuses"]) / found}


def run_demo_benchmark(max_lost_s: float = 5.0, frames: list[DetectionFrame] | None = None) -> dict:
    """Every candidate tracker on the same detections of the demo (``demo_detections()`` unless given)."""
    frames = demo_detections() if frames is None else frames
    frame_rate = 1.0 / float(np.median(np.diff([frame.timestamp_s for frame in frames]))) if len(frames) > 1 else 15.0
    rows = []
    for name, make in candidates(max_lost_s, frame_rate).items():
        tracker = make()
        start = time.perf_counter()
        ids = [tracker.update(frame.boxes, frame.keypoints, frame.scores, frame.timestamp_s) for frame in frames]
        elapsed_s = time.perf_counter() - start
        rows.append({"tracker": name, "updates": len(ids), "update_ms": 1000 * elapsed_s / max(len(ids), 1),
                     **score_demo_ids(frames, ids)})
    return {"frames": len(frames), "max_lost_s": max_lost_s, "trackers": rows}
