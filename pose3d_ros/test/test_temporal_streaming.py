import logging

import numpy as np
import pytest
import torch

from pose3d_ros.skeleton import JointStatus
from pose3d_ros.temporal import DEFAULT_LOOKAHEAD, DEFAULT_MAX_GAP
from pose3d_ros.temporal.model import UGCN, UGCNConfig
from pose3d_ros.temporal.streaming import MAX_BUFFER_FRAMES, StreamingRefiner

FPS = 25.0
J = 17
OBSERVED = np.full(J, JointStatus.OBSERVED, np.uint8)
ONES = np.ones(J, np.float32)
BODY = np.random.default_rng(0).normal(0.0, 0.3, (J, 3)).astype(np.float32)
BODY -= BODY[0]  # the h36m17 root (pelvis) at the origin



def pose_at(t: float, velocity=(0.5, 0.0, 0.2)) -> np.ndarray:
    """A rigid body translating at constant velocity, 3 m in front of the camera."""
    return BODY + np.array([0.0, 0.0, 3.0], np.float32) + t * np.array(velocity, np.float32)


def refiner(lookahead=2, max_gap=3, model=None, **options) -> StreamingRefiner:
    if model is None:
        options.update(layout="h36m17", window=16, fps=FPS)
    return StreamingRefiner(model, lookahead=lookahead, max_gap=max_gap, device="cpu", **options)


def random_model() -> UGCN:
    model = UGCN(UGCNConfig("h36m17", (4, 6, 8, 10, 12), window=16, fps=FPS))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.1)
    return model.eval()


@pytest.mark.parametrize("lookahead", [0, 1, 4])
def test_output_for_frame_t_appears_exactly_when_frame_t_plus_lookahead_arrives(lookahead):
    r = refiner(lookahead=lookahead, model=random_model())
    for n in range(12):
        out = r.push("p", n / FPS, pose_at(n / FPS), ONES, OBSERVED)
        if n < lookahead:
            assert out == []
        else:
            assert [round(o.stamp * FPS) for o in out] == [n - lookahead]
            assert out[0].person_id == "p" and out[0].positions.shape == (J, 3)
    flushed = r.flush()
    assert [round(o.stamp * FPS) for o in flushed] == list(range(12 - lookahead, 12))
    assert r.tracks == {}


def test_linear_motion_passes_through_unchanged_without_a_network():
    r = refiner(lookahead=2)
    outputs = []
    for n in range(20):
        outputs += r.push(1, n / FPS, pose_at(n / FPS), ONES, OBSERVED)
    for o in outputs:
        assert np.allclose(o.positions, pose_at(o.stamp), atol=1e-5)
        assert (o.status == JointStatus.REFINED).all()
        assert np.allclose(o.confidence, 1.0)


def test_status_per_joint_and_filling_of_missing_joints_and_frames():
    r = refiner(lookahead=2, max_gap=3)
    status = OBSERVED.copy()
    status[5] = JointStatus.INFERRED
    status[6] = JointStatus.MISSING
    outputs = {}
    for n in range(10):
        t = n / FPS
        positions = pose_at(t)
        if n >= 3:
            positions[6] = np.nan  # a MISSING joint's position is ignored (may be anything)
        if n in (4, 5):
            out = r.mark_absent(1, t)
        else:
            out = r.push(1, t, positions, ONES, status if n >= 3 else OBSERVED)
        outputs.update({round(o.stamp * FPS): o for o in out})
    frame = outputs[3]
    assert frame.status[0] == JointStatus.REFINED and frame.status[5] == JointStatus.REFINED
    assert frame.status[6] == JointStatus.FILLED  # missing in this frame, filled from its neighbours
    for n in (4, 5):  # absent frames: every joint filled, on the linear motion
        assert (outputs[n].status == JointStatus.FILLED).all()
        assert np.allclose(outputs[n].positions, pose_at(n / FPS), atol=1e-4)
        assert (outputs[n].confidence < 1).all() and (outputs[n].confidence > 0).all()
    assert np.allclose(outputs[5].positions[6], pose_at(5 / FPS)[6], atol=1e-4)
    # Joint 6 is missing from frame 3 on: filled for max_gap = 3 frames (3, 4, 5), then MISSING (6, 7).
    assert outputs[6].status[6] == JointStatus.MISSING and outputs[6].confidence[6] == 0
    assert outputs[7].status[6] == JointStatus.MISSING
    assert np.isfinite(outputs[7].positions).all()
    assert r.events["gave_up"] == 1


def test_max_gap_gives_up_on_a_lost_person_and_says_so(caplog):
    r = refiner(lookahead=0, max_gap=2)
    for n in range(3):
        r.push(1, n / FPS, pose_at(n / FPS), ONES, OBSERVED)
    with caplog.at_level(logging.INFO, logger="pose3d_ros.temporal.streaming"):
        published = [len(r.mark_absent(1, n / FPS)) for n in range(3, 8)]
    assert published == [1, 1, 0, 0, 0]  # two frames filled, then nothing: every joint would be MISSING
    assert r.events["gave_up"] == J
    assert "missing for more than 2 frames" in caplog.text
    out = r.push(1, 8 / FPS, pose_at(8 / FPS), ONES, OBSERVED)  # seen again: refined again
    assert len(out) == 1 and (out[0].status == JointStatus.REFINED).all()


def test_time_jump_backwards_flushes_and_restarts_the_track():
    r = refiner(lookahead=3)
    for n in range(10):
        r.push(1, 100 + n / FPS, pose_at(n / FPS), ONES, OBSERVED)
    out = r.push(1, 100.0, pose_at(0.0), ONES, OBSERVED)  # the bag starts again
    assert [round((o.stamp - 100) * FPS) for o in out] == [7, 8, 9]  # the old track's pending frames
    assert r.events["reset_backwards"] == 1
    assert len(r.tracks[1]) == 1 and r.tracks[1].pending == 1
    for n in range(1, 4):
        out = r.push(1, 100 + n / FPS, pose_at(n / FPS), ONES, OBSERVED)
    assert [round((o.stamp - 100) * FPS) for o in out] == [0]  # the new track's frames, nothing stale


def test_long_gap_restarts_and_duplicates_are_skipped():
    r = refiner(lookahead=1, reset_after_s=0.5)
    r.push(1, 0.0, pose_at(0.0), ONES, OBSERVED)
    r.push(1, 0.04, pose_at(0.04), ONES, OBSERVED)
    assert r.push(1, 0.04, pose_at(0.04), ONES, OBSERVED) == []
    assert r.events["duplicate"] == 1
    out = r.push(1, 2.0, pose_at(2.0), ONES, OBSERVED)
    assert [o.stamp for o in out] == [0.04] and r.events["reset_gap"] == 1
    assert len(r.tracks[1]) == 1


def test_a_person_absent_after_a_forward_jump_of_the_clock_is_dropped_not_filled():
    """Regression (fuzzing the clock): after a jump of five minutes, a person who is not in the new frame was filled
    in at the new stamp from their pose of five minutes before."""
    r = refiner(lookahead=2, max_gap=10)
    status = OBSERVED[None]
    out = []
    for n in range(5):
        out += r.push_frame(n / FPS, ["p"], pose_at(n / FPS)[None], ONES[None], status)
    out += r.push_frame(300.0, [], np.zeros((0, J, 3)), np.zeros((0, J)), np.zeros((0, J)))
    out += r.flush()
    assert [round(o.stamp * FPS) for o in out] == list(range(5))  # the frames before the jump, nothing at 300 s
    assert r.events["dropped"] == 1 and r.tracks == {}


def test_people_are_batched_in_one_forward_pass_and_kept_apart():
    model = random_model()
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    r = refiner(lookahead=1, model=model)
    r._network = model  # count calls on the eager network
    offsets = {7: 0.0, 8: 1.0, 9: -1.0}
    outputs = {}
    for n in range(6):
        t = n / FPS
        ids = [7, 8, 9] if n != 3 else [7, 9]  # person 8 is not in frame 3: marked absent by push_frame
        positions = np.stack([pose_at(t) + offsets[i] for i in ids])
        out = r.push_frame(t, ids, positions, np.ones((len(ids), J)), np.stack([OBSERVED] * len(ids)))
        if n >= 1:
            assert sorted(o.person_id for o in out) == [7, 8, 9]
            assert {round(o.stamp * FPS) for o in out} == {n - 1}
        outputs.update({(o.person_id, round(o.stamp * FPS)): o for o in out})
    assert calls == [3, 3, 3, 3, 3]  # one pass per stamp, all people together
    for (person, n), o in outputs.items():
        assert abs(o.positions[0, 0] - (pose_at(n / FPS)[0, 0] + offsets[person])) < 0.5
        expected = JointStatus.FILLED if (person, n) == (8, 3) else JointStatus.REFINED
        assert (o.status == expected).all()


def test_memory_is_bounded():
    r = refiner(lookahead=2, max_people=3, reset_after_s=0.3)
    for n in range(300):
        r.push(0, n / FPS, pose_at(n / FPS), ONES, OBSERVED)
    assert len(r.tracks[0]) <= 16 + 1 + int(3 * r.root_bandwidth_s * FPS) + 3  # window + root smoothing span
    for person in range(1, 6):  # more people than max_people: the least recently seen are dropped
        r.push(person, 300 / FPS, pose_at(0.0), ONES, OBSERVED)
    assert len(r.tracks) == 3 and r.events["dropped"] == 3
    r.push(1, 400 / FPS, pose_at(0.0), ONES, OBSERVED)  # long after: everyone else is forgotten
    assert list(r.tracks) == [1]
    fast = refiner(lookahead=0)
    for n in range(2000):  # an absurd input rate: the ring buffer still has a hard bound
        fast.push(0, n * 1e-4, pose_at(0.0), ONES, OBSERVED)
    assert len(fast.tracks[0]) <= MAX_BUFFER_FRAMES


def test_other_input_rates_are_resampled_to_the_model_rate():
    seen = []
    model = random_model()
    r = refiner(lookahead=2, model=model)
    r._network = lambda poses, observed, valid: (seen.append(poses.clone()), poses)[1]
    outputs = []
    for n in range(40):  # 50 Hz input into a 25 Hz model
        outputs += r.push(1, n / 50, pose_at(n / 50), ONES, OBSERVED)
    assert [round(o.stamp * 50) for o in outputs] == list(range(38))
    for o in outputs:
        assert np.allclose(o.positions, pose_at(o.stamp), atol=1e-4)  # linear motion survives the round trip
    # The window spans 16 model frames (0.6 s): at 50 Hz that is about 30 input frames, not 16.
    window = seen[-1][0]
    assert window.shape[0] == 16
    step = (window[1:, 1] - window[:-1, 1]).numpy()  # root-relative, so the body is static: steps are zero
    assert np.allclose(step, 0.0, atol=1e-5)
    slow = refiner(lookahead=1)
    out = []
    for n in range(10):  # 10 Hz input
        out += slow.push(1, n / 10, pose_at(n / 10), ONES, OBSERVED)
    assert [round(o.stamp * 10) for o in out] == list(range(9))
    assert all(np.allclose(o.positions, pose_at(o.stamp), atol=1e-4) for o in out)


def test_bad_input_is_refused_before_any_state_changes():
    r = refiner()
    with pytest.raises(ValueError, match=r"expected positions \(17, 3\)"):
        r.push(1, 0.0, np.zeros((133, 3)), np.ones(133), np.ones(133))
    with pytest.raises(ValueError, match="NaN"):
        r.push(1, 0.0, np.full((J, 3), np.nan), ONES, OBSERVED)
    with pytest.raises(ValueError, match="finite"):
        r.push(1, float("nan"), pose_at(0.0), ONES, OBSERVED)
    with pytest.raises(ValueError, match="one pose per person"):
        r.push_frame(0.0, [1, 2], pose_at(0.0)[None], ONES[None], OBSERVED[None])
    with pytest.raises(ValueError, match="duplicate person ids"):
        r.push_frame(0.0, [1, 1], np.stack([pose_at(0.0)] * 2), np.ones((2, J)), np.stack([OBSERVED] * 2))
    assert r.tracks == {} and r.events["bad_input"] == 5
    assert r.mark_absent("nobody", 0.0) == []
    assert r.push_frame(0.0, [], np.zeros((0, J, 3)), np.zeros((0, J)), np.zeros((0, J))) == []
    with pytest.raises(ValueError, match="needs layout, window and fps"):
        StreamingRefiner(None, layout="h36m17")
    with pytest.raises(ValueError, match="windows of 16 frames"):
        StreamingRefiner(random_model(), window=20)
    with pytest.raises(ValueError, match="layout"):
        StreamingRefiner(random_model(), layout="wholebody133")
    with pytest.raises(ValueError, match="lookahead"):
        refiner(lookahead=-1)


def test_defaults_match_the_node_parameters():
    assert (DEFAULT_LOOKAHEAD, DEFAULT_MAX_GAP) == (4, 10)
