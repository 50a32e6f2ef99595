"""A 21-joint kinematic hand (COCO-WholeBody / MediaPipe order: wrist, then thumb, index, middle, ring and little
finger, four points each from the base outwards) with realistic bone lengths and fingers flexing within
anatomical limits.

Hand frame of a RIGHT hand (metres): origin at the wrist, x distal (towards the middle finger's knuckle),
y radial (towards the thumb), z dorsal (out of the back of the hand; z = x cross y). A left hand is the mirror
image: the same coordinates along its own distal, radial and dorsal axes, which form a left-handed frame.

Bone lengths (adult averages, before the person's size factor): wrist to knuckles 7-8 cm, proximal / middle /
distal phalanges 4.0 / 2.4 / 2.0 cm (index), 4.5 / 2.8 / 2.1 (middle), 4.2 / 2.7 / 2.0 (ring),
3.4 / 2.0 / 1.9 (little); thumb metacarpal / proximal / distal 4.4 / 3.2 / 2.7 cm from the carpometacarpal
joint 3.6 cm from the wrist.

Joint limits (degrees): knuckle (MCP) -5 to 85 flexion, PIP 0-100, DIP = 2/3 of PIP (the tendons couple them),
finger spread 0-1 adding up to 10 (index) / 14 (little) degrees of abduction; thumb MCP 0-50, IP -10 to 70,
thumb metacarpal swinging from the radially abducted rest position to opposition across the palm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .signals import SmoothSignals

CM = 0.01
FINGERS = ("thumb", "index", "middle", "ring", "little")

# Knuckles (MCP; for the thumb the carpometacarpal joint) in the right-hand frame, cm.
_BASES_CM = np.array([[2.8, 2.3, -1.0], [8.0, 2.2, 0.2], [8.2, 0.3, 0.4], [7.7, -1.5, 0.2], [6.9, -3.2, -0.2]])
_PHALANGES_CM = np.array([[4.4, 3.2, 2.7], [4.0, 2.4, 2.0], [4.5, 2.8, 2.1], [4.2, 2.7, 2.0], [3.4, 2.0, 1.9]])
_REST_SPLAY_DEG = np.array([0.0, 8.0, 0.0, -7.0, -15.0])  # direction in the palm plane, towards the thumb > 0
_SPREAD_DEG = np.array([0.0, 10.0, 0.0, -6.0, -14.0])
MCP_RANGE_DEG = (-5.0, 85.0)
PIP_MAX_DEG = 100.0
DIP_PER_PIP = 2.0 / 3.0
THUMB_MCP_MAX_DEG = 50.0
THUMB_IP_RANGE_DEG = (-10.0, 70.0)
_THUMB_REST = np.array([np.cos(np.radians(40.0)), np.sin(np.radians(40.0)), -0.35])
_THUMB_OPPOSED = np.array([0.55, -0.25, -0.8])
_THUMB_BEND_TOWARDS = np.array([0.2, -0.6, -0.8])  # the thumb curls towards the palm's ulnar side


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@dataclass(frozen=True)
class HandShape:
    """One person's hands: knuckle positions (5, 3) and phalanx lengths (5, 3), right-hand frame, metres."""

    bases: np.ndarray
    phalanges: np.ndarray

    @property
    def bone_lengths(self) -> np.ndarray:
        """(20,) distances wrist-base and base-to-tip along each finger, in the 21-joint order."""
        return np.concatenate([np.concatenate([[np.linalg.norm(base)], lengths])
                               for base, lengths in zip(self.bases, self.phalanges, strict=True)])


def sample_hand_shape(rng: np.random.Generator) -> HandShape:
    """Hand size varies with sd 6% (0.85-1.15), each finger's length with sd 3%."""
    size = np.clip(rng.normal(1.0, 0.06), 0.85, 1.15)
    finger = np.clip(rng.normal(1.0, 0.03, (5, 1)), 0.92, 1.08)
    return HandShape(_BASES_CM * CM * size, _PHALANGES_CM * CM * size * finger)


@dataclass(frozen=True)
class HandMotion:
    """Finger motion of one hand over time: channels closure, five finger offsets, spread, thumb opposition."""

    signals: SmoothSignals

    def articulation(self, times_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-finger flexion (T, 5) in [0, 1] (0 open, 1 fist), spread (T,) and thumb opposition (T,) in [0, 1]."""
        raw = self.signals(times_s)
        closure = np.clip(0.35 + 0.5 * raw[:, :1], 0.0, 1.0)
        flexion = np.clip(closure + 0.25 * raw[:, 1:6], 0.0, 1.0)
        spread = np.clip(0.3 + 0.6 * raw[:, 6], 0.0, 1.0)
        opposition = np.clip(0.3 + 0.6 * raw[:, 7], 0.0, 1.0)
        return flexion, spread, opposition


def sample_hand_motion(rng: np.random.Generator) -> HandMotion:
    return HandMotion(SmoothSignals.sample(rng, channels=8, low_hz=0.08, high_hz=1.0))


def pose_hand(shape: HandShape, flexion: np.ndarray, spread: np.ndarray, opposition: np.ndarray) -> np.ndarray:
    """The 21 points (T, 21, 3) of a right hand in its hand frame for the articulation values."""
    T = len(flexion)
    points = np.zeros((T, 21, 3))
    volar = np.array([0.0, 0.0, -1.0])

    # Fingers: each bends in the plane through its splay direction and the palm's normal.
    splay = np.radians(_REST_SPLAY_DEG[1:] + _SPREAD_DEG[1:] * spread[:, None])  # (T, 4)
    in_plane = np.stack([np.cos(splay), np.sin(splay), np.zeros_like(splay)], axis=-1)  # (T, 4, 3)
    mcp = np.radians(MCP_RANGE_DEG[0] + (MCP_RANGE_DEG[1] - MCP_RANGE_DEG[0]) * flexion[:, 1:])
    pip = np.radians(PIP_MAX_DEG * flexion[:, 1:])
    cumulative = np.stack([mcp, mcp + pip, mcp + pip * (1.0 + DIP_PER_PIP)], axis=-1)  # (T, 4, 3)
    directions = (np.cos(cumulative)[..., None] * in_plane[:, :, None]
                  + np.sin(cumulative)[..., None] * volar)  # (T, 4, 3 phalanges, 3)
    chain = shape.bases[1:, None] + np.cumsum(directions * shape.phalanges[1:, :, None], axis=2)
    for finger in range(1, 5):
        points[:, 1 + 4 * finger] = shape.bases[finger]
        points[:, 2 + 4 * finger: 5 + 4 * finger] = chain[:, finger - 1]

    # Thumb: the metacarpal swings from rest to opposition, the phalanges curl towards the palm.
    metacarpal = _unit((1.0 - opposition[:, None]) * _unit(_THUMB_REST) + opposition[:, None] * _unit(_THUMB_OPPOSED))
    bend = _unit(_THUMB_BEND_TOWARDS - np.sum(_THUMB_BEND_TOWARDS * metacarpal, -1, keepdims=True) * metacarpal)
    thumb_mcp = np.radians(THUMB_MCP_MAX_DEG * flexion[:, 0])
    thumb_ip = np.radians(THUMB_IP_RANGE_DEG[0] + (THUMB_IP_RANGE_DEG[1] - THUMB_IP_RANGE_DEG[0]) * flexion[:, 0])
    angles = np.stack([np.zeros(T), thumb_mcp, thumb_mcp + thumb_ip], axis=-1)  # (T, 3)
    thumb_dirs = np.cos(angles)[..., None] * metacarpal[:, None] + np.sin(angles)[..., None] * bend[:, None]
    points[:, 1] = shape.bases[0]
    points[:, 2:5] = shape.bases[0] + np.cumsum(thumb_dirs * shape.phalanges[0, :, None], axis=1)
    return points
