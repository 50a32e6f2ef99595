"""Synthetic 2D detections: projection plus a model of a real keypoint detector's errors and misses.

The output follows the 2D contract of every stage: ``kp2d`` pixels (origin at the top-left corner of the image),
``conf`` in [0, 1], a joint that is not detected has conf 0 and the coordinates given by ``layout.fill_missing``
(its nearest detected ancestor); never NaN.

Noise model (``noise="detector"``; all magnitudes in units of the person's image size
``s = fx * 1.7 m / depth of the body``, i.e. the height in pixels of a standing adult at that distance):

* Coordinate noise per joint: ``sigma_joint * s`` of independent jitter plus, for the face and each hand, one
  shared offset per part (``sigma_part * s``: a whole face or hand placed slightly wrong, as crop-based detectors
  do). In sequences half of the jitter is temporally correlated (AR(1), time constant 0.2 s) as real detector
  noise is, the other half is white.
* Gross errors: with a small probability per joint the point lands ``GROSS_SIGMA * s`` away (a limb confused with
  another, a hand locked on the background); its confidence is low.
* Confidence: per-part base value lowered in proportion to the joint's actual error, plus a little noise, in
  [0.05, 1]; missing joints have exactly 0.
* Missing joints: outside the image or behind the camera; the face (and the body's eyes and nose) when the head
  is turned away from the camera; a face or hand too small in the image (a linear ramp of the detection
  probability between :data:`SMALL_PART_RAMP_PX`); and random drop-outs of single joints, of whole parts (a
  hand, the face), of an arm and of the lower body (furniture), at the rates of :data:`OCCLUSION_GROUPS` --
  independent per frame for single poses, in runs of frames (two-state Markov chains with the tabled mean
  durations) for sequences, where whole frames also go missing (the detector loses the person).

``noise="none"`` gives the exact projection with every joint detected at confidence 1 (the sequence set can
still add occlusion runs on top).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera import project
from ..skeleton import Layout

NOISE_KINDS = ("none", "detector")
PERSON_HEIGHT_M = 1.7
GROSS_SIGMA = 0.08
NOISE_TIME_CONSTANT_S = 0.2


@dataclass(frozen=True)
class PartNoise:
    """Noise of one part, in fractions of the person's image size."""

    sigma_joint: float  # independent jitter per joint
    sigma_part: float  # one offset shared by the part's joints (per hand for the hands)
    gross_rate: float  # probability that a joint is grossly wrong
    base_confidence: float


PART_NOISE = {
    "body": PartNoise(sigma_joint=0.008, sigma_part=0.0, gross_rate=0.005, base_confidence=0.92),
    # Landmark models keep a face's shape but misplace the face as a whole.
    "face": PartNoise(sigma_joint=0.003, sigma_part=0.009, gross_rate=0.002, base_confidence=0.85),
    "hands": PartNoise(sigma_joint=0.005, sigma_part=0.011, gross_rate=0.01, base_confidence=0.75),
}
# Detectors place these body joints worse than the rest (hips under clothing, the virtual pelvis/spine points).
BODY_JOINT_SIGMA_SCALE = {"hip": 1.6, "pelvis": 1.4, "spine": 1.6, "eye": 0.6, "nose": 0.7, "ear": 0.8}


@dataclass(frozen=True)
class OcclusionGroup:
    """Joints that go missing together: ``fraction`` of frames on average, in runs of ``mean_run_s`` seconds."""

    fraction: float
    mean_run_s: float


OCCLUSION_GROUPS = {
    "joint": OcclusionGroup(fraction=0.02, mean_run_s=0.3),  # each joint on its own
    "hand": OcclusionGroup(fraction=0.12, mean_run_s=1.0),  # each hand: out of view, behind the body, in a pocket
    "face": OcclusionGroup(fraction=0.04, mean_run_s=1.0),  # the face detector fails (blur, hair, a mask)
    "arm": OcclusionGroup(fraction=0.03, mean_run_s=1.0),  # each forearm and hand hidden behind the body or objects
    "lower_body": OcclusionGroup(fraction=0.05, mean_run_s=2.0),  # a table or a robot's own body in front
    "frame": OcclusionGroup(fraction=0.03, mean_run_s=0.3),  # the whole person lost (sequences only)
}


def _names_like(layout: Layout, *fragments: str, prefix: str = "") -> np.ndarray:
    return np.array([name.startswith(prefix) and any(f in name for f in fragments) for name in layout.names])


def occlusion_groups(layout: Layout) -> list[tuple[str, np.ndarray]]:
    """The named joint groups of :data:`OCCLUSION_GROUPS` as boolean masks (J,) for ``layout`` (single joints are
    one group each; groups that the layout lacks, such as hands for h36m17, are left out).
    """
    groups = [("joint", np.eye(layout.num_joints, dtype=bool)[j]) for j in range(layout.num_joints)]
    for side in ("left", "right"):
        hand = _names_like(layout, "", prefix=f"{side}_hand_")
        if hand.any():
            groups.append(("hand", hand))
        arm = hand | np.isin(np.array(layout.names), [f"{side}_elbow", f"{side}_wrist"])
        groups.append(("arm", arm))
    face = _names_like(layout, "", prefix="face_")
    if face.any():
        groups.append(("face", face))
    lower = _names_like(layout, "hip", "knee", "ankle", "toe", "heel", "pelvis")
    groups.append(("lower_body", lower))
    return groups


def _part_table(layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per joint: jitter sigma, shared-offset sigma, shared-offset group id, gross-error rate, base confidence."""
    sigma = np.empty(layout.num_joints)
    shared = np.zeros(layout.num_joints)
    group = np.full(layout.num_joints, -1)
    gross = np.empty(layout.num_joints)
    base = np.empty(layout.num_joints)
    for part_name, part in layout.parts.items():
        spec = PART_NOISE[part_name]
        sigma[part], shared[part], gross[part], base[part] = (spec.sigma_joint, spec.sigma_part,
                                                             spec.gross_rate, spec.base_confidence)
    for j, name in enumerate(layout.names):
        if name.startswith("face_"):
            group[j] = 0
        elif name.startswith("left_hand_"):
            group[j] = 1
        elif name.startswith("right_hand_"):
            group[j] = 2
        else:
            for fragment, scale in BODY_JOINT_SIGMA_SCALE.items():
                if fragment in name:
                    sigma[j] *= scale
                    break
    return sigma, shared, group, gross, base


def _correlated_normal(rng: np.random.Generator, shape: tuple[int, ...], fps: float | None) -> np.ndarray:
    """Standard normals (B, T, ...): white for single frames; half white, half AR(1) along T for sequences."""
    white = rng.standard_normal(shape)
    if fps is None or shape[1] == 1:
        return white
    rho = np.exp(-1.0 / (fps * NOISE_TIME_CONSTANT_S))
    innovations = rng.standard_normal(shape)
    ar = np.empty(shape)
    ar[:, 0] = innovations[:, 0]
    for t in range(1, shape[1]):
        ar[:, t] = rho * ar[:, t - 1] + np.sqrt(1.0 - rho**2) * innovations[:, t]
    return np.sqrt(0.5) * white + np.sqrt(0.5) * ar


def markov_runs(rng: np.random.Generator, shape: tuple[int, ...], fraction: float, mean_run_frames: float,
                ) -> np.ndarray:
    """Boolean (B, T, ...) 'occluded' runs along T: a stationary two-state Markov chain that is on for
    ``fraction`` of the frames on average, in runs of ``mean_run_frames`` frames on average.
    """
    p_off = min(1.0, 1.0 / max(mean_run_frames, 1.0))
    p_on = min(1.0, fraction * p_off / max(1.0 - fraction, 1e-9))
    state = rng.random(shape[:1] + shape[2:]) < fraction
    out = np.empty(shape, dtype=bool)
    draws = rng.random(shape)
    for t in range(shape[1]):
        if t > 0:
            state = np.where(state, draws[:, t] >= p_off, draws[:, t] < p_on)
        out[:, t] = state
    return out


def random_occlusion(layout: Layout, rng: np.random.Generator, batch: int, frames: int,
                     fps: float | None) -> np.ndarray:
    """Random drop-outs (B, T, J) bool, True = occluded: independent per frame when ``fps`` is None (single poses,
    whole-frame losses excluded), else runs of frames at ``fps``.
    """
    occluded = np.zeros((batch, frames, layout.num_joints), dtype=bool)
    groups = occlusion_groups(layout)
    by_kind: dict[str, list[np.ndarray]] = {}
    for kind, mask in groups:
        by_kind.setdefault(kind, []).append(mask)
    kinds = list(by_kind) + ([] if fps is None else ["frame"])
    for kind in kinds:
        masks = np.stack(by_kind[kind]) if kind != "frame" else np.ones((1, layout.num_joints), dtype=bool)
        spec = OCCLUSION_GROUPS[kind]
        if fps is None:
            hit = rng.random((batch, frames, len(masks))) < spec.fraction
        else:
            hit = markov_runs(rng, (batch, frames, len(masks)), spec.fraction, spec.mean_run_s * fps)
        occluded |= np.einsum("btg,gj->btj", hit.astype(np.uint8), masks.astype(np.uint8)).astype(bool)
    return occluded


def _face_turned_away(points_cam: np.ndarray, layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """(B, T) bool: the head faces away from the camera, so a detector finds no face. Beyond 100 degrees between
    the face's forward direction and the direction to the camera the face is always lost, from 70 degrees on with
    a linearly rising probability.
    """
    names = layout.names
    if "nose" not in names or "left_ear" not in names:
        return np.zeros(points_cam.shape[:2], dtype=bool)
    nose = points_cam[..., names.index("nose"), :]
    ears = 0.5 * (points_cam[..., names.index("left_ear"), :] + points_cam[..., names.index("right_ear"), :])
    forward = nose - ears
    to_camera = -ears
    cos = np.sum(forward * to_camera, axis=-1) / (
        np.linalg.norm(forward, axis=-1) * np.linalg.norm(to_camera, axis=-1) + 1e-12)
    angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    p_lost = np.clip((angle - 70.0) / 30.0, 0.0, 1.0)
    return rng.random(p_lost.shape) < p_lost


# A face or hand seen too small is not detected: the probability of detecting it rises linearly from 0 to 1 as
# its size in pixels (focal length x typical size / depth) goes from the first to the second value.
SMALL_PART_SIZE_M = {"face": 0.14, "hand": 0.18}  # face width, wrist to middle fingertip
SMALL_PART_RAMP_PX = {"face": (10.0, 24.0), "hand": (12.0, 30.0)}


def _too_small(points_cam: np.ndarray, K: np.ndarray, layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """(B, T, J) bool: joints of faces and hands that are too small in the image to be detected."""
    lost = np.zeros(points_cam.shape[:3], dtype=bool)
    for kind, prefixes in (("face", ("face_",)), ("hand", ("left_hand_",)), ("hand", ("right_hand_",))):
        joints = np.array([name.startswith(prefixes) for name in layout.names])
        if not joints.any():
            continue
        depth = np.maximum(points_cam[..., joints, 2].mean(axis=-1), 0.05)  # (B, T)
        size_px = K[:, None, 0, 0] * SMALL_PART_SIZE_M[kind] / depth
        low, high = SMALL_PART_RAMP_PX[kind]
        p_detected = np.clip((size_px - low) / (high - low), 0.0, 1.0)
        lost |= (rng.random(depth.shape) >= p_detected)[..., None] & joints
    return lost


def face_joints(layout: Layout) -> np.ndarray:
    """Joints a detector loses with the face: the face part and the body's nose and eyes."""
    return np.array([n.startswith("face_") or n in ("nose", "left_eye", "right_eye") for n in layout.names])


def detect(points_cam: np.ndarray, K: np.ndarray, image_size: np.ndarray, layout: Layout, rng: np.random.Generator,
           *, noise: str = "detector", occluded: np.ndarray | None = None, fps: float | None = None,
           ) -> tuple[np.ndarray, np.ndarray]:
    """2D detections of camera-frame poses (B, T, J, 3) seen by cameras K (B, 3, 3) with ``image_size`` (B, 2).

    ``occluded`` (B, T, J) bool adds extra missing joints (e.g. :func:`random_occlusion`); ``fps`` is the frame
    rate of sequences (temporally correlated noise) or None for independent frames.
    Returns ``kp2d`` (B, T, J, 2) float32 and ``conf`` (B, T, J) float32 in the 2D contract.
    """
    if noise not in NOISE_KINDS:
        raise ValueError(f"unknown noise model {noise!r}; expected one of {', '.join(NOISE_KINDS)}")
    points_cam = np.asarray(points_cam, dtype=np.float64)
    B, T, J, _ = points_cam.shape
    exact = project(points_cam, K)
    visible = points_cam[..., 2] > 0.05  # a point at or behind the camera has no image
    if occluded is not None:
        visible &= ~np.asarray(occluded, dtype=bool)
    if noise == "none":
        kp = exact
        conf = np.ones((B, T, J))
    else:
        sigma, shared, group, gross_rate, base = _part_table(layout)
        depth = np.median(points_cam[..., 2], axis=-1)  # (B, T)
        scale = K[:, None, 0, 0] * PERSON_HEIGHT_M / np.maximum(depth, 0.1)  # person's image size in pixels
        jitter = _correlated_normal(rng, (B, T, J, 2), fps) * sigma[:, None]
        part_offsets = _correlated_normal(rng, (B, T, 3, 2), fps)
        offset = np.where(group[:, None] >= 0, part_offsets[:, :, np.maximum(group, 0)], 0.0) * shared[:, None]
        error = (jitter + offset) * scale[..., None, None]
        gross = rng.random((B, T, J)) < gross_rate
        error = np.where(gross[..., None], rng.normal(0.0, GROSS_SIGMA, (B, T, J, 2)) * scale[..., None, None],
                         error)
        kp = exact + error
        expected = np.sqrt(sigma**2 + shared**2)[None, None] * scale[..., None]  # the part's typical error (px)
        relative = np.linalg.norm(error, axis=-1) / (2.0 * np.sqrt(2.0) * expected)
        conf = base - 0.35 * np.minimum(relative, 2.0) + rng.normal(0.0, 0.04, (B, T, J))
        conf = np.clip(conf, 0.05, 1.0)

        width, height = image_size[:, 0, None, None], image_size[:, 1, None, None]
        in_image = (exact[..., 0] >= 0) & (exact[..., 0] < width) & (exact[..., 1] >= 0) & (exact[..., 1] < height)
        visible &= in_image
        visible &= ~(_face_turned_away(points_cam, layout, rng)[..., None] & face_joints(layout))
        visible &= ~_too_small(points_cam, K, layout, rng)
    kp = np.where(visible[..., None], kp, 0.0)  # also clears the NaN pixels of points behind the camera
    kp = layout.fill_missing(kp, visible)
    conf = np.where(visible, conf, 0.0)
    return kp.astype(np.float32), conf.astype(np.float32)
