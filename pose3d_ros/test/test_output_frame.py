"""Skeletons in another TF frame (output_frame): the rigid transform and the counting of frames without one."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from pose3d_ros.node_logic.output_frame import OutputFrame, transform_positions


def test_a_level_camera_1_2_m_up_gives_upright_skeletons_in_a_z_up_frame():
    # base_link: x forward, y left, z up; the camera 1.2 m above it, looking along x (REP-103 optical rotation)
    camera_in_base = Rotation.from_matrix([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    head_above_pelvis = np.array([[[0.0, 0.0, 3.0], [0.0, -0.6, 3.0]]])  # optical: y down, 3 m in front
    moved = transform_positions(head_above_pelvis, camera_in_base.as_quat(), (0.0, 0.0, 1.2))
    np.testing.assert_allclose(moved[0, 0], [3.0, 0.0, 1.2], atol=1e-6)
    np.testing.assert_allclose(moved[0, 1] - moved[0, 0], [0.0, 0.0, 0.6], atol=1e-6)  # up is +z
    assert moved.dtype == np.float32


@settings(max_examples=50, deadline=None)
@given(quaternion=st.lists(st.floats(-1, 1), min_size=4, max_size=4).filter(lambda q: np.linalg.norm(q) > 0.1),
       translation=st.lists(st.floats(-50, 50), min_size=3, max_size=3),
       people=st.integers(0, 3))
def test_the_transform_keeps_every_distance_and_moves_the_pelvis_by_the_translation(quaternion, translation, people):
    positions = np.random.default_rng(people).normal(size=(people, 5, 3)).astype(np.float32)
    moved = transform_positions(positions, quaternion, translation)
    assert moved.shape == positions.shape
    distances = np.linalg.norm(positions[:, :, None] - positions[:, None], axis=-1)
    np.testing.assert_allclose(np.linalg.norm(moved[:, :, None] - moved[:, None], axis=-1), distances, atol=1e-3)


def test_frames_without_a_transform_are_counted_and_the_first_one_says_why():
    output = OutputFrame("map")
    assert output.transformed(np.zeros((1, 2, 3)), failure="map does not exist") is None
    assert output.failures == 1 and "map does not exist" in output.warning
    assert output.transformed(np.zeros((1, 2, 3)), failure="again") is None
    assert output.failures == 2 and output.warning is None  # logged once
    moved = output.transformed(np.ones((1, 2, 3)), (0.0, 0.0, 0.0, 1.0), (1.0, 0.0, 0.0))
    np.testing.assert_allclose(moved, [[[2.0, 1.0, 1.0]] * 2])
    assert output.published == 1
