import math

import numpy as np
import pytest

from pose3d_ros.skeleton import H36M17, WHOLEBODY133
from pose3d_ros.temporal.baselines import OneEuroFilter, fill_gaps
from pose3d_ros.temporal.trajectory import local_linear, root_centre


def test_linear_interpolation_is_exact_on_linear_motion_with_irregular_stamps():
    stamps = np.array([0.0, 0.03, 0.1, 0.14, 0.2, 0.31, 0.4])
    velocity = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, 1.0]])
    values = stamps[:, None, None] * velocity + np.array([[0.1, 0.2, 3.0], [0.0, 0.0, 2.0]])
    valid = np.ones((7, 2), bool)
    valid[1:4, 0] = False  # a gap of three samples in joint 0
    valid[5, 1] = False
    corrupted = np.where(valid[..., None], values, 99.0)
    filled = fill_gaps(stamps, corrupted, valid)
    assert np.allclose(filled, values)


def test_linear_interpolation_holds_at_the_ends_and_leaves_never_valid_elements():
    stamps = np.arange(5) * 0.1
    values = np.array([[9.0, 1.0], [2.0, 1.0], [4.0, 1.0], [9.0, 1.0], [9.0, 1.0]])
    valid = np.array([[False, False], [True, False], [True, False], [False, False], [False, False]])
    filled = fill_gaps(stamps, values, valid)
    assert filled[:, 0].tolist() == [2.0, 2.0, 4.0, 4.0, 4.0]
    assert filled[:, 1].tolist() == [1.0] * 5
    with pytest.raises(ValueError, match="increasing"):
        fill_gaps(np.array([0.0, 0.0]), np.zeros(2), np.ones(2, bool))
    with pytest.raises(ValueError, match="line up"):
        fill_gaps(stamps, values, valid[:3])


def test_one_euro_keeps_a_constant_signal_and_matches_hand_computed_steps():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    stamps = np.arange(10) * 0.1
    constant = np.full((10, 2, 3), 0.7)
    assert np.array_equal(f.filter_sequence(stamps, constant), constant)
    # A step from 0 to 1 at 10 Hz, beta = 0: alpha = 1 / (1 + tau / Te), tau = 1 / (2 pi fc).
    alpha = 1.0 / (1.0 + (1.0 / (2.0 * math.pi * 1.0)) / 0.1)
    out = f.filter_sequence(stamps[:3], np.array([0.0, 1.0, 1.0]))
    assert out[0] == 0.0
    assert out[1] == pytest.approx(alpha)
    assert out[2] == pytest.approx(alpha + alpha * (1.0 - alpha))


def test_one_euro_speed_raises_the_cutoff():
    stamps = np.arange(3) * 0.1
    ramp = np.array([0.0, 1.0, 2.0])
    slow = OneEuroFilter(1.0, beta=0.0).filter_sequence(stamps, ramp)
    fast = OneEuroFilter(1.0, beta=1.0).filter_sequence(stamps, ramp)
    # Second sample: derivative 10/s, low-passed with alpha_d(1 Hz) -> cutoff 1 + alpha_d * 10 Hz.
    alpha_d = 1.0 / (1.0 + (1.0 / (2.0 * math.pi)) / 0.1)
    cutoff = 1.0 + alpha_d * 10.0
    assert fast[1] == pytest.approx(1.0 / (1.0 + (1.0 / (2.0 * math.pi * cutoff)) / 0.1))
    assert fast[2] > slow[2]  # less lag on fast motion
    with pytest.raises(ValueError, match="does not follow"):
        f = OneEuroFilter()
        f(1.0, 0.0)
        f(1.0, 0.0)
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroFilter(min_cutoff=0.0)


def test_local_linear_root_fit_is_exact_on_linear_motion_and_extrapolates_causally():
    stamps = np.arange(10) * 0.04
    roots = np.stack([0.5 * stamps, 0.0 * stamps, 3.0 - stamps], axis=1)
    valid = np.ones(10, bool)
    valid[4:6] = False
    for query in (0.0, 0.16, 0.2, 0.36, 0.5):  # inside, in the gap, at the end and beyond it
        fit = local_linear(stamps, roots, valid, query, 0.12)
        assert np.allclose(fit, [0.5 * query, 0.0, 3.0 - query])
    assert local_linear(stamps, roots, np.zeros(10, bool), 0.1, 0.12) is None
    assert np.allclose(local_linear(stamps[:1], roots[:1], valid[:1], 0.1, 0.12), roots[0])


def test_root_centre_is_the_pelvis_of_each_layout():
    poses = np.random.default_rng(0).normal(size=(4, 133, 3))
    assert np.allclose(root_centre(WHOLEBODY133, poses), poses[:, [11, 12]].mean(axis=1))
    assert np.allclose(root_centre(H36M17, poses[:, :17]), poses[:, 0])
