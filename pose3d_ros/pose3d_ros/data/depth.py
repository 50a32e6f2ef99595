"""Synthetic depth images of people, for testing and measuring depth placement (issue #17) without a depth camera.

Each person is a body surface: an elliptic cylinder for the torso (about the spine, 0.34 m broad and 0.22 m deep:
adult chest and pelvis breadths and depths), capsules around the limbs, the shoulders and the neck, a sphere for
the head, sizes times the person's size, rendered exactly (ray-cylinder and ray-sphere intersections; a capsule is
a row of spheres half a radius apart) into a z-buffer: the z of the nearest surface per pixel, as a depth camera
registered to the colour image gives it. :func:`degrade_depth` then adds what real sensors do: no reading at depth
edges, depth-proportional noise (a stereo camera's error grows with distance; 1-2 % is a RealSense D435 at 2-5 m),
dropout patches and scattered lost pixels; :func:`add_occluder` puts a box in front of part of the person.
"""

from __future__ import annotations

import numpy as np

from ..skeleton import Layout

# (from, to, radius m). "mid_hip", "mid_shoulder" and "head_centre" are made from the layout's joints.
TORSO_HALF_WIDTH_M, TORSO_HALF_DEPTH_M = 0.17, 0.11
TORSO_OVERHANG_M = 0.04
"""How far the torso's cylinder reaches below the mid-hip and above the mid-shoulder point."""
BODY_CAPSULES = (
    ("left_shoulder", "right_shoulder", 0.06),
    ("mid_shoulder", "head_centre", 0.05),
    ("head_centre", "head_centre", 0.10),
    ("left_shoulder", "left_elbow", 0.045), ("right_shoulder", "right_elbow", 0.045),
    ("left_elbow", "left_wrist", 0.035), ("right_elbow", "right_wrist", 0.035),
    ("left_hip", "left_knee", 0.07), ("right_hip", "right_knee", 0.07),
    ("left_knee", "left_ankle", 0.05), ("right_knee", "right_ankle", 0.05),
)
HEAD_JOINTS = {"wholebody133": ("left_ear", "right_ear"), "h36m17": ("neck_nose", "head")}
"""Joints whose midpoint is the head's centre: between the ears, or between H36M's upper neck and head top."""


def body_points(poses: np.ndarray, layout: Layout) -> dict[str, np.ndarray]:
    """The named points (P, 3) the capsules join, from poses (P, J, 3)."""
    if layout.name not in HEAD_JOINTS:
        raise ValueError(f"no body surface defined for layout {layout.name!r}")
    index = {name: j for j, name in enumerate(layout.names)}
    wanted = {name for capsule in BODY_CAPSULES for name in capsule[:2]} | set(HEAD_JOINTS[layout.name])
    named = {name: poses[:, index[name]] for name in wanted if name in index}
    named["mid_hip"] = 0.5 * (named["left_hip"] + named["right_hip"])
    named["mid_shoulder"] = 0.5 * (named["left_shoulder"] + named["right_shoulder"])
    first, second = HEAD_JOINTS[layout.name]
    named["head_centre"] = 0.5 * (named[first] + named[second])
    return named


def render_depth(poses: np.ndarray, layout: Layout, K: np.ndarray, image_size: tuple[int, int],
                 sizes: np.ndarray | None = None) -> np.ndarray:
    """Depth image (H, W) float32 metres of people whose joints ``poses`` (P, J, 3) are in the camera frame, 0 where
    no body is; ``sizes`` (P,) scales each person's radii (1: an adult of the motion data's size).
    """
    width, height = (int(v) for v in image_size)
    K = np.asarray(K, dtype=np.float64)
    poses = np.asarray(poses, dtype=np.float64)
    sizes = np.ones(len(poses)) if sizes is None else np.asarray(sizes, dtype=np.float64)
    zbuffer = np.full((height, width), np.inf)
    named = body_points(poses, layout)
    for p in range(len(poses)):
        _draw_torso(zbuffer, {name: point[p] for name, point in named.items()}, sizes[p], K)
        for start, end, radius in BODY_CAPSULES:
            _draw_capsule(zbuffer, named[start][p], named[end][p], radius * sizes[p], K)
    return np.where(np.isfinite(zbuffer), zbuffer, 0.0).astype(np.float32)


def _draw_torso(zbuffer: np.ndarray, named: dict[str, np.ndarray], size: float, K: np.ndarray) -> None:
    """Keep the nearer of the z-buffer and the torso's elliptic cylinder (open ends) at every pixel."""
    bottom, top = named["mid_hip"], named["mid_shoulder"]
    length = np.linalg.norm(top - bottom)
    axis = (top - bottom) / max(length, 1e-9)
    lateral = named["left_shoulder"] - named["right_shoulder"] + named["left_hip"] - named["right_hip"]
    lateral -= (lateral @ axis) * axis
    lateral /= max(np.linalg.norm(lateral), 1e-9)
    forward = np.cross(axis, lateral)
    a, b, overhang = TORSO_HALF_WIDTH_M * size, TORSO_HALF_DEPTH_M * size, TORSO_OVERHANG_M * size
    corners = np.array([bottom - overhang * axis, top + overhang * axis])[:, None] + np.array(
        [s * a * lateral + t * b * forward for s in (-1, 1) for t in (-1, 1)])[None]
    corners = corners.reshape(-1, 3)
    if np.any(corners[:, 2] <= 0.05):
        return
    u = K[0, 0] * corners[:, 0] / corners[:, 2] + K[0, 2]
    v = K[1, 1] * corners[:, 1] / corners[:, 2] + K[1, 2]
    height, width = zbuffer.shape
    left, right = max(0, int(u.min())), min(width, int(np.ceil(u.max())) + 1)
    top_row, bottom_row = max(0, int(v.min())), min(height, int(np.ceil(v.max())) + 1)
    if left >= right or top_row >= bottom_row:
        return
    columns, rows = np.meshgrid(np.arange(left, right) + 0.5, np.arange(top_row, bottom_row) + 0.5)
    rays = np.stack([(columns - K[0, 2]) / K[0, 0], (rows - K[1, 2]) / K[1, 1], np.ones_like(columns)], axis=-1)
    # camera centre c = -bottom in the torso's frame; point c + t ray: ((c_l + t r_l) / a)^2 + ((c_f + t r_f) / b)^2 = 1
    c_lat, c_fwd = -bottom @ lateral, -bottom @ forward
    r_lat, r_fwd = rays @ lateral, rays @ forward
    qa = (r_lat / a) ** 2 + (r_fwd / b) ** 2
    qb = 2.0 * (c_lat * r_lat / a ** 2 + c_fwd * r_fwd / b ** 2)
    qc = (c_lat / a) ** 2 + (c_fwd / b) ** 2 - 1.0
    discriminant = qb * qb - 4.0 * qa * qc
    t = (-qb - np.sqrt(np.maximum(discriminant, 0.0))) / np.maximum(2.0 * qa, 1e-12)
    along_axis = -bottom @ axis + t * (rays @ axis)
    hit = (discriminant >= 0) & (t > 0) & (along_axis >= -overhang) & (along_axis <= length + overhang)
    z = np.where(hit, t, np.inf)  # rays have z = 1: t is the depth
    window = zbuffer[top_row:bottom_row, left:right]
    np.minimum(window, z, out=window)


def _draw_capsule(zbuffer: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float, K: np.ndarray) -> None:
    """Keep the nearer of the z-buffer and the capsule a-b (a row of spheres) at every pixel it covers."""
    count = max(2, int(np.ceil(np.linalg.norm(b - a) / (0.5 * radius))) + 1)
    centres = a + np.linspace(0.0, 1.0, count)[:, None] * (b - a)
    if np.any(centres[:, 2] <= radius):
        return  # at or behind the camera: not drawn
    focal = max(K[0, 0], K[1, 1])
    u = K[0, 0] * centres[:, 0] / centres[:, 2] + K[0, 2]
    v = K[1, 1] * centres[:, 1] / centres[:, 2] + K[1, 2]
    reach = 1.5 * radius * focal / centres[:, 2] + 1
    height, width = zbuffer.shape
    left, right = max(0, int((u - reach).min())), min(width, int(np.ceil((u + reach).max())) + 1)
    top, bottom = max(0, int((v - reach).min())), min(height, int(np.ceil((v + reach).max())) + 1)
    if left >= right or top >= bottom:
        return
    columns, rows = np.meshgrid(np.arange(left, right) + 0.5, np.arange(top, bottom) + 0.5)
    rays = np.stack([(columns - K[0, 2]) / K[0, 0], (rows - K[1, 2]) / K[1, 1], np.ones_like(columns)], axis=-1)
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    along = np.einsum("hwc,sc->hws", rays, centres)  # (h, w, spheres)
    discriminant = along ** 2 - (centres ** 2).sum(-1) + radius ** 2
    distance = np.where(discriminant >= 0, along - np.sqrt(np.maximum(discriminant, 0.0)), np.inf).min(-1)
    z = distance * rays[..., 2]
    window = zbuffer[top:bottom, left:right]
    np.minimum(window, z, out=window)


def add_background(depth: np.ndarray, distance_m: float) -> np.ndarray:
    """The image with a wall at ``distance_m`` wherever no body is (a plane facing the camera)."""
    return np.where(depth > 0, depth, np.float32(distance_m)).astype(np.float32)


def add_occluder(depth: np.ndarray, box: tuple[int, int, int, int], distance_m: float) -> np.ndarray:
    """The image with a box whose front face covers ``left, top, right, bottom`` (pixels) at ``distance_m``: it
    hides whatever is farther.
    """
    left, top, right, bottom = box
    out = depth.copy()
    region = out[top:bottom, left:right]
    region[(region <= 0) | (region > distance_m)] = distance_m
    return out


def degrade_depth(depth: np.ndarray, rng: np.random.Generator, *, noise_fraction: float = 0.015,
                  holes: int = 6, hole_px: tuple[int, int] = (4, 24), lost_fraction: float = 0.02,
                  edge_step_m: float = 0.1) -> np.ndarray:
    """What a real depth camera makes of ``depth`` (H, W) metres: 0 (no reading) at depth edges (neighbours more
    than ``edge_step_m`` apart), Gaussian noise of ``noise_fraction`` times the depth, ``holes`` rectangular
    dropout patches of ``hole_px`` sides, and a ``lost_fraction`` of single pixels lost.
    """
    out = depth.astype(np.float32).copy()
    edge = np.zeros(out.shape, bool)
    vertical = np.abs(np.diff(out, axis=0)) > edge_step_m
    horizontal = np.abs(np.diff(out, axis=1)) > edge_step_m
    edge[1:] |= vertical
    edge[:-1] |= vertical
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    out *= (1.0 + rng.normal(0.0, noise_fraction, out.shape)).astype(np.float32)
    out[edge] = 0.0
    height, width = out.shape
    for _ in range(holes):
        w, h = rng.integers(hole_px[0], hole_px[1] + 1, 2)
        left, top = rng.integers(0, max(1, width - w)), rng.integers(0, max(1, height - h))
        out[top:top + h, left:left + w] = 0.0
    out[rng.random(out.shape) < lost_fraction] = 0.0
    return out


SCENES = ("clear", "occluded", "lost")
"""What :func:`depth_scene` draws: the person in full view of the depth camera; part of their torso behind a box
nearer the camera; their torso without depth (an infrared-absorbing black jacket, sunlight, a reflective vest)."""
TORSO_NAMES = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")


def depth_scene(pose: np.ndarray, layout: Layout, K: np.ndarray, image_size: tuple[int, int], size: float,
                scene: str, rng: np.random.Generator, *, noise_fraction: float = 0.015) -> np.ndarray:
    """A degraded depth image (H, W) metres of one person (joints ``pose`` (J, 3), camera frame) of relative
    ``size`` in front of a wall 0.5-3 m behind them, in one of the :data:`SCENES`:

    * ``occluded``: a box 0.4-1.5 m in front of the pelvis hides part of the torso: a counter from the image's
      bottom up to between the hips and 40 % of the way to the shoulders, or a post over 30-45 % of the torso's
      width on one side;
    * ``lost``: no reading anywhere on the torso, a margin of a tenth of its height around it.
    """
    if scene not in SCENES:
        raise ValueError(f"unknown depth scene {scene!r}; expected one of {', '.join(SCENES)}")
    named = body_points(np.asarray(pose, dtype=np.float64)[None], layout)
    pelvis_z = float(named["mid_hip"][0, 2])
    depth = render_depth(pose[None], layout, K, image_size, np.array([size]))
    depth = add_background(depth, pelvis_z + rng.uniform(0.5, 3.0))
    torso = np.stack([named[name][0] for name in TORSO_NAMES])
    u = K[0, 0] * torso[:, 0] / torso[:, 2] + K[0, 2]
    v = K[1, 1] * torso[:, 1] / torso[:, 2] + K[1, 2]
    left, right, top, bottom = u.min(), u.max(), v.min(), v.max()
    width, height = (int(value) for value in image_size)
    if scene == "occluded":
        distance = max(0.3, pelvis_z - rng.uniform(0.4, 1.5))
        if rng.random() < 0.5:  # a counter in front of the hips
            hips_v = v[2:].mean()
            box_top = hips_v - rng.uniform(0.0, 0.4) * (hips_v - v[:2].mean())
            box = (0, int(box_top), width, height)
        else:  # a post in front of one side
            covered = int(rng.uniform(0.3, 0.45) * (right - left))
            box = (0, 0, int(left) + covered, height) if rng.random() < 0.5 else (int(right) - covered, 0, width,
                                                                                     height)
        depth = add_occluder(depth, box, distance)
    depth = degrade_depth(depth, rng, noise_fraction=noise_fraction)
    if scene == "lost":
        margin = 0.1 * (bottom - top) + 2
        depth[max(0, int(top - margin)):max(0, int(bottom + margin)), max(0, int(left - margin)):
              max(0, int(right + margin))] = 0.0
    return depth
