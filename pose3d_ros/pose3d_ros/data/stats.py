"""Counts and bone-length statistics of the motion data in a layout, and the speed of training-set generation."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..skeleton import get_layout
from .h36m import SOURCE_FPS, load_h36m, normalise_subjects, subject_of
from .sets import make_lifting_set, make_sequence_set, poses_in_layout

STATS_FRAME_STEP = 10
DETECTION_FRAME_STEP = 25


def dataset_statistics(mocap_path: str | Path, subjects=None, *, layout: str = "wholebody133",
                       seed: int = 0) -> dict:
    """Sequences, frames and duration per subject; per bone of ``layout`` the mean length, its spread over all
    frames (sd) and the largest spread within one sequence (0 for bones that are rigid by construction), from every
    :data:`STATS_FRAME_STEP`-th frame.
    """
    skeleton = get_layout(layout)
    sequences = load_h36m(mocap_path, subjects)
    per_subject: dict[str, dict[str, float]] = {}
    lengths, within = [], []
    for key, poses32 in sequences.items():
        entry = per_subject.setdefault(subject_of(key), {"sequences": 0, "frames": 0, "seconds": 0.0})
        entry["sequences"] += 1
        entry["frames"] += len(poses32)
        entry["seconds"] += len(poses32) / SOURCE_FPS
        frames = np.arange(0, len(poses32), STATS_FRAME_STEP)
        poses = poses_in_layout(poses32[frames], frames / SOURCE_FPS, layout, key, seed).astype(np.float64)
        bone = np.linalg.norm(skeleton.bone_vectors(poses), axis=-1)  # (T, bones)
        lengths.append(bone)
        within.append(bone.std(axis=0))
    lengths_all = np.concatenate(lengths)
    within_max = np.max(within, axis=0)
    bones = []
    for k, (parent, child) in enumerate(skeleton.bones):
        bones.append({"parent": skeleton.names[parent], "child": skeleton.names[child],
                      "mean_m": float(lengths_all[:, k].mean()), "sd_m": float(lengths_all[:, k].std()),
                      "max_within_sequence_sd_m": float(within_max[k])})
    return {
        "layout": layout,
        "subjects": per_subject,
        "total": {"sequences": len(sequences), "frames": int(sum(len(p) for p in sequences.values())),
                  "seconds": float(sum(len(p) for p in sequences.values()) / SOURCE_FPS)},
        "bones": bones,
    }


def detection_statistics(mocap_path: str | Path, subjects=None, *, layout: str = "wholebody133",
                         camera_kind: str = "mixed", noise: str = "detector", seed: int = 0) -> dict:
    """Per part of the lifting set (every :data:`DETECTION_FRAME_STEP`-th frame): the fraction of joints detected,
    the median 2D error of detected joints in pixels and in units of the person's image size, and their mean
    confidence.
    """
    from ..camera import project
    from .detector import PERSON_HEIGHT_M

    data = make_lifting_set(mocap_path, layout, subjects, frame_step=DETECTION_FRAME_STEP, camera_kind=camera_kind,
                            noise=noise, seed=seed)
    error = np.linalg.norm(data["kp2d"] - project(data["pose3d"], data["K"]), axis=-1)
    scale = data["K"][:, 0, 0] * PERSON_HEIGHT_M / np.median(data["pose3d"][..., 2], axis=-1)
    detected = data["conf"] > 0
    parts = {}
    for name, part in get_layout(layout).parts.items():
        seen = detected[:, part]
        parts[name] = {"detected": float(seen.mean()),
                       "median_error_px": float(np.median(error[:, part][seen])) if seen.any() else None,
                       "median_error_per_person_size": float(np.median((error[:, part] / scale[:, None])[seen]))
                       if seen.any() else None,
                       "mean_confidence_detected": float(data["conf"][:, part][seen].mean()) if seen.any() else None}
    return {"samples": len(data["kp2d"]), "camera_kind": camera_kind, "noise": noise, "parts": parts}


def format_statistics(stats: dict) -> str:
    """A readable table of :func:`dataset_statistics`; face and hand bones are summarised per part."""
    lines = [f"{'subject':8} {'sequences':>9} {'frames':>9} {'minutes':>8}"]
    for subject, entry in list(stats["subjects"].items()) + [("total", stats["total"])]:
        lines.append(f"{subject:8} {entry['sequences']:9d} {entry['frames']:9d} {entry['seconds'] / 60:8.1f}")
    lines.append("")
    lines.append(f"bone lengths ({stats['layout']}), cm: mean, sd over all frames, largest sd within a sequence")
    groups: dict[str, list[dict]] = {}
    for bone in stats["bones"]:
        child = bone["child"]
        group = "face" if child.startswith("face_") else child[:child.index("_hand_") + 5] \
            if "_hand_" in child else None
        if group is None:
            lines.append(f"  {bone['parent'] + ' - ' + child:40} {100 * bone['mean_m']:6.1f} "
                         f"{100 * bone['sd_m']:6.2f} {100 * bone['max_within_sequence_sd_m']:6.2f}")
        else:
            groups.setdefault(group, []).append(bone)
    for group, bones in groups.items():
        mean = np.array([b["mean_m"] for b in bones])
        within = np.array([b["max_within_sequence_sd_m"] for b in bones])
        lines.append(f"  {group + f' ({len(bones)} bones)':40} {100 * mean.mean():6.1f} (range {100 * mean.min():.1f}"
                     f"-{100 * mean.max():.1f}); largest within-sequence sd {100 * within.max():.2f}")
    detections = stats.get("detections")
    if detections:
        lines.append("")
        lines.append(f"synthetic 2D detections ({detections['samples']} samples, cameras {detections['camera_kind']}, "
                     f"noise {detections['noise']}): detected, median error px, / person size, mean confidence")
        for name, part in detections["parts"].items():
            if part["median_error_px"] is None:
                lines.append(f"  {name:8} {part['detected']:6.1%}")
                continue
            lines.append(f"  {name:8} {part['detected']:6.1%} {part['median_error_px']:7.2f} "
                         f"{part['median_error_per_person_size']:8.4f} {part['mean_confidence_detected']:6.2f}")
    return "\n".join(lines)


def generation_speed(mocap_path: str | Path, subjects=None, *, layout: str = "wholebody133",
                     camera_kind: str = "mixed", noise: str = "detector", seed: int = 0) -> dict:
    """Wall-clock time to load the motion and to build a lifting set (every 5th frame, one camera) and a sequence
    set (27-frame windows at 25 Hz) for ``subjects``, on this machine.
    """
    subjects = normalise_subjects(subjects) or None
    start = time.perf_counter()
    load_h36m(mocap_path, subjects)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    lifting = make_lifting_set(mocap_path, layout, subjects, frame_step=5, camera_kind=camera_kind, noise=noise,
                               seed=seed)
    lifting_s = time.perf_counter() - start - load_s
    start = time.perf_counter()
    windows = make_sequence_set(mocap_path, layout, subjects, window=27, fps=25.0, camera_kind=camera_kind,
                                noise=noise, seed=seed)
    sequence_s = time.perf_counter() - start - load_s
    lifting_n, sequence_frames = len(lifting["pose3d"]), int(np.prod(windows["pose3d"].shape[:2]))
    return {
        "layout": layout, "camera_kind": camera_kind, "noise": noise,
        "subjects": list(subjects) if subjects else "all",
        "load_s": round(load_s, 3),
        "lifting_samples": lifting_n, "lifting_s": round(lifting_s, 3),
        "lifting_samples_per_s": round(lifting_n / max(lifting_s, 1e-9)),
        "sequence_frames": sequence_frames, "sequence_s": round(sequence_s, 3),
        "sequence_frames_per_s": round(sequence_frames / max(sequence_s, 1e-9)),
        "note": "single process, numpy; times exclude loading the motion file",
    }
