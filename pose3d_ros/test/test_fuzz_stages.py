"""Property-based fuzzing of the lifter's and the temporal stage's public entry points (small random networks).

``Lifter.lift``: any shapes, NaN, infinities, huge and tiny pixels, confidences and focal lengths, P = 0 -> either
the documented ValueError or finite skeletons of the right shape. ``StreamingRefiner.push_frame`` / ``flush`` and
``node_logic.TemporalFrames`` over random streams (stamps that repeat, go backwards and jump minutes ahead, people
who come and go, NaN and huge positions) -> the documented ValueError or finite, well-formed output, each input stamp
out exactly once. LIFT_EXAMPLES, STREAM_EXAMPLES examples (streams of up to MAX_STREAM frames): 6-17 s in all on the
shared 2-core machine (the first torch use included).
"""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pose3d_ros.lifting import Lifter
from pose3d_ros.lifting.config import LifterConfig
from pose3d_ros.lifting.models import build_model
from pose3d_ros.node_logic.temporal_frames import TemporalFrames
from pose3d_ros.skeleton import JointStatus
from pose3d_ros.temporal.model import UGCN, UGCNConfig
from pose3d_ros.temporal.streaming import StreamingRefiner

LIFT_EXAMPLES = 60
STREAM_EXAMPLES = 15
MAX_STREAM = 20
SETTINGS = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
J = 17
FPS = 25.0

K_MATRIX = np.array([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])
any_float32 = st.floats(width=32, allow_subnormal=False) | st.sampled_from(
    [float(np.float32(x)) for x in (0.0, 2e-38, 1e-30, 1e30, 3e38, -3e38)])


def small_lifter(layout="h36m17") -> Lifter:
    torch.manual_seed(0)
    config = LifterConfig.create("semgan", layout, dim=16, depth=1, heads=2, decoder_layers=1)
    return Lifter(build_model(config), config, device="cpu")


@pytest.fixture(scope="module")
def lifter():
    return small_lifter()


@st.composite
def intrinsics(draw):
    focal = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -1.0, 1e-300, 1e-30, 500.0, 1e30])
    if draw(st.booleans()):  # half the examples with a real camera's focal lengths, so that many lifts succeed
        focal = st.floats(1.0, 5000.0)
    fx, fy = draw(focal), draw(focal)
    cx, cy = draw(any_float32), draw(any_float32)
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


@settings(max_examples=LIFT_EXAMPLES, **SETTINGS)
@given(people=st.integers(0, 3), data=st.data(), K=intrinsics(),
       sane=st.sampled_from(["keypoints", "confidence", "both", "neither"]))
def test_lift_gives_finite_skeletons_or_value_error(lifter, people, data, K, sane):
    """Any input: a ValueError, or finite skeletons of the input's shape with OBSERVED / INFERRED joints."""
    pixels = st.floats(0.0, 2000.0, width=32) if sane in ("keypoints", "both") else any_float32
    confidences = st.floats(0.0, 1.0, width=32) if sane in ("confidence", "both") else any_float32
    kp2d = data.draw(arrays(np.float32, (people, J, 2), elements=pixels))
    conf = data.draw(arrays(np.float32, (people, J), elements=confidences))
    try:
        result = lifter.lift(kp2d, conf, K)
    except ValueError:
        return
    assert result.positions.shape == (people, J, 3) and result.error.shape == result.status.shape == (people, J)
    for values in (result.positions, result.root_relative, result.error, result.root_translation):
        assert np.isfinite(values).all()
    assert set(np.unique(result.status)) <= {JointStatus.OBSERVED, JointStatus.INFERRED}


@settings(max_examples=LIFT_EXAMPLES, **SETTINGS)
@given(kp_shape=st.lists(st.integers(0, 20), max_size=4), conf_shape=st.lists(st.integers(0, 20), max_size=3),
       K_shape=st.sampled_from([(3, 3), (1, 3, 3), (2, 3, 3), (3,), (4, 4), ()]))
def test_lift_refuses_every_wrong_shape_with_value_error(lifter, kp_shape, conf_shape, K_shape):
    kp2d, conf = np.zeros(kp_shape, np.float32), np.zeros(conf_shape, np.float32)
    K = np.broadcast_to(K_MATRIX, K_shape).copy() if K_shape[-2:] == (3, 3) else np.ones(K_shape)
    right = (len(kp_shape) == 3 and kp_shape[1:] == [J, 2] and conf_shape == kp_shape[:2]
             and (np.shape(K) == (3, 3) or np.shape(K) == (kp_shape[0], 3, 3)))
    if right:
        assert lifter.lift(kp2d, conf, K).positions.shape == (kp_shape[0], J, 3)
    else:
        with pytest.raises(ValueError):
            lifter.lift(kp2d, conf, K)


# ---- the temporal stage ----------------------------------------------------------------------------------------


def small_refiner(with_network: bool, lookahead: int) -> StreamingRefiner:
    if not with_network:
        return StreamingRefiner(None, layout="h36m17", window=16, fps=FPS, lookahead=lookahead, max_gap=3,
                                device="cpu", max_people=4)
    torch.manual_seed(0)
    model = UGCN(UGCNConfig("h36m17", (4, 6, 8, 10, 12), window=16, fps=FPS)).eval()
    return StreamingRefiner(model, lookahead=lookahead, max_gap=3, device="cpu", max_people=4)


@st.composite
def stamp_steps(draw):
    """Steps between consecutive stamps, in ns: the usual frame period, jitter, repeats, steps back, long jumps."""
    return draw(st.lists(st.sampled_from([40_000_000, 40_000_000, 40_000_000, 0, -40_000_000, -10**9,
                                          7_000_000, 2 * 10**9, 300 * 10**9]) | st.integers(-10**12, 10**12),
                         min_size=1, max_size=MAX_STREAM))


@st.composite
def stream_frame(draw):
    ids = draw(st.lists(st.integers(0, 6), max_size=3, unique=True))
    people = len(ids)
    bad = draw(st.sampled_from(["none", "none", "none", "positions", "confidence", "status"]))
    positions = np.random.default_rng(len(ids)).normal(0.0, 0.3, (people, J, 3)).astype(np.float32) + [0, 0, 3]
    confidence = np.full((people, J), 0.8, np.float32)
    status = np.full((people, J), JointStatus.OBSERVED, np.uint8)
    if people and bad == "positions":
        positions[0, draw(st.integers(0, J - 1))] = draw(any_float32)
    elif people and bad == "confidence":
        confidence[0, draw(st.integers(0, J - 1))] = draw(st.floats(0.0, 1.0) | st.just(np.nan))
    elif people and bad == "status":
        status[0] = draw(arrays(np.uint8, J, elements=st.sampled_from(list(JointStatus))))
    return np.array(ids, np.int64), positions, confidence, status


def check_refined(pose):
    assert np.isfinite(pose.positions).all() and np.isfinite(pose.confidence).all()
    assert pose.positions.shape == (J, 3) and (pose.confidence >= 0).all() and (pose.confidence <= 1).all()
    assert set(np.unique(pose.status)) <= {JointStatus.REFINED, JointStatus.FILLED, JointStatus.MISSING}


@settings(max_examples=STREAM_EXAMPLES, **SETTINGS)
@given(steps=stamp_steps(), data=st.data(), with_network=st.booleans(), lookahead=st.integers(0, 4))
def test_refiner_streams_give_finite_poses_or_value_error(steps, data, with_network, lookahead):
    refiner = small_refiner(with_network, lookahead)
    stamp = 0.0
    for step in steps:
        stamp += step / 1e9
        ids, positions, confidence, status = data.draw(stream_frame())
        try:
            out = refiner.push_frame(stamp, ids.tolist(), positions, confidence, status)
        except ValueError:
            continue
        for pose in out:
            check_refined(pose)
        assert len(refiner.tracks) <= refiner.max_people
    for pose in refiner.flush():
        check_refined(pose)
    assert refiner.tracks == {}


@settings(max_examples=STREAM_EXAMPLES, **SETTINGS)
@given(steps=stamp_steps(), data=st.data(), with_network=st.booleans(), lookahead=st.integers(0, 4),
       start=st.sampled_from([0, 1_700_000_000_123_456_789]))
def test_temporal_frames_output_each_new_stamp_once_whatever_the_clock_does(steps, data, with_network, lookahead,
                                                                             start):
    frames = TemporalFrames(small_refiner(with_network, lookahead), num_joints=J)
    stamp, accepted, out = start, [], []
    for step in steps:
        stamp = max(0, stamp + step)
        ids, positions, confidence, status = data.draw(stream_frame())
        error = np.full(confidence.shape, 0.05, np.float32)
        duplicates = frames.events["duplicate_stamp"]
        try:
            out += frames.push(stamp, "cam", ids, positions, confidence, error, status)
        except ValueError:
            continue
        if frames.events["duplicate_stamp"] == duplicates:  # the rule itself: test_ros_node_logic.py
            accepted.append(stamp)
    out += frames.flush()
    assert [frame.stamp_ns for frame in out] == accepted  # in input order, each once, exactly
    for frame in out:
        people = len(frame.person_ids)
        assert frame.positions.shape == (people, J, 3) and np.isfinite(frame.positions).all()
        assert len(set(frame.person_ids.tolist())) == people
