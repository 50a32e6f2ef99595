"""`pose3d data ...`: look at, count and cache the synthetic training data."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from pose3d_ros.cli import write_json_report

LOG = logging.getLogger("pose3d.data")
DEFAULT_MOCAP = "../shared/data/mocap/h36m_positions_32j_50hz.npz"


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mocap", default=DEFAULT_MOCAP, help="Human3.6M 32-joint motion file (.npz)")
    parser.add_argument("--subjects", default="S1,S5,S6,S7,S8", help="comma-separated subjects (default: training)")
    parser.add_argument("--layout", default="wholebody133", choices=("wholebody133", "h36m17"))
    parser.add_argument("--camera-kind", default="mixed", choices=("h36m", "robot", "mixed", "mounts"))
    parser.add_argument("--noise", default="detector", choices=("none", "detector"))
    parser.add_argument("--seed", type=int, default=0)


def register(add_command) -> None:
    preview = add_command("data preview", run_preview,
                          "render synthetic samples (3D view, face and hands close up, 2D detections) as PNG")
    _add_source_arguments(preview)
    preview.add_argument("--out", required=True, type=Path, help="output folder")
    preview.add_argument("--count", type=int, default=4, help="number of samples")

    stats = add_command("data stats", run_stats,
                        "print sequence counts, bone lengths and the synthetic 2D detections' statistics")
    _add_source_arguments(stats)
    stats.add_argument("--json", type=Path, help="also write the statistics to this JSON file")

    cache = add_command("data cache", run_cache, "generate a lifting or sequence set and save it as .npz")
    _add_source_arguments(cache)
    cache.add_argument("--out", required=True, type=Path, help="output .npz file")
    cache.add_argument("--kind", default="lifting", choices=("lifting", "sequence"))
    cache.add_argument("--frame-step", type=int, default=5, help="lifting: use every n-th 50 Hz frame")
    cache.add_argument("--cameras-per-pose", type=int, default=1, help="lifting: random cameras per pose")
    cache.add_argument("--window", type=int, default=27, help="sequence: frames per window")
    cache.add_argument("--fps", type=float, default=25.0, help="sequence: frame rate")
    cache.add_argument("--no-occlusion", action="store_true", help="sequence: no occlusion runs")

    h3wb = add_command("data h3wb-score", run_h3wb_score,
                       "score H3WB predictions (official JSON format) with the official metric, in millimetres")
    h3wb.add_argument("--pred", required=True, type=Path, help="predictions JSON (submission format)")
    h3wb.add_argument("--truth", required=True, type=Path, help="H3WB JSON with 3D keypoints, e.g. 2Dto3D_train.json")
    h3wb.add_argument("--fold", type=int, choices=range(1, 6), help="score only this cross-validation fold's samples")
    h3wb.add_argument("--json", type=Path, help="also write the errors to this JSON file")

    bench = add_command("bench data", run_bench, "measure how fast training samples are generated")
    _add_source_arguments(bench)
    bench.add_argument("--json", type=Path, help="also write the result to this JSON file")


def run_preview(args) -> int:
    from .preview import render_previews

    paths = render_previews(args.mocap, args.out, layout=args.layout, subjects=args.subjects, count=args.count,
                            camera_kind=args.camera_kind, noise=args.noise, seed=args.seed)
    for path in paths:
        print(path)
    return 0


def run_stats(args) -> int:
    from .stats import dataset_statistics, detection_statistics, format_statistics

    stats = dataset_statistics(args.mocap, args.subjects, layout=args.layout, seed=args.seed)
    stats["detections"] = detection_statistics(args.mocap, args.subjects, layout=args.layout,
                                               camera_kind=args.camera_kind, noise=args.noise, seed=args.seed)
    print(format_statistics(stats))
    write_json_report(args.json, stats)
    return 0


def run_cache(args) -> int:
    from .sets import make_lifting_set, make_sequence_set, save_set

    common = dict(camera_kind=args.camera_kind, noise=args.noise, seed=args.seed)
    if args.kind == "lifting":
        data = make_lifting_set(args.mocap, args.layout, args.subjects, frame_step=args.frame_step,
                                cameras_per_pose=args.cameras_per_pose, **common)
    else:
        data = make_sequence_set(args.mocap, args.layout, args.subjects, window=args.window, fps=args.fps,
                                 occlusion=not args.no_occlusion, **common)
    settings = {k: v for k, v in vars(args).items() if k not in ("run", "command", "subcommand", "out", "verbose")}
    save_set(args.out, data, {key: str(value) for key, value in settings.items()})
    print(f"wrote {args.out}: " + ", ".join(f"{k} {tuple(v.shape)}" for k, v in data.items()))
    return 0


def run_h3wb_score(args) -> int:
    from .h3wb import score_h3wb_files

    errors = score_h3wb_files(args.pred, args.truth, args.fold)
    for name, value in errors.items():
        print(f"{name:14} {value:8.1f} mm")
    write_json_report(args.json, errors)
    return 0


def run_bench(args) -> int:
    from .stats import generation_speed

    result = generation_speed(args.mocap, args.subjects, layout=args.layout, camera_kind=args.camera_kind,
                              noise=args.noise, seed=args.seed)
    print(json.dumps(result, indent=2))
    write_json_report(args.json, result)
    return 0
