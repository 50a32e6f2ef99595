"""RViz skeleton markers: types, part colours, alpha from confidence, namespaces, lifetimes, deletion."""

import numpy as np
import pytest

from pose3d_ros.markers import (
    BONES_ID,
    DELETEALL,
    JOINTS_ID,
    LABEL_ID,
    LINE_LIST,
    PART_COLORS,
    PERSON_COLORS,
    SPHERE_LIST,
    TEXT_VIEW_FACING,
    MarkerStyle,
    SkeletonMarkers,
    person_markers,
)
from pose3d_ros.messages import load_message_types, make_header
from pose3d_ros.skeleton import H36M17, WHOLEBODY133, JointStatus


@pytest.fixture(scope="module")
def types():
    return load_message_types("jazzy")


def pose(layout=WHOLEBODY133, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.5, (layout.num_joints, 3)) + [0, 0, 3]


def xyz(points):
    return np.array([[p.x, p.y, p.z] for p in points])


def rgba(colors):
    return np.array([[c.r, c.g, c.b, c.a] for c in colors])


def test_bones_and_joints_markers(types):
    positions = pose()
    confidence = np.linspace(0, 1, 133)
    status = np.full(133, JointStatus.OBSERVED)
    header = make_header(types, 10**9, "camera_optical")
    style = MarkerStyle(bone_width=0.02, joint_diameter=0.05, lifetime_s=0.25, min_alpha=0.2)
    bones, joints, label = person_markers(types, header, positions, confidence, status, 7, "wholebody133", style)
    assert (bones.type, bones.id, joints.type, joints.id) == (LINE_LIST, BONES_ID, SPHERE_LIST, JOINTS_ID)
    assert bones.ns == joints.ns == label.ns == "person_7"
    assert bones.header.frame_id == "camera_optical" and bones.header.stamp.sec == 1
    assert (bones.lifetime.sec, bones.lifetime.nanosec) == (0, 250_000_000)
    assert bones.scale.x == 0.02 and (joints.scale.x, joints.scale.y, joints.scale.z) == (0.05, 0.05, 0.05)
    assert bones.pose.orientation.w == 1.0 and joints.color.a == 1.0
    # One line per bone of the tree, from parent to child, and one colour per point.
    assert len(bones.points) == 2 * len(WHOLEBODY133.bones) == len(bones.colors)
    np.testing.assert_allclose(xyz(bones.points), positions[np.array(WHOLEBODY133.bones).reshape(-1)])
    np.testing.assert_allclose(xyz(joints.points), positions)
    colors = rgba(joints.colors)
    # Colours by part, alpha = min_alpha + (1 - min_alpha) * confidence.
    np.testing.assert_allclose(colors[0, :3], PART_COLORS["body"])
    np.testing.assert_allclose(colors[50, :3], PART_COLORS["face"])
    np.testing.assert_allclose(colors[120, :3], PART_COLORS["hands"])
    np.testing.assert_allclose(colors[:, 3], 0.2 + 0.8 * confidence)
    # A bone takes its child's part colour and the fainter end's alpha: left wrist (9) -> left hand root (91).
    k = WHOLEBODY133.bones.index((9, 91))
    bone_colors = rgba(bones.colors)
    np.testing.assert_allclose(bone_colors[2 * k, :3], PART_COLORS["hands"])
    np.testing.assert_allclose(bone_colors[2 * k:2 * k + 2, 3], 0.2 + 0.8 * min(confidence[9], confidence[91]))
    # They serialize as real visualization_msgs/Marker.
    assert types.typestore.serialize_cdr(bones, bones.__msgtype__)
    assert types.typestore.serialize_cdr(label, label.__msgtype__)


def test_each_person_is_labelled_with_their_id_above_the_head_in_their_colour(types):
    positions = pose()
    status = np.full(133, JointStatus.OBSERVED)
    status[0] = JointStatus.MISSING
    positions[0, 1] = -10.0  # a MISSING joint, far above the others, is not where the label goes
    header = make_header(types, 0, "camera_optical")
    labels = {person_id: person_markers(types, header, positions, np.ones(133), status, person_id)[-1]
              for person_id in range(len(PERSON_COLORS) + 1)}
    label = labels[3]
    assert (label.type, label.id, label.text, label.ns) == (TEXT_VIEW_FACING, LABEL_ID, "3", "person_3")
    top = positions[1:][np.argmin(positions[1:, 1])]  # optical frame: y points down
    np.testing.assert_allclose([label.pose.position.x, label.pose.position.y, label.pose.position.z],
                               top + [0.0, -0.2, 0.0])
    assert label.scale.z == 0.15 and label.color.a == 1.0
    colors = [(m.color.r, m.color.g, m.color.b) for m in labels.values()]
    assert len(set(colors[:len(PERSON_COLORS)])) == len(PERSON_COLORS) and colors[-1] == colors[0]


def test_missing_joints_are_not_drawn(types):
    status = np.full(17, JointStatus.INFERRED)
    status[[3, 16]] = JointStatus.MISSING  # right ankle, right wrist: leaves of the tree
    bones, joints, _ = person_markers(types, make_header(types, 0, "c"), pose(H36M17), np.zeros(17), status, 1,
                                      "h36m17")
    assert len(joints.points) == 15 and len(bones.points) == 2 * (len(H36M17.bones) - 2)
    assert np.allclose(rgba(joints.colors)[:, 3], MarkerStyle().min_alpha)
    only_missing = person_markers(types, make_header(types, 0, "c"), pose(H36M17), np.zeros(17),
                                  np.zeros(17, np.uint8), 1, "h36m17")
    assert only_missing == []


def test_people_who_leave_are_deleted_by_namespace(types):
    markers = SkeletonMarkers(types, "h36m17", MarkerStyle(namespace_prefix="human"))
    header = make_header(types, 0, "c")
    positions = np.stack([pose(H36M17, 1), pose(H36M17, 2)])
    ones, status = np.ones((2, 17)), np.full((2, 17), JointStatus.OBSERVED)
    first = markers.update(header, positions, ones, status, [4, 8])
    assert sorted({m.ns for m in first.markers}) == ["human_4", "human_8"]
    assert all(m.action == 0 for m in first.markers)
    second = markers.update(header, positions[1:], ones[1:], status[1:], [8])
    deletes = [m for m in second.markers if m.action == DELETEALL]
    assert [(m.ns, m.id) for m in deletes] == [("human_4", 0)]
    assert second.markers[0] is deletes[0]  # deletions come before the new markers
    empty = markers.update(header, np.zeros((0, 17, 3)), np.zeros((0, 17)), np.zeros((0, 17)), [])
    assert [(m.ns, m.action) for m in empty.markers] == [("human_8", DELETEALL)]
    assert markers.update(header, np.zeros((0, 17, 3)), np.zeros((0, 17)), np.zeros((0, 17)), []).markers == []
    markers.update(header, positions, ones, status, [1, 2])
    cleared = markers.clear(header)
    assert [(m.ns, m.action) for m in cleared.markers] == [("human_1", DELETEALL), ("human_2", DELETEALL)]
    assert types.typestore.serialize_cdr(cleared, cleared.__msgtype__)


def test_bad_input_is_rejected(types):
    header = make_header(types, 0, "c")
    with pytest.raises(ValueError, match=r"expected \(133, 3\) for layout wholebody133"):
        person_markers(types, header, pose(H36M17), np.ones(17), np.ones(17), 0)
    with pytest.raises(ValueError, match="1 person ids for 2 skeletons"):
        SkeletonMarkers(types, "h36m17").update(header, np.zeros((2, 17, 3)), np.ones((2, 17)),
                                                np.ones((2, 17)), [1])
    with pytest.raises(ValueError, match="min_alpha"):
        MarkerStyle(min_alpha=0.0)
    with pytest.raises(ValueError, match="lifetime_s"):
        MarkerStyle(lifetime_s=-1)
