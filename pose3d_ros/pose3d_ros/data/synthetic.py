"""A small procedural 32-joint walker, for tests and demos that must run without the Human3.6M motion file.

It swings the legs and arms of a hand-built rest pose (same joint layout, sides and frame as the mirror-fixed
Human3.6M data: world z up, metres), nods and turns the head, twists the wrists, and walks forward while turning
slowly. Every movement is a rotation of a subtree about its joint, so bone lengths stay exactly constant.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..skeleton import H36M32
from .h36m import SOURCE_FPS


def _rest_pose() -> np.ndarray:
    """Standing, facing +y, the person's right towards +x."""
    right = {
        1: (0.13, 0.0, 0.95), 2: (0.12, 0.0, 0.51), 3: (0.11, -0.02, 0.07), 4: (0.11, 0.14, 0.02),
        5: (0.11, 0.215, 0.02),
        25: (0.15, -0.01, 1.36), 26: (0.17, -0.02, 1.08), 27: (0.18, 0.0, 0.83),
        29: (0.18, 0.10, 0.83), 30: (0.19, 0.0, 0.73),
    }
    pose = np.zeros((32, 3))
    pose[0] = pose[11] = (0.0, 0.0, 0.95)
    pose[12], pose[13] = (0.0, -0.02, 1.18), (0.0, -0.03, 1.43)
    pose[14], pose[15] = (0.0, 0.04, 1.525), (0.0, -0.015, 1.625)
    for joint, xyz in right.items():
        pose[joint] = xyz
        pose[H36M32.flip[joint]] = (-xyz[0], xyz[1], xyz[2])
    pose[16] = pose[24] = pose[13]  # zero-length sites
    pose[20], pose[28] = pose[19], pose[27]
    pose[23], pose[31] = pose[22], pose[30]
    return pose


def _subtree(joint: int) -> list[int]:
    members = [joint]
    for child, parent in enumerate(H36M32.parents):
        if parent >= 0 and parent in members and child not in members:
            members.append(child)
    return members


def _rotate(points: np.ndarray, centre: np.ndarray, axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues rotation of points (T, K, 3) about per-frame axes (T, 3) through centres (T, 3)."""
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    rel = points - centre[:, None]
    k, c, s = axis[:, None], np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    return (centre[:, None] + rel * c + np.cross(k, rel) * s + k * np.sum(k * rel, axis=-1, keepdims=True) * (1 - c))


def synthetic_walk(num_frames: int, fps: float = SOURCE_FPS, seed: int = 0) -> np.ndarray:
    """A walking, turning, gesturing person: (num_frames, 32, 3) float32, world z up, metres."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames) / fps
    poses = np.repeat(_rest_pose()[None], num_frames, axis=0)
    lateral = np.broadcast_to([1.0, 0.0, 0.0], (num_frames, 3))
    step = 2.0 * np.pi * rng.uniform(0.8, 1.0) * t
    phase = rng.uniform(0.0, 2.0 * np.pi)

    def move(joint: int, axis: np.ndarray, angle: np.ndarray) -> None:
        members = _subtree(joint)
        centre = poses[:, H36M32.parents[joint]] if H36M32.parents[joint] >= 0 else poses[:, joint]
        poses[:, members] = _rotate(poses[:, members], centre, axis, angle)

    # A positive rotation about the lateral axis (+x before turning) swings a hanging limb forwards.
    for knee, ankle, sign in ((2, 3, 1.0), (7, 8, -1.0)):
        move(knee, lateral, 0.45 * sign * np.sin(step + phase))  # hip flexion
        move(ankle, lateral, -0.6 * np.maximum(0.0, np.sin(step + phase + sign * np.pi / 2)))  # knee flexion
    for elbow, sign in ((26, 1.0), (18, -1.0)):
        move(elbow, lateral, -0.35 * sign * np.sin(step + phase))  # arms swing against the legs
        move(elbow + 1, lateral, 0.5 + 0.4 * np.sin(0.7 * step))  # elbow flexion
        forearm = poses[:, elbow + 1] - poses[:, elbow]
        move(elbow + 2, forearm, 0.8 * np.sin(0.5 * step + sign))  # wrist twist
    move(14, lateral, -0.25 * np.sin(0.4 * step))  # nodding
    move(14, poses[:, 14] - poses[:, 13], 0.5 * np.sin(0.3 * step))  # turning the head

    yaw = 0.3 * t + rng.uniform(0.0, 2.0 * np.pi)
    cos, sin = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    x, y = poses[..., 0].copy(), poses[..., 1].copy()
    poses[..., 0], poses[..., 1] = cos * x - sin * y, sin * x + cos * y
    heading = np.stack([-np.sin(yaw), np.cos(yaw)], axis=-1)  # the body's forward direction, rotated with it
    walked = np.cumsum(heading, axis=0) * (1.0 / fps)
    poses[..., :2] += walked[:, None]
    return poses.astype(np.float32)


def write_motion_file(path: str | Path, sequences: dict[str, np.ndarray], *, mirror: bool = True) -> None:
    """Save sequences ``"S1/walking_1" -> (T, 32, 3)`` in the Human3.6M motion file format; ``mirror`` writes them
    with x negated, as the real file is (so :func:`pose3d_ros.data.load_h36m` restores them exactly).
    """
    flip = np.array([-1.0, 1.0, 1.0], dtype=np.float32) if mirror else np.ones(3, dtype=np.float32)
    np.savez(path, **{key: (np.asarray(poses, dtype=np.float32) * flip) for key, poses in sequences.items()})
