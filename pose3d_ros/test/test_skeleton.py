import re
from pathlib import Path

import numpy as np
import pytest

from pose3d_ros.skeleton import (
    H36M17,
    H36M17_FROM_H36M32,
    H36M32,
    LAYOUTS,
    WHOLEBODY133,
    WHOLEBODY_FROM_H36M17,
    JointStatus,
    get_layout,
)

MSG_DIR = Path(__file__).resolve().parents[2] / "pose3d_ros_msgs" / "msg"


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_one_tree_reaching_every_joint(layout):
    parents = np.array(layout.parents)
    assert (parents == -1).sum() == 1
    for joint in range(layout.num_joints):  # walking up from any joint reaches the root without a cycle
        seen, j = set(), joint
        while j != -1:
            assert j not in seen, f"cycle through joint {j}"
            seen.add(j)
            j = parents[j]
    assert sorted(layout.topological_order) == list(range(layout.num_joints))
    position = {j: k for k, j in enumerate(layout.topological_order)}
    assert all(position[p] < position[c] for p, c in layout.bones)


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_flip_is_an_involution_that_swaps_sides(layout):
    flip = np.array(layout.flip)
    assert sorted(flip) == list(range(layout.num_joints))
    np.testing.assert_array_equal(flip[flip], np.arange(layout.num_joints))
    for i, name in enumerate(layout.names):
        if "left" in name:
            assert layout.names[flip[i]] == name.replace("left", "right")
        elif "right" in name:
            assert layout.names[flip[i]] == name.replace("right", "left")
    # the tree is mirror-symmetric: the flipped joint's parent is the flipped parent
    for child, parent in enumerate(layout.parents):
        assert layout.parents[flip[child]] == (flip[parent] if parent >= 0 else -1)


def test_wholebody_order_and_parts():
    names = WHOLEBODY133.names
    assert len(names) == 133 and len(set(names)) == 133
    assert names[0] == "nose" and names[16] == "right_ankle"
    assert names[17:23] == ("left_big_toe", "left_small_toe", "left_heel",
                            "right_big_toe", "right_small_toe", "right_heel")
    assert names[23] == "face_0" and names[90] == "face_67"
    assert names[91] == "left_hand_root" and names[95] == "left_hand_thumb4" and names[111] == "left_hand_pinky_finger4"
    assert names[112] == "right_hand_root" and names[132] == "right_hand_pinky_finger4"
    covered = np.concatenate([np.arange(133)[s] for s in WHOLEBODY133.parts.values()])
    np.testing.assert_array_equal(np.sort(covered), np.arange(133))
    assert len(covered) == 133
    assert [s.stop - s.start for s in WHOLEBODY133.parts.values()] == [23, 68, 42]
    np.testing.assert_array_equal(np.bincount(WHOLEBODY133.part_of()), [23, 68, 42])


def test_part_anchors_hang_face_and_hands_from_the_body():
    idx = WHOLEBODY133.index
    anchors = WHOLEBODY133.part_anchors
    assert (anchors[:23] == -1).all()
    assert (anchors[23:91] == idx("nose")).all()
    assert (anchors[91:112] == idx("left_wrist")).all() and (anchors[112:] == idx("right_wrist")).all()
    assert (get_layout("h36m17").part_anchors == -1).all()  # one part: nothing to anchor


def test_wholebody_tree_is_anatomical():
    idx = WHOLEBODY133.index
    assert WHOLEBODY133.root == idx("nose")
    assert WHOLEBODY133.parents[idx("left_hand_root")] == idx("left_wrist")
    assert WHOLEBODY133.parents[idx("right_hand_thumb1")] == idx("right_hand_root")
    assert WHOLEBODY133.parents[idx("left_hand_thumb2")] == idx("left_hand_thumb1")
    assert WHOLEBODY133.parents[idx("left_heel")] == idx("left_ankle")
    assert WHOLEBODY133.parents[idx("face_30")] == idx("nose")  # iBUG nose tip hangs on the body's nose
    # iBUG mirror pairs: jaw ends, outer eye corners, mouth corners
    flip = WHOLEBODY133.flip
    for a, b in ((0, 16), (36, 45), (48, 54), (17, 26)):
        assert flip[23 + a] == 23 + b
    for a in (8, 27, 30, 33, 51, 57, 62, 66):  # midline points map to themselves
        assert flip[23 + a] == 23 + a


def test_adjacency_is_symmetric_with_the_tree_inside():
    adj = WHOLEBODY133.adjacency()
    np.testing.assert_array_equal(adj, adj.T)
    assert np.all(np.diag(adj) == 1)
    for p, c in WHOLEBODY133.bones:
        assert adj[p, c] == 1
    assert adj.sum() == 133 + 2 * len(WHOLEBODY133.edges)
    assert np.all(np.diag(WHOLEBODY133.adjacency(self_loops=False)) == 0)


def test_h36m17_is_the_standard_subset():
    assert H36M17.names == tuple(H36M32.names[i] for i in H36M17_FROM_H36M32)
    assert H36M17.names[11:14] == ("left_shoulder", "left_elbow", "left_wrist")
    for coco, h36m in WHOLEBODY_FROM_H36M17.items():
        assert WHOLEBODY133.names[coco] == H36M17.names[h36m]


def test_parent_distance_and_bone_vectors():
    pts = np.zeros((17, 3))
    pts[1] = [3.0, 4.0, 0.0]  # right hip, parent pelvis at the origin
    pts[2] = [3.0, 4.0, 2.0]  # right knee, parent right hip
    dist = H36M17.parent_distance(pts)
    assert dist[0] == 0.0 and dist[1] == pytest.approx(5.0) and dist[2] == pytest.approx(2.0)
    bones = H36M17.bone_vectors(pts)
    assert bones.shape == (16, 3)
    np.testing.assert_allclose(bones[H36M17.bones.index((1, 2))], [0.0, 0.0, 2.0])


def test_fill_missing_collapses_onto_nearest_visible_ancestor():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(133, 2))
    visible = np.ones(133, bool)
    visible[91:112] = False  # left hand out of view
    visible[7] = False  # and the left elbow
    filled = WHOLEBODY133.fill_missing(pts, visible)
    np.testing.assert_array_equal(filled[91:112], np.broadcast_to(pts[9], (21, 2)))  # onto the visible wrist
    np.testing.assert_array_equal(filled[7], pts[5])  # elbow onto the shoulder
    np.testing.assert_array_equal(filled[visible], pts[visible])
    # nothing visible up to the root: the centroid of the visible joints
    visible = np.zeros(133, bool)
    visible[[5, 6]] = True
    filled = WHOLEBODY133.fill_missing(pts, visible)
    np.testing.assert_allclose(filled[0], (pts[5] + pts[6]) / 2)
    np.testing.assert_allclose(filled[3], (pts[5] + pts[6]) / 2)  # left ear -> left eye -> nose: none visible
    np.testing.assert_array_equal(filled[100], pts[5])  # left hand -> wrist -> elbow -> visible shoulder
    assert np.all(WHOLEBODY133.fill_missing(pts, np.zeros(133, bool)) == 0)
    with pytest.raises(ValueError, match="do not fit layout"):
        WHOLEBODY133.fill_missing(pts[:17], visible[:17])


def test_flip_points_mirrors_and_relabels():
    pts = np.arange(17 * 3, dtype=float).reshape(17, 3)
    flipped = H36M17.flip_points(pts)
    np.testing.assert_array_equal(flipped[1], [-pts[4, 0], pts[4, 1], pts[4, 2]])
    np.testing.assert_array_equal(H36M17.flip_points(flipped), pts)


def test_get_layout_names_the_known_layouts():
    assert get_layout("h36m17") is H36M17
    with pytest.raises(ValueError, match="unknown skeleton layout 'coco'.*wholebody133"):
        get_layout("coco")


def test_joint_status_matches_the_message_constants():
    text = (MSG_DIR / "Skeleton3D.msg").read_text()
    constants = dict(re.findall(r"^uint8 STATUS_(\w+)=(\d+)", text, flags=re.M))
    assert {k: int(v) for k, v in constants.items()} == {s.name: s.value for s in JointStatus}


def test_triangles_and_bones_on_real_motion(mocap_path):
    data = np.load(mocap_path)
    poses = data["S9/walking_1"][::50][:, list(H36M17_FROM_H36M32)]
    for name, (a, b, c) in H36M17.triangles.items():
        area = 0.5 * np.linalg.norm(np.cross(poses[:, b] - poses[:, a], poses[:, c] - poses[:, a]), axis=-1)
        assert np.all(area > 1e-4), f"{name} triangle degenerates"
    # the standard subset's limbs come out at human lengths (metres), and constant over time
    length = H36M17.parent_distance(poses)
    for joint, (lo, hi) in {"left_elbow": (0.22, 0.35), "left_wrist": (0.2, 0.3), "right_knee": (0.35, 0.5),
                            "right_ankle": (0.35, 0.5), "left_shoulder": (0.1, 0.25)}.items():
        j = H36M17.index(joint)
        assert lo < length[:, j].mean() < hi, joint
        assert length[:, j].std() < 1e-3
    # wholebody triangles use body joints that exist in H36M-17
    for a, b, c in WHOLEBODY133.triangles.values():
        assert {a, b, c} <= set(WHOLEBODY_FROM_H36M17)
