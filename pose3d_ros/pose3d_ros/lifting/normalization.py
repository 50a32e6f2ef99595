"""The lifter's input normalisation: the same for training, evaluation and inference.

From pixels to per-joint features, for each person:

1. Normalised camera coordinates: ``(x, y, 1) = K^-1 (u, v, 1)``, i.e. ``((u - cx) / fx, (v - cy) / fy)`` for a
   camera without skew. This removes the image size, principal point and focal length.
2. Centred on the root: the 2D root centre (pelvis = midpoint of joints 11 and 12 for wholebody133, joint 0 for
   h36m17) is subtracted, which removes where the person stands in the image.
3. Scaled by the person's 2D size: divided by the root-mean-square distance of the visible (conf > 0) joints of the
   layout's ``body`` part from the root centre, which removes the distance to the camera. Body joints only, so
   that the 68 face and 42 hand points do not dominate the scale; all joints when no body joint is visible.
4. Channels per joint: the two normalised coordinates; then (``distance``) the joint's normalised 2D distance to
   its parent in the layout's kinematic tree (0 for the tree's root), the seed's X = (J, D); then (``confidence``)
   the 2D detector's confidence in [0, 1]; then (``part_offsets``) for face and hand joints their 2D offset from
   the body joint their part hangs from (``Layout.part_anchors``: nose, wrists) times ``PART_OFFSET_GAIN``, zero
   for body joints; then (``gravity``) on every joint the world's up direction in the (virtual) camera's frame and a
   known flag, ``(ux, uy, uz, 1)``, or zeros when the camera's attitude is unknown (:func:`gravity_input`).

The output of every lifter, centred on its own root (:func:`centre_on_root`), is the root-relative 3D pose in
metres in the camera's optical frame (x right, y down, z forward): the network has to know human size to recover
metric scale from scale-free input, and the absolute position is recovered afterwards from the 2D keypoints
(:mod:`pose3d_ros.lifting.placement`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..skeleton import Layout
from .config import InputConfig

ROOT_JOINTS = {"wholebody133": (11, 12), "h36m17": (0,)}
"""Joints whose mean is the root centre of each layout (the pelvis)."""
PART_OFFSET_GAIN = 10.0
"""Scale of the part-offset input channels: a face or a hand spans about a tenth of the body in the normalised
coordinates, so its offsets come out at the body coordinates' scale."""


def root_centre(points: torch.Tensor | np.ndarray, layout: Layout):
    """The pelvis of poses (..., J, C): the mean of the layout's root joints, shape (..., C)."""
    if layout.name not in ROOT_JOINTS:
        raise ValueError(f"no root centre defined for layout {layout.name!r}")
    return points[..., list(ROOT_JOINTS[layout.name]), :].mean(-2)


def centre_on_root(poses: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Poses (B, J, C) moved so that their own root centre is at the origin.

    Applied to every network output, in training (the loss sees it) and at inference: the published root-relative
    pose then has its pelvis exactly at the origin, and training optimises what the pelvis-aligned metrics measure
    (an error in the predicted hips moves the whole aligned pose).
    """
    return poses - root_centre(poses, layout)[:, None]


def camera_coordinates(kp2d: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Pixels (B, J, 2) and intrinsics (B, 3, 3) or (3, 3) -> normalised camera coordinates (B, J, 2)."""
    K = K if K.ndim == 3 else K[None]
    fx, skew, cx = K[:, 0, 0, None], K[:, 0, 1, None], K[:, 0, 2, None]
    fy, cy = K[:, 1, 1, None], K[:, 1, 2, None]
    y = (kp2d[..., 1] - cy) / fy  # the closed form of pose3d_ros.camera.normalised_coordinates
    return torch.stack([(kp2d[..., 0] - cx - skew * y) / fx, y], dim=-1)


def normalise_keypoints(kp2d: torch.Tensor, conf: torch.Tensor, K: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Steps 1-3: pixels (B, J, 2) -> root-centred, size-normalised camera coordinates (B, J, 2)."""
    coords = camera_coordinates(kp2d, K)
    coords = coords - root_centre(coords, layout)[:, None]
    body = layout.parts.get("body", slice(0, layout.num_joints))
    squared = coords[:, body].square().sum(-1)
    visible = (conf[:, body] > 0).to(coords.dtype)
    count = visible.sum(-1)
    mean_square = torch.where(count > 0, (squared * visible).sum(-1) / count.clamp_min(1.0),
                              coords.square().sum(-1).mean(-1))
    return coords / mean_square.sqrt().clamp_min(1e-6)[:, None, None]


def gravity_input(up: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """The gravity channels (B, 4): up directions (B, 3) where ``known`` (B,) bool, with the known flag; zeros
    where the attitude is unknown (the up direction never is zero, so the flag only makes "unknown" explicit).
    """
    known = known.to(up.dtype)[:, None]
    return torch.cat([up * known, known], dim=-1)


def joint_features(coords: torch.Tensor, conf: torch.Tensor, layout: Layout, inputs: InputConfig,
                   gravity: torch.Tensor | None = None) -> torch.Tensor:
    """Step 4: normalised coordinates (B, J, 2), confidence (B, J) and, for a lifter with the gravity input, its
    channels (B, 4) (:func:`gravity_input`) -> network input (B, J, C).
    """
    channels = [coords]
    if inputs.distance:
        parents = [layout.root if p < 0 else p for p in layout.parents]
        channels.append((coords - coords[:, parents]).norm(dim=-1, keepdim=True))
    if inputs.confidence:
        channels.append(conf[..., None].to(coords.dtype))
    if inputs.part_offsets:
        anchors = layout.part_anchors
        anchors = np.where(anchors >= 0, anchors, np.arange(layout.num_joints)).tolist()
        channels.append(PART_OFFSET_GAIN * (coords - coords[:, anchors]))
    if inputs.gravity:
        if gravity is None:
            raise ValueError("this lifter takes the gravity input: give its channels (zeros when unknown)")
        channels.append(gravity[:, None].expand(-1, coords.shape[1], -1).to(coords.dtype))
    return torch.cat(channels, dim=-1)


def flip_gravity(gravity: torch.Tensor) -> torch.Tensor:
    """Mirror the gravity channels (B, 4) with the pose: the up direction's x negated."""
    return gravity * gravity.new_tensor([-1.0, 1.0, 1.0, 1.0])


def flip_coordinates(coords: torch.Tensor, conf: torch.Tensor, layout: Layout) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror normalised 2D poses (B, J, 2) left-right (negate x, swap left and right joints)."""
    flip = list(layout.flip)
    coords = coords[:, flip] * coords.new_tensor([-1.0, 1.0])
    return coords, conf[:, flip]


def flip_poses(poses: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Mirror 3D poses (B, J, 3) in the camera frame (negate x, swap left and right joints)."""
    return poses[:, list(layout.flip)] * poses.new_tensor([-1.0, 1.0, 1.0])
