"""Skeleton layouts: joint names, one kinematic tree, body parts, left/right flip, graph edges.

Three layouts are defined:

* ``wholebody133`` -- COCO-WholeBody / H3WB order: 0-16 COCO body, 17-22 feet, 23-90 face (68 iBUG points),
  91-111 left hand, 112-132 right hand (MediaPipe/OpenPose hand order).
* ``h36m32`` -- the 32-joint Human3.6M motion-capture skeleton as stored in ``h36m_positions_32j_50hz.npz``.
* ``h36m17`` -- the standard 17-joint Human3.6M subset used by the classic lifting protocol.

"Left" and "right" are always the person's own sides. Every layout has a single kinematic tree (``parents``);
for wholebody133 it is rooted at the nose so that the tree is mirror-symmetric and the flip permutation maps
it onto itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property

import numpy as np


class JointStatus(IntEnum):
    """Per-joint status of a 3D skeleton; the values are those of pose3d_ros_msgs/Skeleton3D's STATUS_*."""

    MISSING = 0  # no estimate
    OBSERVED = 1  # seen by the 2D stage in this frame and lifted
    INFERRED = 2  # not seen in this frame's 2D; estimated by the lifter from the rest of the body
    REFINED = 3  # observed, then refined by the temporal stage
    FILLED = 4  # missing in this frame, filled in by the temporal stage from neighbouring frames


class PlacementSource(IntEnum):
    """How a 3D skeleton was placed in the camera frame; the values are those of pose3d_ros_msgs/Skeleton3D's
    PLACEMENT_*.
    """

    UNKNOWN = 0  # not said (the temporal stage's output, older recordings)
    LEAST_SQUARES = 1  # from the 2D keypoints and the lifted pose's size (monocular)
    DEPTH = 2  # from an aligned depth image around the torso


# --------------------------------------------------------------------------------------------------
# COCO-WholeBody 133
# --------------------------------------------------------------------------------------------------

COCO_BODY_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
FOOT_NAMES = ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel")
FACE_NAMES = tuple(f"face_{i}" for i in range(68))  # iBUG 300-W 68-point order
HAND_POINT_NAMES = ("root",) + tuple(
    f"{finger}{k}" for finger in ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")
    for k in range(1, 5)
)

FACE_OFFSET = 23
LEFT_HAND_OFFSET = 91
RIGHT_HAND_OFFSET = 112

# Parent of every iBUG-68 face point, in iBUG indices; the nose tip (30) hangs on the body's nose.
# Chains run outwards from the face's midline so that the tree is mirror-symmetric.
_FACE_PARENTS_IBUG = {
    30: None,                                    # nose tip -> body nose (joint 0)
    29: 30, 28: 29, 27: 28,                      # nose bridge, upwards from the tip
    33: 30, 32: 33, 31: 32, 34: 33, 35: 34,      # nostrils, outwards from the columella
    21: 27, 20: 21, 19: 20, 18: 19, 17: 18,      # right brow, from its inner end
    22: 27, 23: 22, 24: 23, 25: 24, 26: 25,      # left brow
    39: 27, 38: 39, 37: 38, 36: 37, 40: 39, 41: 40,  # right eye, from its inner corner
    42: 27, 43: 42, 44: 43, 45: 44, 47: 42, 46: 47,  # left eye
    51: 33, 50: 51, 49: 50, 48: 49, 52: 51, 53: 52, 54: 53,  # upper outer lip, from its centre
    62: 51, 61: 62, 60: 61, 63: 62, 64: 63,      # upper inner lip
    66: 62, 67: 66, 65: 66,                      # lower inner lip (across the mouth opening)
    57: 66, 58: 57, 59: 58, 56: 57, 55: 56,      # lower outer lip
    8: 57, **{i: i + 1 for i in range(8)}, **{i: i - 1 for i in range(9, 17)},  # jaw, outwards from the chin
}
# iBUG-68 mirror pairs (the subject's right <-> left).
_FACE_MIRROR_IBUG = (
    [(i, 16 - i) for i in range(8)]
    + [(17, 26), (18, 25), (19, 24), (20, 23), (21, 22)]
    + [(31, 35), (32, 34)]
    + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]
)


def _wholebody_parents() -> tuple[int, ...]:
    parents = [-1] * 133
    body = {1: 0, 2: 0, 3: 1, 4: 2, 5: 0, 6: 0, 7: 5, 8: 6, 9: 7, 10: 8,
            11: 5, 12: 6, 13: 11, 14: 12, 15: 13, 16: 14,
            17: 15, 18: 15, 19: 15, 20: 16, 21: 16, 22: 16}
    parents[: len(body) + 1] = [-1] + [body[i] for i in range(1, 23)]
    for ibug, parent in _FACE_PARENTS_IBUG.items():
        parents[FACE_OFFSET + ibug] = 0 if parent is None else FACE_OFFSET + parent
    for offset, wrist in ((LEFT_HAND_OFFSET, 9), (RIGHT_HAND_OFFSET, 10)):
        parents[offset] = wrist
        for finger in range(5):
            base = offset + 1 + 4 * finger
            parents[base] = offset
            for k in range(1, 4):
                parents[base + k] = base + k - 1
    return tuple(parents)


def _wholebody_flip() -> tuple[int, ...]:
    flip = list(range(133))
    pairs = [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 20), (18, 21), (19, 22)]
    pairs += [(FACE_OFFSET + a, FACE_OFFSET + b) for a, b in _FACE_MIRROR_IBUG]
    pairs += [(LEFT_HAND_OFFSET + i, RIGHT_HAND_OFFSET + i) for i in range(21)]
    for a, b in pairs:
        flip[a], flip[b] = b, a
    return tuple(flip)


# --------------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """A skeleton layout. Arrays of poses in this layout have shape (..., num_joints, C)."""

    name: str
    names: tuple[str, ...]
    parents: tuple[int, ...]
    """Parent of each joint in the single kinematic tree; -1 for the root."""
    parts: dict[str, slice]
    """Named contiguous parts that cover all joints exactly once, in order."""
    flip: tuple[int, ...]
    """Permutation that exchanges left and right joints (an involution)."""
    triangles: dict[str, tuple[int, int, int]]
    """Limb triangles (proximal, middle, distal joint) whose normals the normal loss compares."""
    extra_edges: tuple[tuple[int, int], ...] = field(default=())
    """Graph-convolution edges that are not bones of the tree (closing anatomical loops)."""

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def root(self) -> int:
        return self.parents.index(-1)

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(parent, child) pairs of the kinematic tree."""
        return tuple((p, c) for c, p in enumerate(self.parents) if p >= 0)

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """Undirected edges of the graph used by graph convolutions: tree bones plus extra edges."""
        return self.bones + self.extra_edges

    def index(self, name: str) -> int:
        return self.names.index(name)

    def adjacency(self, self_loops: bool = True) -> np.ndarray:
        """Symmetric 0/1 adjacency matrix (J, J) of :attr:`edges`."""
        adj = np.zeros((self.num_joints, self.num_joints), dtype=np.float32)
        for a, b in self.edges:
            adj[a, b] = adj[b, a] = 1.0
        if self_loops:
            adj[np.diag_indices(self.num_joints)] = 1.0
        return adj

    def part_of(self) -> np.ndarray:
        """Index of the part each joint belongs to, shape (J,)."""
        out = np.empty(self.num_joints, dtype=np.int64)
        for k, part in enumerate(self.parts.values()):
            out[part] = k
        return out

    @cached_property
    def part_anchors(self) -> np.ndarray:
        """For each joint of a part after the first, the first part's joint it hangs from (its nearest ancestor
        there: the nose for the face, a wrist for a hand); -1 for joints of the first part. Shape (J,), read-only,
        computed once per layout (the lifter's input features read it at every lift).
        """
        first = next(iter(self.parts.values()))
        anchors = np.full(self.num_joints, -1, dtype=np.int64)
        for joint in range(first.stop, self.num_joints):
            ancestor = self.parents[joint]
            while ancestor >= first.stop:
                ancestor = self.parents[ancestor]
            if ancestor < first.start:
                raise ValueError(f"joint {self.names[joint]} of layout {self.name} has no ancestor in the first part")
            anchors[joint] = ancestor
        anchors.setflags(write=False)
        return anchors

    @property
    def topological_order(self) -> tuple[int, ...]:
        """Joints ordered so that every parent comes before its children (breadth-first from the root)."""
        children: dict[int, list[int]] = {}
        for p, c in self.bones:
            children.setdefault(p, []).append(c)
        order = [self.root]
        for joint in order:
            order.extend(children.get(joint, ()))
        return tuple(order)

    def fill_missing(self, points: np.ndarray, visible: np.ndarray) -> np.ndarray:
        """The convention for joints that were not detected: each lies on its nearest visible ancestor.

        ``points`` (..., J, C), ``visible`` (..., J) bool. A hand that is out of view collapses onto its wrist,
        which keeps the skeleton drawable and the lifter's input on the body. Where the chain of ancestors is
        invisible up to the root, the mean of the visible joints is used (the origin if none is visible).
        Never produces NaN for finite visible points.
        """
        points = np.asarray(points)
        visible = np.asarray(visible, dtype=bool)
        if points.shape[:-1] != visible.shape or points.shape[-2] != self.num_joints:
            raise ValueError(f"points {points.shape} and visibility {visible.shape} do not fit layout "
                             f"{self.name} ({self.num_joints} joints)")
        out = np.where(visible[..., None], points, 0.0).astype(points.dtype)
        count = visible.sum(axis=-1, keepdims=True)[..., None]
        centroid = out.sum(axis=-2, keepdims=True) / np.maximum(count, 1)
        root = self.root
        out[..., root, :] = np.where(visible[..., root, None], out[..., root, :], centroid[..., 0, :])
        for joint in self.topological_order[1:]:
            parent = self.parents[joint]
            out[..., joint, :] = np.where(visible[..., joint, None], out[..., joint, :], out[..., parent, :])
        return out

    def flip_points(self, points: np.ndarray, axis: int = 0) -> np.ndarray:
        """Mirror poses (..., J, C) along coordinate ``axis`` and relabel left <-> right."""
        out = np.array(points, copy=True)[..., list(self.flip), :]
        out[..., axis] = -out[..., axis]
        return out

    def bone_vectors(self, points: np.ndarray) -> np.ndarray:
        """Child minus parent for each bone: (..., J-1, C)."""
        parents, children = np.array(self.bones).T
        return points[..., children, :] - points[..., parents, :]

    def parent_distance(self, points: np.ndarray) -> np.ndarray:
        """Euclidean distance of each joint to its parent, 0 for the root: (..., J)."""
        parents = np.array(self.parents)
        parents[parents < 0] = self.root
        return np.linalg.norm(points - points[..., parents, :], axis=-1)


WHOLEBODY133 = Layout(
    name="wholebody133",
    names=COCO_BODY_NAMES + FOOT_NAMES + FACE_NAMES
    + tuple(f"left_hand_{n}" for n in HAND_POINT_NAMES) + tuple(f"right_hand_{n}" for n in HAND_POINT_NAMES),
    parents=_wholebody_parents(),
    parts={"body": slice(0, 23), "face": slice(23, 91), "hands": slice(91, 133)},
    flip=_wholebody_flip(),
    triangles={"left_arm": (5, 7, 9), "right_arm": (6, 8, 10), "left_leg": (11, 13, 15), "right_leg": (12, 14, 16)},
    # Shoulder and hip girdles, both toes, and the mouth corners' inner/outer points close the body's loops.
    extra_edges=((5, 6), (11, 12), (17, 18), (20, 21), (FACE_OFFSET + 48, FACE_OFFSET + 60),
                 (FACE_OFFSET + 54, FACE_OFFSET + 64)),
)

# The 32-joint motion-capture skeleton. Names follow the data in shared/data/mocap as verified against it
# (see pose3d_ros.data.h36m): 11/16/20/23/24/28/31 are zero-length sites.
H36M32 = Layout(
    name="h36m32",
    names=(
        "pelvis", "right_hip", "right_knee", "right_ankle", "right_toe", "right_toe_end",
        "left_hip", "left_knee", "left_ankle", "left_toe", "left_toe_end",
        "pelvis_site", "spine", "thorax", "neck_nose", "head", "left_thorax_site",
        "left_shoulder", "left_elbow", "left_wrist", "left_wrist_site", "left_thumb", "left_hand_end",
        "left_hand_end_site", "right_thorax_site",
        "right_shoulder", "right_elbow", "right_wrist", "right_wrist_site", "right_thumb", "right_hand_end",
        "right_hand_end_site",
    ),
    parents=(-1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 12, 16, 17, 18, 19, 20, 19, 22,
             12, 24, 25, 26, 27, 28, 27, 30),
    parts={"body": slice(0, 32)},
    flip=tuple([0] + list(range(6, 11)) + list(range(1, 6)) + list(range(11, 16))
               + list(range(24, 32)) + list(range(16, 24))),
    triangles={"left_arm": (17, 18, 19), "right_arm": (25, 26, 27), "left_leg": (6, 7, 8), "right_leg": (1, 2, 3)},
)

H36M17_FROM_H36M32 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)

H36M17 = Layout(
    name="h36m17",
    names=tuple(H36M32.names[i] for i in H36M17_FROM_H36M32),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    parts={"body": slice(0, 17)},
    flip=(0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13),
    triangles={"left_arm": (11, 12, 13), "right_arm": (14, 15, 16), "left_leg": (4, 5, 6), "right_leg": (1, 2, 3)},
    extra_edges=((11, 14), (1, 4)),
)

LAYOUTS = {layout.name: layout for layout in (WHOLEBODY133, H36M32, H36M17)}

WHOLEBODY_FACE_TWINS = {0: (FACE_OFFSET + 30,), 1: tuple(range(FACE_OFFSET + 42, FACE_OFFSET + 48)),
                        2: tuple(range(FACE_OFFSET + 36, FACE_OFFSET + 42))}
"""COCO-WholeBody body joints that are points of its face too: the nose is the face's nose tip (iBUG 30), each eye
the centre of its six eye landmarks (left 42-47, right 36-41)."""


def _twin_means() -> np.ndarray:
    """(3, 133): each row averages the face points of one twin (one matrix product instead of three means)."""
    means = np.zeros((len(WHOLEBODY_FACE_TWINS), WHOLEBODY133.num_joints))
    for row, twins in enumerate(WHOLEBODY_FACE_TWINS.values()):
        means[row, list(twins)] = 1.0 / len(twins)
    return means


_TWIN_MEANS = _twin_means()


def join_face_twins(points: np.ndarray, error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whole-body poses (P, 133, 3) and errors (P, 133) with the nose and eyes put on their face points
    (:data:`WHOLEBODY_FACE_TWINS`). A lifter predicts each twin apart and they drift (48 mm between nose and nose
    tip on S9); the face's are the better estimates (docs/lifting.md), even when only the body's were detected.
    """
    points, error = np.array(points, copy=True), np.array(error, copy=True)
    joints = list(WHOLEBODY_FACE_TWINS)
    points[:, joints] = np.einsum("tj,pjd->ptd", _TWIN_MEANS, points)
    error[:, joints] = error @ _TWIN_MEANS.T
    return points, error


# COCO-WholeBody body joint -> H36M-17 joint, for the joints that denote the same anatomical point.
# (COCO hips are surface landmarks a little above and outside H36M's hip-joint centres; the rest coincide.)
WHOLEBODY_FROM_H36M17 = {
    5: 11, 6: 14, 7: 12, 8: 15, 9: 13, 10: 16,
    11: 4, 12: 1, 13: 5, 14: 2, 15: 6, 16: 3,
}


def get_layout(name: str) -> Layout:
    """Look a layout up by name, with a clear error for unknown names."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"unknown skeleton layout {name!r}; known layouts: {', '.join(LAYOUTS)}") from None
