"""Scoring outputs against ground truth on hand-made frames: matching, misses, id switches, 2D and 3D errors."""

import numpy as np
import pytest

from pose3d_ros.pipeline.demo_metrics import FrameOutput, match_people, score_against_truth
from pose3d_ros.pipeline.sources import FrameTruth

J = 133
BODY = 17


def person_pose(x_px):
    """A person's 23 body and feet joints: 2D spread over 200 px of height around column ``x_px``, 3D at 4 m."""
    kp2d = np.full((J, 2), np.nan)
    kp2d[:23, 0] = x_px + np.linspace(-20, 20, 23)
    kp2d[:23, 1] = np.linspace(100, 300, 23)
    joints = np.full((J, 3), np.nan)
    joints[:23] = np.column_stack([(kp2d[:23, 0] - 480) / 175, (kp2d[:23, 1] - 270) / 175, np.full(23, 4.0)])
    return kp2d, joints


def truth(index, people, visible_joints=23):
    """Frame ``index`` showing ``people``: {id: x_px}; each person's first ``visible_joints`` joints visible."""
    ids = sorted(people)
    poses = [person_pose(people[i]) for i in ids]
    defined = np.zeros((len(ids), J), bool)
    defined[:, :23] = True
    visible = np.zeros((len(ids), J), bool)
    visible[:, :visible_joints] = True
    return FrameTruth(index, np.array(ids, np.int64), np.array([p[1] for p in poses]).reshape(-1, J, 3), defined,
                      np.array([p[0] for p in poses]).reshape(-1, J, 2), visible)


def output(people, shift_px=0.0, shift_m=0.0):
    """Output people {output id: x_px} exactly on the truth's pose at that column, moved by the given shifts."""
    ids = sorted(people)
    poses = [person_pose(people[i]) for i in ids]
    kp2d = np.nan_to_num(np.array([p[0] for p in poses]).reshape(-1, J, 2)) + shift_px
    conf = np.zeros((len(ids), J), np.float32)
    conf[:, :23] = 0.9
    positions = np.nan_to_num(np.array([p[1] for p in poses]).reshape(-1, J, 3)) + [shift_m, 0.0, 0.0]
    return FrameOutput(np.array(ids, np.int64), kp2d, conf, {"raw": (np.array(ids, np.int64), positions)})


def test_the_truth_itself_scores_perfectly_and_a_shift_shows_in_2d_and_absolute_3d_only():
    truths = [truth(k, {1: 200, 2: 600}) for k in range(3)]
    perfect = score_against_truth(truths, [output({7: 200, 8: 600}) for _ in range(3)])
    assert (perfect["found"], perfect["missed"], perfect["extra"], perfect["id_switches"]) == (6, 0, 0, 0)
    assert perfect["error_2d_px"] == {"body": 0.0, "feet": 0.0} and perfect["reported_2d"]["body"] == 1.0
    assert perfect["mpjpe_mm"]["raw"] == {"root_aligned": 0.0, "absolute": 0.0}
    assert perfect["per_person"]["1"]["output_ids"] == [7] and perfect["people_per_frame"]["found"] == 2.0

    shifted = score_against_truth(truths, [output({7: 200, 8: 600}, shift_px=3.0, shift_m=0.1) for _ in range(3)])
    assert shifted["error_2d_px"]["body"] == pytest.approx(3 * np.sqrt(2))
    assert shifted["mpjpe_mm"]["raw"]["absolute"] == pytest.approx(100.0)
    assert shifted["mpjpe_mm"]["raw"]["root_aligned"] == pytest.approx(0.0, abs=1e-9)


def test_swapped_ids_are_switches_and_reuses():
    truths = [truth(k, {1: 200, 2: 600}) for k in range(3)]
    outputs = [output({7: 200, 8: 600}), output({8: 200, 7: 600}), output({8: 200, 7: 600})]
    score = score_against_truth(truths, outputs)
    assert score["id_switches"] == 2 and score["id_reuses"] == 2  # each person once, each id once
    assert score["id_switches_per_100"] == pytest.approx(100 * 2 / 6)
    assert score["per_person"]["1"]["id_switches"] == 1 and score["per_person"]["1"]["output_ids"] == [7, 8]
    assert score["error_2d_px"]["body"] == 0.0  # matching follows the pixels, not the ids


def test_a_missed_frame_is_a_miss_not_a_switch():
    truths = [truth(k, {1: 200}) for k in range(3)]
    score = score_against_truth(truths, [output({7: 200}), output({}), output({7: 200})])
    assert (score["missed"], score["frames_with_a_miss"], score["missed_frames"]) == (1, 1, [1])
    assert score["id_switches"] == score["id_reuses"] == 0 and score["found"] == 2


def test_people_absent_or_barely_visible_are_not_misses_and_far_outputs_are_extra():
    truths = [truth(0, {1: 200}), truth(1, {}), truth(2, {1: 200}, visible_joints=3)]
    score = score_against_truth(truths, [output({}), output({}), output({})])
    assert score["missed"] == 1 and score["missed_frames"] == [0]  # frame 2: only 3 body joints visible
    assert score["in_picture"] == 2 and score["visible"] == 1
    far = score_against_truth([truth(0, {1: 200})], [output({7: 700})])
    assert (far["found"], far["missed"], far["extra"]) == (0, 1, 1)


def test_matching_needs_visible_reported_joints_within_the_gate():
    frame = truth(0, {1: 200, 2: 600})
    assert match_people(frame, output({5: 590, 6: 210})) == [(0, 1), (1, 0)]
    assert match_people(frame, output({5: 200}, shift_px=60.0)) == []  # 85 px > a quarter of the 145-px body
    hidden = truth(0, {1: 200}, visible_joints=2)
    assert match_people(hidden, output({5: 200})) == []  # two common joints are not enough


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="2 frames of truth but 1 frames of output"):
        score_against_truth([truth(0, {1: 200}), truth(1, {1: 200})], [output({})])
    with pytest.raises(ValueError, match="inconsistent truth"):
        FrameTruth(0, np.array([1]), np.zeros((1, J, 3)), np.ones((2, J), bool), np.zeros((1, J, 2)),
                   np.ones((1, J), bool))
    with pytest.raises(ValueError, match="undefined joints visible"):
        FrameTruth(0, np.array([1]), np.zeros((1, J, 3)), np.zeros((1, J), bool), np.zeros((1, J, 2)),
                   np.ones((1, J), bool))
    with pytest.raises(ValueError, match="raw skeletons: 1 ids"):
        FrameOutput(np.array([1]), np.zeros((1, J, 2)), np.zeros((1, J)), {"raw": (np.array([1]), np.zeros((2, J, 3)))})
