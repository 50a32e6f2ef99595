"""Persistent person ids (PersonTracker) and the synthetic tracking benchmark, on hand-built and generated scenes."""

import logging

import numpy as np
import pytest

from pose3d_ros.cli import main
from pose3d_ros.keypoints2d.tracking import PersonTracker
from pose3d_ros.keypoints2d.tracking_bench import (
    BODY_TEMPLATE,
    DetectionFrame,
    IouTracker,
    box_iou,
    make_sequence,
    run_demo_benchmark,
    score_demo_ids,
    score_ids,
)

FPS = 30.0


def _person(x, feet_y=600.0, height=300.0):
    """Box (4,), keypoints (17, 2) and scores (17,) of a person standing with their feet centre at (x, feet_y)."""
    keypoints = np.stack([x + height * BODY_TEMPLATE[:, 0], feet_y - height * BODY_TEMPLATE[:, 1]], axis=-1)
    box = np.r_[keypoints.min(axis=0) - 10, keypoints.max(axis=0) + 10]
    return box, keypoints, np.full(17, 0.9)


def _frame(people):
    """Stacked (boxes, keypoints, scores) of a list of _person() tuples; empty arrays for nobody."""
    if not people:
        return np.zeros((0, 4)), np.zeros((0, 17, 2)), np.zeros((0, 17))
    return tuple(np.stack(column) for column in zip(*people, strict=True))


def test_ids_survive_a_crossing_in_which_the_farther_person_is_hidden():
    tracker = PersonTracker()
    a_ids, b_ids = set(), set()
    for frame in range(90):  # 3 s; a walks right in front, b walks left behind; they cross at frame 45
        t = frame / FPS
        a = _person(200 + 200 * t, feet_y=650, height=330)
        b = _person(1100 - 200 * t, feet_y=560, height=280)
        hidden = abs(frame - 45) <= 10  # b missing from the detections for 0.7 s around the crossing
        people = [a] if hidden else [b, a]
        ids = tracker.update(*_frame(people), t)
        a_ids.add(int(ids[-1]))
        if not hidden:
            b_ids.add(int(ids[0]))
    assert a_ids == {1} and b_ids == {0}


def test_ids_survive_a_crossing_at_two_depths_in_which_the_nearer_person_is_missed_once():
    # As on the demo at 15 fps: a near person (420 px tall) walks right in front of a far one (260 px) standing
    # behind them, who had been seen only briefly before being covered. The frame the far person steps out, the
    # detector misses the near one. Their boxes overlap and their heads are at the same height, so by place alone
    # the far person's detection is closer to the near person's prediction than any other track: without the
    # size term it takes the near person's id. It must get back their own (re-identification), and the near
    # person keep theirs.
    tracker = PersonTracker()
    near_ids, far_ids = [], []
    for frame in range(30):
        t = frame / 15.0
        near = _person(200 + 240 * t, feet_y=690, height=420)
        far = _person(420, feet_y=520, height=260)
        covered = 3 <= frame <= 12
        near_missed = frame == 13  # the far person's first frame back
        people = ([] if near_missed else [near]) + ([] if covered else [far])
        ids = tracker.update(*_frame(people), t).tolist()
        if not near_missed:
            near_ids.append(ids[0])
        if not covered:
            far_ids.append(ids[-1])
    assert set(near_ids) == {0} and set(far_ids) == {1}


def test_a_person_who_leaves_and_returns_within_max_lost_s_gets_the_old_id_back():
    tracker = PersonTracker(max_lost_s=5.0)
    stay = _person(900)
    ids = [tracker.update(*_frame([_person(300 - 8 * f), stay]), f / FPS) for f in range(30)]
    assert all(frame_ids.tolist() == [0, 1] for frame_ids in ids)
    for frame in range(30, 120):  # 3 s outside the image, seen by nobody
        assert tracker.update(*_frame([stay]), frame / FPS).tolist() == [1]
    back = [tracker.update(*_frame([_person(80 + 8 * f), stay]), (120 + f) / FPS) for f in range(10)]
    assert all(frame_ids.tolist() == [0, 1] for frame_ids in back)


def test_ids_are_never_reused_after_max_lost_s():
    tracker = PersonTracker(max_lost_s=0.5)
    assert tracker.update(*_frame([_person(300)]), 0.0).tolist() == [0]
    assert tracker.update(*_frame([]), 0.2).tolist() == []
    # back at the very same place, but 1 s after it was last seen: a new id, and 0 is not handed out again
    assert tracker.update(*_frame([_person(300)]), 1.0).tolist() == [1]
    assert tracker.update(*_frame([_person(300), _person(900)]), 1.1).tolist() == [1, 2]


def test_empty_frames_nan_keypoints_and_bad_input():
    tracker = PersonTracker()
    assert tracker.update(*_frame([]), 0.0).dtype == np.int64
    box, keypoints, scores = _person(400)
    keypoints[[9, 10, 15, 16]] = np.nan  # wrists and ankles unseen
    keypoints[0] = np.inf
    for frame in range(5):
        box_f, kp_f = box + 3 * frame, keypoints + 3 * frame
        assert tracker.update(box_f[None], kp_f[None], scores[None], frame / FPS).tolist() == [0]
    all_nan = np.full((1, 17, 2), np.nan)  # no keypoint seen: the box alone carries the person
    assert tracker.update((box + 15)[None], all_nan, np.full((1, 17), np.nan), 5 / FPS).tolist() == [0]
    with pytest.raises(ValueError, match="one of each per person"):
        tracker.update(np.zeros((2, 4)), np.zeros((1, 17, 2)), np.zeros((1, 17)), 1.0)
    with pytest.raises(ValueError, match="finite"):
        tracker.update(np.full((1, 4), np.nan), np.zeros((1, 17, 2)), np.ones((1, 17)), 1.0)
    for bad in ({"size_weight": -0.1}, {"reid_size_weight": -1.0}, {"reid_size_ratio": 0.9}):
        with pytest.raises(ValueError, match="size"):
            PersonTracker(**bad)


def test_time_going_backwards_resets_the_tracker_with_new_ids(caplog):
    tracker = PersonTracker()
    for frame in range(10):
        assert tracker.update(*_frame([_person(300 + frame)]), 100 + frame / FPS).tolist() == [0]
    tracker.update(*_frame([_person(300)]), 100.0)  # equal to an earlier stamp is a step back from the last one
    with caplog.at_level(logging.INFO, logger="pose3d_ros.keypoints2d.tracking"):
        ids = tracker.update(*_frame([_person(310)]), 50.0)
    assert "time went back" in caplog.text
    assert ids.tolist() == [2]  # the loop restarted: a new id (1 was given at 100.0 s), never an old one
    assert tracker.update(*_frame([_person(312)]), 50.0 + 1 / FPS).tolist() == [2]


def test_benchmark_sequences_are_deterministic_and_as_specified():
    a, b = make_sequence(3, "irregular", duration_s=12), make_sequence(3, "irregular", duration_s=12)
    assert np.array_equal(a.timestamps, b.timestamps)
    for frame in range(len(a.timestamps)):
        assert np.array_equal(a.keypoints[frame], b.keypoints[frame]) and np.array_equal(a.truth[frame], b.truth[frame])
    other = make_sequence(4, "irregular", duration_s=12)
    assert not np.array_equal(a.keypoints[0], other.keypoints[0])
    gaps = np.diff(a.timestamps)
    assert gaps.min() > 0 and gaps.max() > 2 * gaps.min()  # irregular indeed

    seq = make_sequence(0, "30fps")
    assert len(seq.timestamps) == 24 * 30
    assert seq.occlusions_s and all(0.3 <= s <= 1.0 for s in seq.occlusions_s)
    assert seq.outside_s and all(1.9 <= s <= 4.1 for s in seq.outside_s)
    truth = np.concatenate(seq.truth)
    assert set(truth.tolist()) == {-1, 0, 1, 2, 3}
    person_frames = (truth >= 0).sum()
    assert 0.6 * 4 * len(seq.timestamps) < person_frames < 0.95 * 4 * len(seq.timestamps)


def test_score_ids_counts_switches_reuses_fragments_and_false_ids():
    seq = make_sequence(0, "15fps", duration_s=2)
    perfect = [np.where(truth >= 0, truth, 100 + frame) for frame, truth in enumerate(seq.truth)]
    counts = score_ids(seq, perfect)
    assert counts["id_switches"] == counts["fragments"] == counts["unassigned"] == 0
    assert counts["false_ids"] == sum((truth < 0).sum() for truth in seq.truth)
    # swap persons 0 and 1 from the middle on: each switches once and each id passes to another person once
    half = len(seq.truth) // 2
    swapped = [np.where(truth == 0, 1, np.where(truth == 1, 0, ids)) if frame >= half else ids
               for frame, (truth, ids) in enumerate(zip(seq.truth, perfect, strict=True))]
    counts = score_ids(seq, swapped)
    assert counts["person_switches"] == 2 and counts["id_reuses"] == 2 and counts["fragments"] == 2


def test_person_tracker_beats_the_iou_baseline_on_a_benchmark_scene():
    seq = make_sequence(1, "15fps", duration_s=12)
    switches = {}
    for name, tracker in {"person": PersonTracker(), "iou": IouTracker()}.items():
        ids = [tracker.update(seq.boxes[f], seq.keypoints[f], seq.scores[f], float(seq.timestamps[f]))
               for f in range(len(seq.timestamps))]
        assert all(len(set(frame_ids.tolist())) == len(frame_ids) for frame_ids in ids)  # no id twice in a frame
        switches[name] = score_ids(seq, ids)["id_switches"]
    assert switches["person"] < switches["iou"]


def test_iou_baseline_keeps_ids_of_moving_boxes_and_forgets_old_tracks():
    tracker = IouTracker(min_iou=0.3, max_lost_s=0.05)
    a, b = np.array([0, 0, 100, 200.0]), np.array([300, 0, 400, 200.0])
    none = (None, None)
    assert tracker.update(np.stack([a, b]), *none, 0.0).tolist() == [0, 1]
    assert tracker.update(np.stack([b + 10, a + 10]), *none, 0.03).tolist() == [1, 0]
    assert tracker.update(np.stack([a + 20]), *none, 0.06).tolist() == [0]
    assert tracker.update(np.stack([b]), *none, 0.12).tolist() == [2]  # b's track forgotten after 0.09 s


def test_box_iou_hand_computed():
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30]], float)
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0]])


def test_bench_tracking_command_writes_json(tmp_path, capsys):
    out = tmp_path / "tracking.json"
    assert main(["bench", "tracking", "--seeds", "1", "--duration", "3", "--json", str(out)]) == 0
    import json

    report = json.loads(out.read_text())
    names = {row["tracker"] for row in report["summary"]}
    assert {"PersonTracker (norfair)", "IouTracker (baseline)"} <= names
    assert {row["rate"] for row in report["summary"]} == {"15fps", "30fps", "irregular", "all"}
    assert all(row["update_ms"] > 0 for row in report["summary"])
    assert "PersonTracker (norfair)" in capsys.readouterr().out
    assert main(["bench", "tracking", "--seeds", "0"]) == 2


def _perfect_demo_detections(frames: int) -> list[DetectionFrame]:
    """The demo's first frames with a detection of every person whose 17 body joints are mostly visible, exact."""
    from pose3d_ros.pipeline.demo import DemoSource

    source, out = DemoSource(), []
    for index in range(frames):
        truth = source.truth(index)
        visible = truth.visible[:, :17]
        people = np.flatnonzero(visible.sum(axis=1) >= 12)
        keypoints = np.nan_to_num(truth.kp2d[people, :17])
        scores = visible[people].astype(float)
        seen = scores[..., None] > 0
        boxes = np.concatenate([np.where(seen, keypoints, np.inf).min(axis=1),
                                np.where(seen, keypoints, -np.inf).max(axis=1)], axis=1).reshape(-1, 4)
        out.append(DetectionFrame(index / 15.0, boxes, keypoints, scores, truth))
    return out


def test_score_demo_ids_counts_switches_and_reuses_like_a_demo_run():
    frames = _perfect_demo_detections(20)
    truth_ids = [frame.truth.person_ids[np.flatnonzero(frame.truth.visible[:, :17].sum(axis=1) >= 12)]
                 for frame in frames]
    assert min(len(ids) for ids in truth_ids) >= 2
    counts = score_demo_ids(frames, [100 + ids for ids in truth_ids])
    assert counts["found"] == sum(len(ids) for ids in truth_ids)
    assert counts["switches"] == counts["reuses"] == 0 and counts["switches_per_100"] == 0
    # from frame 10 on the first two people's ids are swapped: two switches, two reuses
    swapped = [np.r_[ids[1], ids[0], ids[2:]] + 100 if frame >= 10 else ids + 100
               for frame, ids in enumerate(truth_ids)]
    counts = score_demo_ids(frames, swapped)
    assert counts["switches"] == 2 and counts["reuses"] == 2
    assert counts["switches_per_100"] == pytest.approx(200 / counts["found"])


def test_demo_benchmark_runs_every_tracker_on_the_same_detections():
    report = run_demo_benchmark(frames=_perfect_demo_detections(30))
    rows = {row["tracker"]: row for row in report["trackers"]}
    assert report["frames"] == 30 and {"PersonTracker (norfair)", "IouTracker (baseline)"} <= set(rows)
    assert rows["PersonTracker (norfair)"]["switches"] == 0 and rows["PersonTracker (norfair)"]["found"] > 60


def test_bench_tracking_demo_command_prints_and_writes_the_demo_table(tmp_path, capsys, monkeypatch):
    import json

    from pose3d_ros.keypoints2d import tracking_bench

    frames = _perfect_demo_detections(10)  # stands in for MoveNet's detections, which need its model
    monkeypatch.setattr(tracking_bench, "demo_detections", lambda: frames)
    out = tmp_path / "demo.json"
    assert main(["bench", "tracking", "--demo", "--json", str(out)]) == 0
    assert "switches/100" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["frames"] == 10 and report["trackers"][0]["tracker"] == "PersonTracker (norfair)"
