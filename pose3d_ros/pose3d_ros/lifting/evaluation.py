"""Accuracy of a lifter on a lifting set, through the same :meth:`Lifter.lift` path that the pipeline uses.

* Root-relative pose: wholebody133 with the H3WB definitions (all / body / face / face-aligned / hands /
  hands-aligned, :func:`pose3d_ros.metrics.h3wb_errors`); h36m17 with MPJPE and P-MPJPE. Millimetres.
* Camera-frame placement: the recovered root translation against the true pelvis: mean absolute depth (z) error,
  mean 3D translation error, and the depth error relative to the true depth (not for H3WB, whose 3D has the
  camera's orientation but no meaningful origin).
* Error head: mean predicted and actual per-joint error, and their correlation over joints.

A lifter with the gravity input gets each sample's up direction (``up`` in the data) unless ``gravity`` is False.
"""

from __future__ import annotations

import numpy as np

from ..metrics import h3wb_errors, h36m17_errors
from ..skeleton import Layout, PlacementSource
from .lifter import Lifter
from .normalization import root_centre


def evaluate_lifter(lifter: Lifter, data: dict[str, np.ndarray], *, placement: bool = True, gravity: bool = True,
                    batch: int = 2048) -> tuple[dict, np.ndarray]:
    """Metrics for ``data`` (``kp2d``, ``conf``, ``K`` per sample, ``pose3d`` camera frame, metres, optionally
    ``up``) and the predicted root-relative poses (N, J, 3). ``placement=False`` for data whose 3D has no
    meaningful origin (H3WB); ``gravity=False`` withholds the up direction.
    """
    layout = lifter.layout
    count = len(data["kp2d"])
    if count == 0:
        raise ValueError("no samples to evaluate")
    if data["kp2d"].shape[1] != layout.num_joints:
        raise ValueError(f"the data has {data['kp2d'].shape[1]} joints but the lifter's layout {layout.name} has "
                         f"{layout.num_joints}")
    root_relative, translation, predicted_error = [], [], []
    for start in range(0, count, batch):
        part = slice(start, start + batch)
        up = data["up"][part] if gravity and "up" in data else None
        result = lifter.lift(data["kp2d"][part], data["conf"][part], data["K"][part], up=up)
        root_relative.append(result.root_relative)
        translation.append(result.root_translation)
        predicted_error.append(result.error)
    pred = np.concatenate(root_relative).astype(np.float64)
    translation = np.concatenate(translation).astype(np.float64)
    predicted_error = np.concatenate(predicted_error).astype(np.float64)
    gt = np.asarray(data["pose3d"], dtype=np.float64)
    gt_root = root_centre(gt, layout)
    gt = gt - gt_root[:, None]

    if layout.name == "wholebody133":
        pose = h3wb_errors(pred * 1000.0, gt * 1000.0)
    else:
        pose = h36m17_errors(pred * 1000.0, gt * 1000.0)
    actual_error = np.linalg.norm(pred - gt, axis=-1)
    metrics = {
        "samples": count,
        "layout": layout.name,
        "pose_mm": pose,
        "error_head": {
            "predicted_mm": float(predicted_error.mean() * 1000.0),
            "actual_mm": float(actual_error.mean() * 1000.0),
            "correlation": float(np.corrcoef(predicted_error.ravel(), actual_error.ravel())[0, 1]),
        },
    }
    if placement:
        depth_error = np.abs(translation[:, 2] - gt_root[:, 2])
        metrics["placement"] = {
            "depth_error_mm": float(depth_error.mean() * 1000.0),
            "depth_error_median_mm": float(np.median(depth_error) * 1000.0),
            "relative_depth_error_percent": float((depth_error / gt_root[:, 2]).mean() * 100.0),
            "translation_error_mm": float(np.linalg.norm(translation - gt_root, axis=-1).mean() * 1000.0),
        }
    return metrics, pred.astype(np.float32)


def predict_only(lifter: Lifter, data: dict[str, np.ndarray], batch: int = 2048) -> np.ndarray:
    """Root-relative poses (N, J, 3) for data without 3D (e.g. an H3WB test file)."""
    return np.concatenate([lifter.lift(data["kp2d"][s], data["conf"][s], data["K"][s]).root_relative
                           for s in (slice(i, i + batch) for i in range(0, len(data["kp2d"]), batch))])


TORSO_TOP = {"wholebody133": (5, 6), "h36m17": (8,)}
"""The top of the torso, whose direction from the pelvis is the torso's lean: the thorax of H36M-17, the midpoint of
the shoulders for wholebody133 (COCO-WholeBody has no neck or thorax joint)."""
BODY17 = slice(0, 17)
"""The 17 COCO body joints of wholebody133 (all of H36M-17)."""


def torso_lean_errors_deg(pred: np.ndarray, gt: np.ndarray, layout: Layout) -> np.ndarray:
    """Angles (N,) in degrees between the predicted and the true pelvis -> torso-top directions of poses (N, J, 3)
    in the same frame: how far the lifted person leans wrongly, which no root-relative error shows on its own.
    """
    directions = []
    for poses in (np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)):
        up = poses[:, list(TORSO_TOP[layout.name])].mean(1) - root_centre(poses, layout)
        directions.append(up / np.linalg.norm(up, axis=-1, keepdims=True))
    return np.degrees(np.arccos(np.clip((directions[0] * directions[1]).sum(-1), -1.0, 1.0)))


SETUP_RUNS = {"off": (False, False), "on": (True, False), "on_gravity": (True, True)}
"""The runs of :func:`evaluate_setups`: name -> (perspective correction, up direction given)."""


def evaluate_setups(lifter: Lifter, sets: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, dict]]:
    """Per camera set-up (``pose3d_ros.data.make_setup_sets``), the lifter with its perspective correction off and
    on, and for a lifter with the gravity input also on with the up direction known (:data:`SETUP_RUNS`; "off" and
    "on" withhold it): ``{set-up: {run: {"mpjpe_mm", "body17_mm", "torso_lean_deg", "pelvis_depth_error_mm"}}}``,
    means over the samples; MPJPE root-relative (pelvis-aligned), depth error of the placed pelvis.
    """
    initial = lifter.perspective_correction
    runs = {name: run for name, run in SETUP_RUNS.items() if lifter.uses_gravity or not run[1]}
    report = {}
    try:
        for name, data in sets.items():
            gt = np.asarray(data["pose3d"], dtype=np.float64)
            gt = gt - root_centre(gt, lifter.layout)[:, None]
            report[name] = {}
            for run, (correction, gravity) in runs.items():
                lifter.perspective_correction = correction
                metrics, pred = evaluate_lifter(lifter, data, gravity=gravity)
                error = np.linalg.norm(pred.astype(np.float64) - gt, axis=-1) * 1000.0
                report[name][run] = {
                    "mpjpe_mm": float(error.mean()),
                    "body17_mm": float(error[:, BODY17].mean()),
                    "torso_lean_deg": float(torso_lean_errors_deg(pred, gt, lifter.layout).mean()),
                    "pelvis_depth_error_mm": metrics["placement"]["depth_error_mm"],
                }
    finally:
        lifter.perspective_correction = initial
    return report


def _depth_errors_mm(errors_m: np.ndarray) -> dict:
    errors = np.abs(np.asarray(errors_m, dtype=np.float64)) * 1000.0
    if errors.size == 0:
        return {"count": 0}
    return {"count": int(errors.size), "mean": float(errors.mean()), "median": float(np.median(errors)),
            "p95": float(np.percentile(errors, 95)), "max": float(errors.max())}


def evaluate_placement(lifter: Lifter, data: dict[str, np.ndarray], heights_m: tuple[float, ...], *,
                       occluded: float = 0.3, lost: float = 0.1, noise_fraction: float = 0.015,
                       seed: int = 0) -> dict:
    """Pelvis depth error of the placements (issue #17) on people of each stature in ``heights_m``: the true
    skeletons of ``data`` (camera frame, exact 2D re-projected) scaled about the pelvis to that stature, lifted
    with least-squares placement, with the stature known (``person_height_m``), and with a synthetic depth image
    (:func:`pose3d_ros.data.depth.depth_scene`: a ``occluded`` fraction with a box in front of the torso, a
    ``lost`` fraction without depth on the torso, the rest in clear view; all with holes, edges and noise).
    """
    from ..camera import project
    from ..data.depth import depth_scene
    from .body_size import NOMINAL_STATURE_M

    layout = lifter.layout
    truth = np.asarray(data["pose3d"], dtype=np.float64)
    pelvis = root_centre(truth, layout)
    count = len(truth)
    rng = np.random.default_rng(seed)
    scenes = np.where(rng.random(count) < occluded, "occluded", "clear")
    scenes[rng.random(count) < lost] = "lost"
    initial = lifter.person_height_m
    report = {"samples": count, "scenes": {name: int((scenes == name).sum()) for name in ("clear", "occluded",
                                                                                          "lost")}, "heights": {}}
    try:
        for height in heights_m:
            size = height / NOMINAL_STATURE_M
            poses = pelvis[:, None] + size * (truth - pelvis[:, None])
            kp2d = project(poses, data["K"]).astype(np.float32)
            conf = np.ones(kp2d.shape[:2], np.float32)
            row = {}
            for known in (False, True):
                lifter.person_height_m = height if known else 0.0
                placed = np.concatenate([lifter.lift(kp2d[i:i + 512], conf[i:i + 512], data["K"][i:i + 512])
                                         .root_translation for i in range(0, count, 512)])
                row["known_height" if known else "least_squares"] = _depth_errors_mm(placed[:, 2] - pelvis[:, 2])
            lifter.person_height_m = 0.0
            scene_rng = np.random.default_rng([seed, round(height * 1000)])
            depth_z, by_depth = np.zeros(count), np.zeros(count, bool)
            for i in range(count):
                width, image_height = (int(v) for v in data["image_size"][i])
                depth = depth_scene(poses[i], layout, data["K"][i], (width, image_height), size, str(scenes[i]),
                                    scene_rng, noise_fraction=noise_fraction)
                result = lifter.lift(kp2d[i:i + 1], conf[i:i + 1], data["K"][i], depth=depth)
                depth_z[i], by_depth[i] = result.root_translation[0, 2], result.placement[0] == PlacementSource.DEPTH
            error = depth_z - pelvis[:, 2]
            row["depth"] = {
                "placed_by_depth": _depth_errors_mm(error[by_depth]),
                "fallback_rate": float(1.0 - by_depth.mean()),
                "fallback": _depth_errors_mm(error[~by_depth]),
                **{f"by_depth_{name}": _depth_errors_mm(error[by_depth & (scenes == name)])
                   for name in ("clear", "occluded")},
                "fallback_rate_by_scene": {name: float(1.0 - by_depth[scenes == name].mean())
                                           for name in ("clear", "occluded", "lost") if (scenes == name).any()},
            }
            report["heights"][f"{height:.2f}"] = row
    finally:
        lifter.person_height_m = initial
    return report
