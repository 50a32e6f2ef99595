"""Signed distances to the monitored shapes: hand-computed values inside and outside, and properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from pose3d_ros.safety.geometry import Box, Capsule, Cylinder, ExtrudedPolygon, Pose

CAPSULE = Capsule(np.array([0.0, 0.0, 0.0]), np.array([1.0, 0.0, 0.0]), 0.1)
BOX = Box(np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.0, 1.5]))
CYLINDER = Cylinder(np.array([1.0, 1.0]), 0.5, 0.0, 2.0)
SQUARE = ExtrudedPolygon(np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]]), 0.0, 1.0)
# An L: the notch [1, 2] x [1, 2] is outside.
L_SHAPE = ExtrudedPolygon(np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 1.0], [1.0, 1.0], [1.0, 2.0], [0.0, 2.0]]),
                          0.0, 1.0)


def check(shape, point, distance, closest):
    d, c = shape.surface(np.array([point], dtype=float))
    assert d[0] == pytest.approx(distance, abs=1e-12)
    np.testing.assert_allclose(c[0], closest, atol=1e-12)


def test_capsule_outside_beside_beyond_the_end_and_inside():
    check(CAPSULE, [0.5, 0.6, 0.0], 0.5, [0.5, 0.1, 0.0])  # beside the segment
    check(CAPSULE, [2.0, 0.0, 0.0], 0.9, [1.1, 0.0, 0.0])  # beyond the end cap
    check(CAPSULE, [-0.3, 0.0, 0.4], 0.4, [-0.06, 0.0, 0.08])  # off the start cap: 0.5 from the start, minus 0.1
    check(CAPSULE, [0.5, 0.0, 0.04], -0.06, [0.5, 0.0, 0.1])  # inside: 0.06 from the surface
    d, c = CAPSULE.surface(np.array([[0.5, 0.0, 0.0]]))  # on the axis: any radial direction, depth = radius
    assert d[0] == pytest.approx(-0.1) and np.linalg.norm(c[0] - [0.5, 0, 0]) == pytest.approx(0.1)
    sphere = Capsule(np.zeros(3), np.zeros(3), 0.2)
    check(sphere, [0.0, 0.0, 1.0], 0.8, [0.0, 0.0, 0.2])


def test_box_outside_at_a_face_an_edge_a_corner_and_inside():
    check(BOX, [2.0, 2.0, 3.0], 0.5, [1.5, 2.0, 3.0])  # facing the +x face
    check(BOX, [1.5 + 0.3, 3.0 + 0.4, 3.0], 0.5, [1.5, 3.0, 3.0])  # beyond an edge: 3-4-5
    check(BOX, [0.5 - 1.0, 1.0 - 2.0, 1.5 - 2.0], 3.0, [0.5, 1.0, 1.5])  # beyond a corner: 1-2-2
    check(BOX, [1.2, 2.0, 3.0], -0.3, [1.5, 2.0, 3.0])  # inside, nearest the +x face
    check(BOX, [1.0, 2.0, 4.4], -0.1, [1.0, 2.0, 4.5])  # inside, nearest the +z face
    check(BOX, [1.5, 2.0, 3.0], 0.0, [1.5, 2.0, 3.0])  # on the surface


def test_cylinder_outside_radially_axially_diagonally_and_inside():
    check(CYLINDER, [3.0, 1.0, 1.0], 1.5, [1.5, 1.0, 1.0])
    check(CYLINDER, [1.2, 1.0, 2.7], 0.7, [1.2, 1.0, 2.0])  # above the top cap
    check(CYLINDER, [1.0, 2.8, -0.4], np.hypot(1.3, 0.4), [1.0, 1.5, 0.0])  # beyond the rim
    check(CYLINDER, [1.3, 1.0, 1.0], -0.2, [1.5, 1.0, 1.0])  # inside, nearer the side
    check(CYLINDER, [1.0, 1.0, 0.1], -0.1, [1.0, 1.0, 0.0])  # inside, nearer the bottom cap


def test_extruded_polygon_convex_and_concave():
    check(SQUARE, [3.0, 1.0, 0.5], 1.0, [2.0, 1.0, 0.5])
    check(SQUARE, [3.0, 3.0, 0.5], np.sqrt(2), [2.0, 2.0, 0.5])
    check(SQUARE, [1.0, 1.0, 2.0], 1.0, [1.0, 1.0, 1.0])  # above the zone
    check(SQUARE, [0.3, 1.0, 0.5], -0.3, [0.0, 1.0, 0.5])  # inside, nearest the x = 0 side
    check(SQUARE, [1.0, 1.0, 0.9], -0.1, [1.0, 1.0, 1.0])  # inside, nearest the top
    check(L_SHAPE, [1.5, 1.5, 0.5], 0.5, [1.5, 1.0, 0.5])  # in the notch: outside (0.5 to both inner edges)
    check(L_SHAPE, [0.3, 1.5, 0.5], -0.3, [0.0, 1.5, 0.5])  # in the upper arm of the L: inside


def test_pose_composition_and_inverse():
    a = Pose(Rotation.from_euler("z", 90, degrees=True), np.array([1.0, 0.0, 0.0]))
    b = Pose(Rotation.from_euler("x", 90, degrees=True), np.array([0.0, 2.0, 0.0]))
    point = np.array([[0.3, -0.2, 0.5]])
    np.testing.assert_allclose((a * b).apply(point), a.apply(b.apply(point)))
    np.testing.assert_allclose(a.inverse().apply(a.apply(point)), point)
    np.testing.assert_allclose(a.inverse_apply(a.apply(point)), point)
    np.testing.assert_allclose(a.apply(np.array([[1.0, 0.0, 0.0]])), [[1.0, 1.0, 0.0]])
    with pytest.raises(ValueError, match="not a unit quaternion"):
        Pose.from_quaternion([0, 0, 0], [0, 0, 0, 2])


coordinate = st.floats(-3, 3, allow_nan=False)
points = st.lists(st.tuples(coordinate, coordinate, coordinate), min_size=1, max_size=30)
SHAPES = [CAPSULE, BOX, CYLINDER, SQUARE, L_SHAPE]


@settings(max_examples=60, deadline=None)
@given(points)
def test_distance_equals_the_gap_to_the_closest_surface_point(values):
    """|signed distance| is the gap to the returned surface point, and the sign says inside (<= 0) or outside."""
    p = np.array(values)
    for shape in SHAPES:
        d, c = shape.surface(p)
        np.testing.assert_allclose(np.abs(d), np.linalg.norm(p - c, axis=1), atol=1e-9)
        # the returned point lies on the surface
        np.testing.assert_allclose(shape.surface(c)[0], 0.0, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(points)
def test_box_distance_is_never_more_than_to_its_centre_and_inside_is_not_positive(values):
    p = np.array(values)
    d, _ = BOX.surface(p)
    assert (d <= np.linalg.norm(p - BOX.centre, axis=1) + 1e-12).all()
    inside = (np.abs(p - BOX.centre) <= BOX.half_size).all(axis=1)
    assert (d[inside] <= 0).all() and (d[~inside] > 0).all()


@settings(max_examples=40, deadline=None)
@given(points, st.floats(-np.pi, np.pi), st.tuples(coordinate, coordinate, coordinate))
def test_distances_do_not_depend_on_where_the_frame_is(values, angle, shift):
    """Moving the points and the shape together leaves the distances unchanged (checks Pose against the shapes)."""
    pose = Pose(Rotation.from_rotvec([0.3 * angle, angle, 0.0]), np.array(shift))
    p = np.array(values)
    for shape in SHAPES:
        np.testing.assert_allclose(shape.surface(pose.inverse_apply(pose.apply(p)))[0], shape.surface(p)[0],
                                   atol=1e-9)


def test_outlines_lie_on_the_surface():
    for shape in SHAPES + [Capsule(np.zeros(3), np.zeros(3), 0.2)]:
        for line in shape.outline():
            np.testing.assert_allclose(shape.surface(line)[0], 0.0, atol=1e-9)
