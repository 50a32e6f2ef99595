import numpy as np
import pytest

from pose3d_ros.metrics import acceleration_error, h3wb_errors, h36m17_errors, mpjpe, p_mpjpe, procrustes_align


def _rotation_z(deg):
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


@pytest.fixture
def gt133():
    return np.random.default_rng(1).normal(scale=300.0, size=(2, 133, 3))


def test_mpjpe_by_hand():
    gt = np.zeros((1, 4, 3))
    pred = gt.copy()
    pred[0, :, :2] = [3.0, 4.0]
    assert mpjpe(pred, gt) == pytest.approx(5.0)
    pred[0, 0] = 0.0
    assert mpjpe(pred, gt) == pytest.approx(15.0 / 4)
    assert mpjpe(pred, gt, mask=np.array([[False, True, True, True]])) == pytest.approx(5.0)
    assert np.isnan(mpjpe(pred, gt, mask=np.zeros((1, 4), bool)))


def test_h3wb_ignores_a_global_translation(gt133):
    errors = h3wb_errors(gt133 + [10.0, -20.0, 30.0], gt133)
    assert all(v == pytest.approx(0.0, abs=1e-9) for v in errors.values())


def test_h3wb_face_point_by_hand(gt133):
    pred = gt133.copy()
    pred[:, 40] += [0.0, 0.0, 68.0]  # one face joint 68 mm off
    e = h3wb_errors(pred, gt133)
    assert e["all"] == pytest.approx(68.0 / 133)
    assert e["body"] == pytest.approx(0.0)
    assert e["face"] == pytest.approx(1.0)
    assert e["face_aligned"] == pytest.approx(1.0)
    assert e["hands"] == e["hands_aligned"] == pytest.approx(0.0)


def test_h3wb_nose_alignment_by_hand(gt133):
    pred = gt133.copy()
    pred[:, 0] += [0.0, 6.0, 8.0]  # only the nose moves: the whole face looks 10 mm off once aligned on it
    e = h3wb_errors(pred, gt133)
    assert e["face"] == pytest.approx(0.0)
    assert e["face_aligned"] == pytest.approx(10.0)
    assert e["body"] == pytest.approx(10.0 / 23)


def test_h3wb_hand_alignment_by_hand(gt133):
    pred = gt133.copy()
    pred[:, 91:112] += [21.0, 0.0, 0.0]  # the whole left hand shifted: wrong place, right shape
    e = h3wb_errors(pred, gt133)
    assert e["hands"] == pytest.approx(21.0 / 2)
    assert e["hands_aligned"] == pytest.approx(0.0)
    pred = gt133.copy()
    pred[:, 91] += [10.0, 0.0, 0.0]  # only the left hand root: its 20 other joints are 10 mm off relative to it
    e = h3wb_errors(pred, gt133)
    assert e["hands_aligned"] == pytest.approx((20 * 10.0 / 21 + 0.0) / 2)  # root's zero included, hands averaged
    assert e["hands"] == pytest.approx(10.0 / 42)


def test_h3wb_pelvis_is_the_hip_midpoint(gt133):
    pred = gt133.copy()
    pred[:, 11] += [0.0, 0.0, 20.0]  # moving one hip moves the pelvis by 10 mm: everything else is 10 mm off
    e = h3wb_errors(pred, gt133)
    assert e["all"] == pytest.approx((131 * 10.0 + 2 * 10.0) / 133)


def test_p_mpjpe_removes_similarity_but_not_reflection():
    gt = np.random.default_rng(2).normal(size=(3, 17, 3))
    pred = 1.7 * gt @ _rotation_z(40).T + [1.0, 2.0, 3.0]
    assert p_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(procrustes_align(pred, gt), gt, atol=1e-9)
    mirrored = gt * [-1.0, 1.0, 1.0]
    assert p_mpjpe(mirrored, gt) > 0.1


def test_h36m17_errors_by_hand():
    gt = np.random.default_rng(3).normal(size=(2, 17, 3))
    pred = gt + 5.0  # a translation only
    e = h36m17_errors(pred, gt)
    assert e["mpjpe"] == pytest.approx(0.0, abs=1e-9) and e["p_mpjpe"] == pytest.approx(0.0, abs=1e-9)
    pred = gt.copy()
    pred[:, 3] += [0.0, 0.0, 17.0]
    assert h36m17_errors(pred, gt)["mpjpe"] == pytest.approx(1.0)


def test_acceleration_error_by_hand():
    t = np.arange(10, dtype=float)[:, None, None]
    gt = np.zeros((10, 2, 3))
    pred = gt + t**2 * np.array([3.0, 4.0, 0.0])  # second difference of t^2 is 2 -> |2 * (3, 4, 0)| = 10
    assert acceleration_error(pred, gt) == pytest.approx(10.0)
    assert acceleration_error(gt + t * 7.0, gt) == pytest.approx(0.0)  # constant velocity has no acceleration


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="differs"):
        mpjpe(np.zeros((2, 17, 3)), np.zeros((2, 16, 3)))
    with pytest.raises(ValueError, match="133 joints"):
        h3wb_errors(np.zeros((1, 17, 3)), np.zeros((1, 17, 3)))
    with pytest.raises(ValueError, match="17 joints"):
        h36m17_errors(np.zeros((1, 133, 3)), np.zeros((1, 133, 3)))
    with pytest.raises(ValueError, match="NaN"):
        mpjpe(np.full((1, 17, 3), np.nan), np.zeros((1, 17, 3)))
    with pytest.raises(ValueError, match="3 frames"):
        acceleration_error(np.zeros((2, 17, 3)), np.zeros((2, 17, 3)))
    with pytest.raises(ValueError, match=r"\(N, J, 3\)"):
        mpjpe(np.zeros((5, 2)), np.zeros((5, 2)))
