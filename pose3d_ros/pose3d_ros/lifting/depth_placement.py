"""Camera-frame placement from an aligned depth image (RealSense, ZED, OAK-D; issue #17).

Monocular placement (:mod:`.placement`) gets the distance from the size the network assumes, so its depth error
grows with the distance and with how far the person's size is from the training skeleton's. A depth camera
measures it. For each person:

1. **Where to look**: five points on the torso, each observed torso joint (shoulders, hips; 2D confidence above
   ``min_joint_conf``) pulled :data:`TORSO_PULL` of the way towards the centre of the observed ones, plus that
   centre. Pulled in, the windows fall on the torso rather than past its outline.
2. **Samples**: every depth pixel in a square window around each point, of ``window_m`` across at the
   least-squares distance (at least 3 x 3 pixels, at most 25 x 25). A depth image of another size than the colour
   image is used when it is a pure scale of it (the same aspect ratio, e.g. 1280 x 720 colour with 640 x 360
   depth): pixel coordinates are scaled; otherwise it is refused with an error.
3. **Invalid samples** are rejected: 0 (no reading: 16UC1 drivers write 0), NaN and inf (32FC1 drivers), and
   anything outside ``[min_depth_m, max_depth_m]``.
   Pixels within ``limb_clearance_m`` of an observed arm or thigh in the image are skipped too: an arm folded in
   front of the chest is nearer than the torso, and on many frames it covers a third of it.
4. **The body behind the surface**: a depth pixel is the front of the body, the torso point lies behind it. The
   torso is taken for an elliptic cylinder about the spine (mid-hip -> mid-shoulder), ``torso_half_width_m``
   (0.17 m) along the shoulder and hip lines, ``torso_half_depth_m`` (0.11 m) front to back (adult chest and
   pelvis breadths 0.32-0.36 m, chest and abdominal depths 0.20-0.26 m), oriented as in the lifted pose; the
   distance along the point's ray to its surface, in z, is the offset: 0.11 m for a person facing the camera, up to
   0.17 m seen from the side. ``c = offset - Z_point``, with ``Z_point`` the torso point's depth in the lifted
   root-relative pose. The lifted pose has the training skeleton's size, the person may not: a person ``s``
   times that size, whose lifted pose the least squares place at depth ``t``, stands at ``s t`` with every offset
   scaled by ``s``, so a sample at depth ``z`` says the root is at ``z t / (t - c)`` (``z + c`` for ``s = 1``).
   Without this, a 1.95 m person's depth came out 60 mm too near, with it within 10 mm of a 1.66 m one's.
5. **Robust estimate** (:func:`_robust_centre`): root depths no person could give (far from the least-squares one)
   are dropped; of the clusters the rest form, the farthest is the person's (an occluder in front, a table, a box,
   another person, is nearer, however much of the torso it hides); its median, re-centred three times on the
   samples within ``outlier_margin_m``, is the root depth.
6. **Fallback**: with fewer than ``min_samples`` samples left (holes, a person beyond the sensor's range, an
   all-zero image, every torso joint unseen) the person keeps the least-squares placement, and says so
   (:class:`~pose3d_ros.skeleton.PlacementSource`).
7. **Placement**: with ``t_z`` fixed, ``t_x`` and ``t_y`` are the confidence-weighted least-squares solution of the
   reprojection equations of all joints (:func:`.placement.solve_root_translation_at_depth`), in the real camera
   (the depth image's), whatever virtual camera the pose was lifted in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera import normalised_coordinates
from ..skeleton import Layout
from .placement import solve_root_translation_at_depth

MILLIMETRES_PER_METRE = 1000.0
"""16UC1 (and mono16) depth images are millimetres (REP 118); 32FC1 are metres."""
DEPTH_ENCODINGS = {"16UC1": np.uint16, "mono16": np.uint16, "32FC1": np.float32}
TORSO_JOINTS = {"wholebody133": (5, 6, 11, 12), "h36m17": (11, 14, 4, 1)}
"""Shoulders and hips of each layout: the joints whose surroundings are sampled."""
TORSO_PULL = 0.5
"""How far each sampled point lies from its joint towards the torso's centre (a fraction of the way)."""
LIMBS = {
    # (from, to): upper arms, forearms (on to the hand), thighs
    "wholebody133": ((5, 7), (6, 8), (7, 9), (8, 10), (11, 13), (12, 14)),
    "h36m17": ((11, 12), (14, 15), (12, 13), (15, 16), (4, 5), (1, 2)),
}
"""Limbs that can lie in front of the torso (arms folded, a phone held, thighs of someone sitting): depth pixels on
them are not the torso's, and are not sampled."""
FOREARM_LIMBS = (2, 3)
"""Which of :data:`LIMBS` are forearms."""
FOREARMS_REACH = 1.4
"""Forearms are excluded past the wrist, to 1.4 times their length, which covers the hand."""
ROUNDS = 3
"""Re-centring rounds of the robust estimate."""
PLAUSIBLE_SCALE = (0.5, 1.3)
"""Root depths from depth samples, as a multiple of the least-squares depth, that a person can have."""
MIN_CLUSTER_SHARE = 0.1
"""The smallest share of the samples a cluster of them needs to be taken for the person (a few stray samples are
not): the person is the farthest cluster, however much of the torso is hidden; with too few samples left, the
least-squares placement is kept (rather than the occluder's depth)."""


@dataclass(frozen=True)
class DepthSettings:
    """How depth samples are taken and judged; the defaults suit a RealSense/ZED/OAK-D at 0.3-10 m."""

    min_depth_m: float = 0.3
    max_depth_m: float = 10.0
    torso_half_width_m: float = 0.17
    """Half the torso's breadth (along the shoulder and hip lines), at the training skeleton's size."""
    torso_half_depth_m: float = 0.11
    """Half the torso's thickness (front to back), at the training skeleton's size."""
    min_samples: int = 20
    """Fewer valid samples than this: least-squares placement instead."""
    window_m: float = 0.08
    """Width of each sampling window at the person's distance."""
    outlier_margin_m: float = 0.20
    """Samples whose root depth is further than this from the median are dropped (occluders, background)."""
    min_joint_conf: float = 0.3
    """Torso joints below this 2D confidence are not sampled around; limbs below it are not excluded."""
    limb_clearance_m: float = 0.06
    """Pixels nearer than this (at the person's distance) to a limb's 2D segment are not sampled."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_depth_m < self.max_depth_m:
            raise ValueError(f"need 0 <= min_depth_m < max_depth_m, got {self.min_depth_m}, {self.max_depth_m}")
        if self.min_samples < 1 or self.window_m <= 0 or self.outlier_margin_m <= 0:
            raise ValueError("min_samples, window_m and outlier_margin_m must be positive")


@dataclass(frozen=True)
class DepthPlacement:
    """Root translations from depth, for P people."""

    translation: np.ndarray
    """(P, 3) metres; NaN where depth was not used."""
    used: np.ndarray
    """(P,) bool: enough valid samples."""
    samples: np.ndarray
    """(P,) int: the samples the estimate rests on (after rejecting invalid ones and outliers)."""


def depth_in_metres(depth: np.ndarray, encoding: str | None = None) -> np.ndarray:
    """A depth image as float32 metres, 0 or NaN where there is no reading: uint16 is millimetres (16UC1, mono16),
    float32/float64 metres (32FC1). ``encoding``, when given, must agree with the array's type.
    """
    depth = np.asarray(depth)
    if encoding is not None:
        if encoding not in DEPTH_ENCODINGS:
            raise ValueError(f"depth encoding {encoding!r} is not supported (supported: "
                             f"{', '.join(DEPTH_ENCODINGS)})")
        if depth.dtype != DEPTH_ENCODINGS[encoding]:
            raise ValueError(f"a {encoding} depth image holds {np.dtype(DEPTH_ENCODINGS[encoding]).name}, "
                             f"got {depth.dtype}")
    if depth.ndim != 2:
        raise ValueError(f"a depth image has one channel, shape (H, W); got {depth.shape}")
    if depth.dtype == np.uint16:
        return depth.astype(np.float32) / np.float32(MILLIMETRES_PER_METRE)
    if depth.dtype in (np.float32, np.float64):
        return depth.astype(np.float32, copy=False)
    raise ValueError(f"depth images are uint16 millimetres or float metres, got {depth.dtype}")


def depth_pixel_scale(depth_shape: tuple[int, ...], image_size: tuple[int, int] | None) -> float:
    """The factor from colour-image pixels to depth-image pixels. ``image_size`` (width, height) of the colour image,
    None: the same as the depth image. A depth image that is not a pure scale of the colour image (another aspect
    ratio) is refused: it is not aligned to it, and its pixels cannot be matched to the keypoints.
    """
    height, width = depth_shape[:2]
    if image_size is None:
        return 1.0
    image_width, image_height = (int(v) for v in image_size)
    if image_width <= 0 or image_height <= 0:
        raise ValueError(f"image size must be positive, got {image_size}")
    scale = width / image_width
    if abs(image_height * scale - height) > 1.0:
        raise ValueError(f"the depth image is {width}x{height} and the colour image {image_width}x{image_height}: "
                         "not a scaled copy of it, so not aligned to it (use the camera driver's depth registered "
                         "to the colour image, e.g. RealSense aligned_depth_to_color)")
    return scale


def torso_points(kp2d: np.ndarray, conf: np.ndarray, layout: Layout, min_conf: float) -> tuple[np.ndarray, np.ndarray]:
    """Per person, the mixing weights (P, S, J) that make the sampled torso points from joints (S = 5: one per
    torso joint, then their centre), and which of them exist (P, S) (their joint observed; the centre with two or
    more observed). The same weights give a point's pixel from ``kp2d`` and its depth from the lifted pose.
    """
    if layout.name not in TORSO_JOINTS:
        raise ValueError(f"no torso joints defined for layout {layout.name!r}")
    joints = list(TORSO_JOINTS[layout.name])
    people = len(kp2d)
    observed = conf[:, joints] > min_conf  # (P, 4)
    count = observed.sum(-1)
    centre = np.where(observed, 1.0, 0.0) / np.maximum(count, 1)[:, None]  # (P, 4): weights of the centre
    weights = np.zeros((people, len(joints) + 1, layout.num_joints))
    for s, joint in enumerate(joints):
        weights[:, s, joints] = TORSO_PULL * centre
        weights[:, s, joint] += 1.0 - TORSO_PULL
    weights[:, -1, joints] = centre
    exists = np.concatenate([observed, (count >= 2)[:, None]], axis=-1)
    return weights, exists


def place_with_depth(kp2d: np.ndarray, conf: np.ndarray, root_relative: np.ndarray, K: np.ndarray,
                     depth_m: np.ndarray, layout: Layout, least_squares: np.ndarray, *,
                     image_size: tuple[int, int] | None = None,
                     settings: DepthSettings | None = None) -> DepthPlacement:
    """Root translations of P people from a depth image aligned to the colour image (see the module docstring).

    ``kp2d`` (P, J, 2) colour-image pixels, ``conf`` (P, J), ``root_relative`` (P, J, 3) in the camera's orientation,
    ``K`` (3, 3) or (P, 3, 3) of the colour image, ``depth_m`` (H, W) metres (:func:`depth_in_metres`),
    ``least_squares`` (P, 3) the monocular placement (it sizes the sampling windows, bounds the plausible root
    depths and gives the person's size), ``image_size`` the colour image's (width, height) when the depth image has
    another size.
    """
    settings = settings or DepthSettings()
    kp2d = np.asarray(kp2d, dtype=np.float64)
    conf = np.asarray(conf, dtype=np.float64)
    pose = np.asarray(root_relative, dtype=np.float64)
    K = np.broadcast_to(np.asarray(K, dtype=np.float64), (len(kp2d), 3, 3))
    depth_m = np.asarray(depth_m)
    if depth_m.ndim != 2 or depth_m.dtype not in (np.float32, np.float64):
        raise ValueError(f"depth_m must be a float (H, W) image in metres (see depth_in_metres), got "
                         f"{depth_m.dtype} {depth_m.shape}")
    scale = depth_pixel_scale(depth_m.shape, image_size)
    people = len(kp2d)
    root_depth = np.full(people, np.nan)
    samples = np.zeros(people, dtype=np.int64)
    weights, exists = torso_points(kp2d, conf, layout, settings.min_joint_conf)
    points = np.einsum("psj,pjc->psc", weights, kp2d)  # (P, S, 2) colour pixels
    behind = (_surface_offsets(points, weights, pose, K, layout, settings)
              - np.einsum("psj,pj->ps", weights, pose[..., 2]))  # (P, S): c of the module docstring
    limbs = np.array(LIMBS[layout.name])
    limb_seen = (conf[:, limbs] > settings.min_joint_conf).all(-1)  # (P, L)
    limb_ends = kp2d[:, limbs].copy()  # (P, L, 2, 2)
    forearms = list(FOREARM_LIMBS)
    limb_ends[:, forearms, 1] = limb_ends[:, forearms, 0] + FOREARMS_REACH * (limb_ends[:, forearms, 1]
                                                                           - limb_ends[:, forearms, 0])
    for p in range(people):
        if not exists[p].any() or not np.isfinite(least_squares[p, 2]) or least_squares[p, 2] <= 0:
            continue
        implied = _root_depths(points[p, exists[p]], behind[p, exists[p]], K[p], depth_m, scale,
                               float(least_squares[p, 2]), limb_ends[p, limb_seen[p]], settings)
        root_depth[p], samples[p] = _robust_centre(implied, settings.outlier_margin_m, float(least_squares[p, 2]))
    used = samples >= settings.min_samples
    translation = np.full((people, 3), np.nan)
    if used.any():
        translation[used] = solve_root_translation_at_depth(kp2d[used], conf[used], pose[used], K[used],
                                                            root_depth[used])
    return DepthPlacement(translation=translation, used=used, samples=np.where(used, samples, 0))


def _surface_offsets(points: np.ndarray, weights: np.ndarray, pose: np.ndarray, K: np.ndarray, layout: Layout,
                     settings: DepthSettings) -> np.ndarray:
    """How far in z (P, S) the torso's surface lies in front of each torso point, along the point's ray: the
    elliptic cylinder of the module docstring, oriented by the lifted pose (P, J, 3).
    """
    left_shoulder, right_shoulder, left_hip, right_hip = TORSO_JOINTS[layout.name]
    mid_hip = 0.5 * (pose[:, left_hip] + pose[:, right_hip])
    axis = _unit(0.5 * (pose[:, left_shoulder] + pose[:, right_shoulder]) - mid_hip)
    lateral = pose[:, left_shoulder] - pose[:, right_shoulder] + pose[:, left_hip] - pose[:, right_hip]
    lateral = _unit(lateral - (lateral * axis).sum(-1, keepdims=True) * axis)
    forward = np.cross(axis, lateral)
    xy = normalised_coordinates(points, K)
    towards_camera = -_unit(np.concatenate([xy, np.ones_like(xy[..., :1])], axis=-1))  # (P, S, 3)
    inside = np.einsum("psj,pjc->psc", weights, pose) - mid_hip[:, None]
    a, b = settings.torso_half_width_m, settings.torso_half_depth_m
    lat, fwd = (inside * lateral[:, None]).sum(-1), (inside * forward[:, None]).sum(-1)
    w_lat, w_fwd = (towards_camera * lateral[:, None]).sum(-1), (towards_camera * forward[:, None]).sum(-1)
    # ((lat + t w_lat) / a)^2 + ((fwd + t w_fwd) / b)^2 = 1, the root with t >= 0
    qa = (w_lat / a) ** 2 + (w_fwd / b) ** 2
    qb = 2.0 * (lat * w_lat / a ** 2 + fwd * w_fwd / b ** 2)
    qc = np.minimum((lat / a) ** 2 + (fwd / b) ** 2 - 1.0, 0.0)  # a point outside: from the surface itself
    along = (-qb + np.sqrt(np.maximum(qb * qb - 4.0 * qa * qc, 0.0))) / np.maximum(2.0 * qa, 1e-12)
    return along * -towards_camera[..., 2]


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)


def _root_depths(points: np.ndarray, behind: np.ndarray, K: np.ndarray, depth_m: np.ndarray, scale: float,
                 distance_m: float, limbs: np.ndarray, settings: DepthSettings) -> np.ndarray:
    """The root depth each valid sample in the windows around ``points`` (S, 2) colour pixels implies, skipping
    pixels near the ``limbs`` (L, 2, 2) colour-pixel segments.
    """
    height, width = depth_m.shape
    focal_px = 0.5 * (K[0, 0] + K[1, 1]) * scale
    half = int(np.clip(round(0.5 * settings.window_m * focal_px / distance_m), 1, 12))
    offsets = np.arange(-half, half + 1)
    centre = np.floor(points * scale).astype(np.int64)  # depth pixel under each point
    columns = (centre[:, None, None, 0] + offsets[None, None, :]).repeat(len(offsets), axis=1)  # (S, n, n)
    rows = (centre[:, None, None, 1] + offsets[None, :, None]).repeat(len(offsets), axis=2)
    inside = (columns >= 0) & (columns < width) & (rows >= 0) & (rows < height)
    owner = np.broadcast_to(np.arange(len(points))[:, None, None], rows.shape)[inside]
    columns, rows = columns[inside], rows[inside]
    z = depth_m[rows, columns].astype(np.float64)
    valid = np.isfinite(z) & (z >= settings.min_depth_m) & (z <= settings.max_depth_m) & (z > 0)
    z, owner = z[valid], owner[valid]
    pixel = np.stack([columns[valid] + 0.5, rows[valid] + 0.5], axis=-1) / scale  # back in colour pixels
    if len(limbs):
        clearance_px = settings.limb_clearance_m * focal_px / scale / distance_m
        off_limbs = _segment_distances(pixel, limbs) > clearance_px
        z, owner, pixel = z[off_limbs], owner[off_limbs], pixel[off_limbs]
    return z * distance_m / np.maximum(distance_m - behind[owner], 1e-3)


def _segment_distances(pixels: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Distance (N,) from each pixel (N, 2) to the nearest of the segments (L, 2, 2)."""
    start, direction = segments[:, 0], segments[:, 1] - segments[:, 0]  # (L, 2)
    length2 = np.maximum((direction ** 2).sum(-1), 1e-9)
    along = np.clip(((pixels[:, None] - start) * direction).sum(-1) / length2, 0.0, 1.0)  # (N, L)
    nearest = start + along[..., None] * direction
    return np.linalg.norm(pixels[:, None] - nearest, axis=-1).min(-1)


def _robust_centre(values: np.ndarray, margin: float, least_squares: float) -> tuple[float, int]:
    """The root depth the samples ``values`` agree on, and how many samples it rests on ((nan, 0) for none).

    Values a person of plausible size cannot give are dropped first: outside :data:`PLAUSIBLE_SCALE` times the
    ``least_squares`` depth (a 1.0 m child is at 0.6 times it, a 2.05 m adult at 1.23, and the least squares err by
    5-10 % more). The remaining values cluster at the torso and, nearer, at
    whatever hides part of it. The clusters are the peaks of a histogram of ``margin / 2`` bins summed over
    ``1.5 margin``; among those with at least :data:`MIN_CLUSTER_SHARE` of the values the farthest is the person (an
    occluder is in front, never behind, and may hide most of the torso). Then, :data:`ROUNDS` times, the median of
    the values within ``margin`` of the current centre.
    """
    low, high = PLAUSIBLE_SCALE
    values = values[(values >= low * least_squares) & (values <= high * least_squares)]
    if values.size == 0:
        return float("nan"), 0
    step = 0.5 * margin
    edges = np.arange(values.min(), values.max() + 2 * step, step)
    counts = np.convolve(np.histogram(values, edges)[0], np.ones(3))[1:-1]  # each bin with its neighbours
    padded = np.concatenate([[-1.0], counts, [-1.0]])
    peaks = (counts >= padded[:-2]) & (counts >= padded[2:]) & (counts >= max(3, MIN_CLUSTER_SHARE * values.size))
    if not peaks.any():  # a handful of scattered values
        return float("nan"), 0
    centre = float(edges[np.flatnonzero(peaks)[-1]] + 0.5 * step)
    kept = values
    for _ in range(ROUNDS):
        kept = values[np.abs(values - centre) <= margin]
        if kept.size == 0:
            return float("nan"), 0
        centre = float(np.median(kept))
    return centre, int(kept.size)
