"""COCO-WholeBody 133 joints synthesised from the 32-joint Human3.6M body (world frame, z up, sides fixed).

Constructions (joint numbers: wholebody133 <- h36m32):

* Shoulders, elbows, wrists, knees, ankles (5-10, 13-16): the H36M joints themselves (17-19, 25-27, 7/8, 2/3).
* Hips (11, 12): COCO hips are marked on the body's surface at the top of the thigh, higher than the H36M hip
  joint centres (6, 1); the H36M centres are already 27 cm apart (wider than anatomical hip joints, about where
  annotators mark COCO hips), so the COCO hips are the H36M hips raised by :data:`HIP_RAISE_M` along the pelvis'
  up axis, not widened. Bones across the hips (shoulder-hip, hip-knee) therefore change length slightly with hip
  flexion, as they do in real annotations.
* Head: H36M gives three points on the neck and head -- 13 (base of the neck), 14 (upper neck/jaw, 'neck/nose'),
  15 (head). The head's orientation is taken from the 14->15 axis (rigid: 11.5 cm), with the sideways axis
  normal to the plane of 13, 14, 15 (the shoulder line where that plane degenerates); in a neutral posture the
  14->15 axis leans :data:`HEAD_AXIS_TILT_DEG` backwards from the head's up direction (median over the data's
  walking frames). The face model's origin (the midpoint between the ears) lies :data:`FACE_ORIGIN_FROM_HEAD_M`
  from joint 15 in that head frame: the ear canals on the plumb line through the shoulders, at the height
  anthropometry gives for this skeleton.
* Face 23-90: the 68-point model of :mod:`.face` (per-person shape, time-varying expression), rigidly attached to
  the head. Nose (0) = the face's nose tip (iBUG 30); eyes (1, 2) = the centres of the eye landmarks; ears (3, 4)
  = the model's ear points.
* Feet 17-22: a foot frame from ankle -> toe (H36M 'toe' = ball of the foot) and the knee-ankle-toe plane; big
  toe and small toe tips are offsets from H36M's toe end (the foot's tip at the second toe), the heel an offset
  from the ankle (back and down).
* Hands 91-132: the 21-joint kinematic hand of :mod:`.hand`, its wrist on the body's wrist, oriented by H36M's
  hand segment (wrist -> hand end gives the distal axis, wrist -> thumb the radial one; they are rigid and at
  right angles in the data), with the wrist's bend limited to :data:`MAX_WRIST_BEND_DEG` from the forearm
  (the mocap's hand segments sometimes bend further than a wrist can).

Every lateral direction comes from a cross product or a right-minus-left difference, so the construction commutes
with mirroring: ``synthesize_wholebody(mirror(body), identity.mirrored()) == flip(synthesize_wholebody(body,
identity))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import FACE_OFFSET, H36M32, LEFT_HAND_OFFSET, RIGHT_HAND_OFFSET, WHOLEBODY_FACE_TWINS
from .face import FaceMotion, FaceShape, pose_face, sample_face_motion, sample_face_shape
from .hand import HandMotion, HandShape, pose_hand, sample_hand_motion, sample_hand_shape

HIP_RAISE_M = 0.03
HEAD_AXIS_TILT_DEG = 27.0
FACE_ORIGIN_FROM_HEAD_M = np.array([0.0, 0.02, -0.02])  # (right, up, forward) in the head frame
MAX_WRIST_BEND_DEG = 80.0
# Foot offsets in the foot frame (forward, up, outward), metres.
BIG_TOE_FROM_TOE_END_M = np.array([-0.005, 0.0, -0.015])
SMALL_TOE_FROM_TOE_END_M = np.array([-0.035, 0.0, 0.035])
HEEL_FROM_ANKLE_M = np.array([-0.06, -0.03, 0.0])

# H36M-32 joints.
PELVIS, R_HIP, R_KNEE, R_ANKLE, R_TOE, R_TOE_END = 0, 1, 2, 3, 4, 5
L_HIP, L_KNEE, L_ANKLE, L_TOE, L_TOE_END = 6, 7, 8, 9, 10
THORAX, NECK_NOSE, HEAD = 13, 14, 15
L_SHOULDER, L_ELBOW, L_WRIST, L_THUMB, L_HAND_END = 17, 18, 19, 21, 22
R_SHOULDER, R_ELBOW, R_WRIST, R_THUMB, R_HAND_END = 25, 26, 27, 29, 30


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _reject(v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """The part of v orthogonal to the unit vector ``axis``."""
    return v - np.sum(v * axis, axis=-1, keepdims=True) * axis


def coco_hips(left_hip: np.ndarray, right_hip: np.ndarray, pelvis: np.ndarray, thorax: np.ndarray) -> np.ndarray:
    """COCO's left and right hips (..., 2, 3) from H36M's hip centres, pelvis and thorax (..., 3): the hip centres
    raised by :data:`HIP_RAISE_M` along the pelvis' up axis (the thorax's direction square to the hip line).
    """
    hip_line = _unit(right_hip - left_hip)
    pelvis_up = _unit(_reject(thorax - pelvis, hip_line))
    return np.stack([left_hip, right_hip], axis=-2) + HIP_RAISE_M * pelvis_up[..., None, :]


@dataclass(frozen=True)
class Identity:
    """A synthetic person: face and hand shapes and how they move over time."""

    face: FaceShape
    face_motion: FaceMotion
    hands: HandShape
    left_hand_motion: HandMotion
    right_hand_motion: HandMotion

    def mirrored(self) -> Identity:
        """The mirror-image person: mirrored face, the two hands' motions exchanged."""
        return Identity(self.face.mirrored(), self.face_motion.mirrored(), self.hands,
                        self.right_hand_motion, self.left_hand_motion)


def sample_identity(rng: np.random.Generator) -> Identity:
    return Identity(sample_face_shape(rng), sample_face_motion(rng), sample_hand_shape(rng),
                    sample_hand_motion(rng), sample_hand_motion(rng))


def mirror_h36m32(poses32: np.ndarray) -> np.ndarray:
    """The mirror image of 32-joint poses (negated x, left and right joints exchanged)."""
    return H36M32.flip_points(poses32, axis=0)


def head_frame(poses32: np.ndarray) -> np.ndarray:
    """Head axes (T, 3, 3): rows right, up, forward (world)."""
    axis = _unit(poses32[:, HEAD] - poses32[:, NECK_NOSE])
    normal = np.cross(poses32[:, NECK_NOSE] - poses32[:, THORAX], poses32[:, HEAD] - poses32[:, NECK_NOSE])
    normal /= (np.linalg.norm(poses32[:, NECK_NOSE] - poses32[:, THORAX], axis=-1, keepdims=True)
               * np.linalg.norm(poses32[:, HEAD] - poses32[:, NECK_NOSE], axis=-1, keepdims=True))
    shoulders = _unit(poses32[:, R_SHOULDER] - poses32[:, L_SHOULDER])
    right = _unit(_reject(normal + 0.05 * shoulders, axis))  # the shoulders decide only where the plane degenerates
    front = np.cross(axis, right)  # up x right = forward
    tilt = np.radians(HEAD_AXIS_TILT_DEG)
    up = np.cos(tilt) * axis + np.sin(tilt) * front
    forward = np.cos(tilt) * front - np.sin(tilt) * axis
    return np.stack([right, up, forward], axis=1)


def _foot_points(poses32: np.ndarray, ankle: int, knee: int, toe: int, toe_end: int, outward_sign: float,
                 ) -> np.ndarray:
    """Big toe, small toe, heel (T, 3, 3) of one foot; ``outward_sign`` is +1 for the left foot, -1 for the right."""
    forward = _unit(poses32[:, toe] - poses32[:, ankle])
    to_left = _unit(np.cross(poses32[:, knee] - poses32[:, ankle], forward))  # the person's left, for either foot
    up = np.cross(forward, to_left)
    basis = np.stack([forward, up, outward_sign * to_left], axis=1)  # (T, 3, 3) rows forward, up, outward
    big = poses32[:, toe_end] + BIG_TOE_FROM_TOE_END_M @ basis
    small = poses32[:, toe_end] + SMALL_TOE_FROM_TOE_END_M @ basis
    heel = poses32[:, ankle] + HEEL_FROM_ANKLE_M @ basis
    return np.stack([big, small, heel], axis=1)


def _hand_basis(poses32: np.ndarray, elbow: int, wrist: int, thumb: int, hand_end: int, right_hand: bool,
                ) -> np.ndarray:
    """Hand axes (T, 3, 3): rows distal, radial, dorsal. A right hand's axes form a right-handed frame, a left
    hand's (its mirror image) a left-handed one.
    """
    forearm = _unit(poses32[:, wrist] - poses32[:, elbow])
    distal = _unit(poses32[:, hand_end] - poses32[:, wrist])
    cos_bend = np.sum(distal * forearm, axis=-1, keepdims=True)
    limit = np.cos(np.radians(MAX_WRIST_BEND_DEG))
    sideways = _unit(_reject(distal, forearm))
    limited = limit * forearm + np.sin(np.radians(MAX_WRIST_BEND_DEG)) * sideways
    distal = np.where(cos_bend < limit, limited, distal)
    radial = _unit(_reject(poses32[:, thumb] - poses32[:, wrist], distal))
    dorsal = np.cross(distal, radial) * (1.0 if right_hand else -1.0)
    return np.stack([distal, radial, dorsal], axis=1)


def synthesize_wholebody(poses32: np.ndarray, times_s: np.ndarray, identity: Identity) -> np.ndarray:
    """133 whole-body joints (T, 133, 3) float32 from 32-joint poses (T, 32, 3) (world, z up, sides fixed) at
    ``times_s`` (T,) seconds, which drive the identity's expression and finger motion.
    """
    poses32 = np.asarray(poses32, dtype=np.float64)
    times_s = np.asarray(times_s, dtype=np.float64)
    if poses32.ndim != 3 or poses32.shape[1:] != (32, 3) or times_s.shape != poses32.shape[:1]:
        raise ValueError(f"expected poses (T, 32, 3) and times (T,), got {poses32.shape} and {times_s.shape}")
    T = len(poses32)
    out = np.empty((T, 133, 3))
    body = {5: L_SHOULDER, 6: R_SHOULDER, 7: L_ELBOW, 8: R_ELBOW, 9: L_WRIST, 10: R_WRIST,
            13: L_KNEE, 14: R_KNEE, 15: L_ANKLE, 16: R_ANKLE}
    for coco, h36m in body.items():
        out[:, coco] = poses32[:, h36m]

    out[:, 11:13] = coco_hips(poses32[:, L_HIP], poses32[:, R_HIP], poses32[:, PELVIS], poses32[:, THORAX])

    out[:, 17:20] = _foot_points(poses32, L_ANKLE, L_KNEE, L_TOE, L_TOE_END, outward_sign=1.0)
    out[:, 20:23] = _foot_points(poses32, R_ANKLE, R_KNEE, R_TOE, R_TOE_END, outward_sign=-1.0)

    head = head_frame(poses32)  # rows right, up, forward
    origin = poses32[:, HEAD] + FACE_ORIGIN_FROM_HEAD_M @ head
    face_model = pose_face(identity.face, identity.face_motion.expression(times_s))  # (T, 68, 3)
    out[:, FACE_OFFSET:FACE_OFFSET + 68] = origin[:, None] + face_model @ head
    ears = origin[:, None] + identity.face.ears @ head  # [left, right]
    out[:, 3], out[:, 4] = ears[:, 0], ears[:, 1]
    for joint, twins in WHOLEBODY_FACE_TWINS.items():  # the nose and eyes are face points
        out[:, joint] = out[:, list(twins)].mean(axis=1)

    for offset, joints, motion, right_hand in (
            (LEFT_HAND_OFFSET, (L_ELBOW, L_WRIST, L_THUMB, L_HAND_END), identity.left_hand_motion, False),
            (RIGHT_HAND_OFFSET, (R_ELBOW, R_WRIST, R_THUMB, R_HAND_END), identity.right_hand_motion, True)):
        local = pose_hand(identity.hands, *motion.articulation(times_s))  # (T, 21, 3) right-hand frame
        basis = _hand_basis(poses32, *joints, right_hand=right_hand)
        out[:, offset:offset + 21] = poses32[:, joints[1], None] + local @ basis
    return out.astype(np.float32)
