"""`pose3d train lifter`, `pose3d eval lifter`, `pose3d bench lifter` (heavy imports inside the run functions)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path

from pose3d_ros.cli import write_json_report

LOG = logging.getLogger("pose3d.lifting")
NOISE_CHOICES = ("none", "detector", "both")
BODY_EXPERT_HELP = ("a whole-body lifter's body expert (lifting/body_expert.py), or none; default: the shipped one "
                    "with the shipped whole-body lifter, none with --weights")


def _key_values(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def _typed_overrides(pairs: list[tuple[str, str]], defaults, what: str) -> dict:
    """``[("dim", "48")]`` -> ``{"dim": 48}``, typed like the fields of the dataclass instance ``defaults``."""
    fields = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(defaults)}
    out = {}
    for key, value in pairs:
        if key not in fields:
            raise ValueError(f"{what} has no setting {key!r}; it has {', '.join(fields)}")
        kind = type(fields[key])
        if kind is bool:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"{what} setting {key} takes true/false, got {value!r}")
            out[key] = value.lower() in ("true", "1", "yes")
        else:
            try:
                out[key] = kind(value)
            except ValueError as err:
                raise ValueError(f"{what} setting {key} takes a {kind.__name__}, got {value!r}") from err
    return out


def _add_data_arguments(parser: argparse.ArgumentParser, subjects_flag: str, subjects: str, *, noise: str,
                        seed: int) -> None:
    from ..camera import CAMERA_KINDS

    parser.add_argument("--data", type=Path, required=True,
                        help="Human3.6M motion file (h36m_positions_32j_50hz.npz); for eval also H3WB .json/.npz")
    parser.add_argument("--frame-step", type=int, default=5, help="use every N-th 50 Hz frame (default 5)")
    parser.add_argument("--cameras-per-pose", type=int, default=1, help="random cameras per pose (default 1)")
    parser.add_argument("--camera-kind", choices=CAMERA_KINDS, default="mixed",
                        help="synthetic cameras (default mixed; mounts: also level robot cameras 0.3-1.5 m high with "
                        "people anywhere in the picture and overhead cameras pitched 20-60 degrees down)")
    parser.add_argument("--body-heights", type=_height_range, metavar="MIN,MAX",
                        help="scale each body to a random standing height in this range, metres (e.g. 1.5,1.95; "
                        "default: the motion file's one body, 1.72 m)")
    parser.add_argument("--noise", choices=NOISE_CHOICES, default=noise,
                        help=f"2D input: exact projections, the detector model, or both sets (default {noise})")
    parser.add_argument("--seed", type=int, default=seed, help=f"data seed (default {seed})")
    parser.add_argument(subjects_flag, default=subjects, help=f"comma-separated subjects (default {subjects})")


def _height_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(value) for value in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX in metres, got {text!r}") from None
    if not 0.5 <= low <= high <= 2.5:
        raise argparse.ArgumentTypeError(f"need 0.5 <= MIN <= MAX <= 2.5 m, got {text!r}")
    return low, high


def _lifting_data(args, layout: str, subjects: str, h36m17_targets: bool = False) -> tuple[dict, dict]:
    """The lifting set described by the command line (both noise kinds concatenated for ``--noise both``)."""
    import numpy as np

    from ..data import make_lifting_set

    kinds = ("none", "detector") if args.noise == "both" else (args.noise,)
    sets = [make_lifting_set(args.data, layout, subjects, frame_step=args.frame_step,
                             cameras_per_pose=args.cameras_per_pose, camera_kind=args.camera_kind, noise=kind,
                             body_heights_m=args.body_heights, h36m17_targets=h36m17_targets, seed=args.seed + k)
            for k, kind in enumerate(kinds)]
    data = {key: np.concatenate([s[key] for s in sets]) for key in sets[0]}
    record = {"mocap": str(args.data), "subjects": subjects, "frame_step": args.frame_step,
              "cameras_per_pose": args.cameras_per_pose, "camera_kind": args.camera_kind, "noise": args.noise,
              "body_heights_m": args.body_heights, "seed": args.seed, "samples": int(len(data["kp2d"]))}
    return data, record


# ------------------------------------------------------------------------------------------------------------------


def run_train(args) -> int:
    import torch

    from ..inference import resolve_device
    from .config import ARCHITECTURE_CONFIGS, LifterConfig
    from .losses import LossWeights
    from .training import TrainOptions, prepare_samples, train_lifter

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.body_expert and args.layout != "h36m17":
        raise ValueError("--body-expert trains an h36m17 lifter (--layout h36m17)")
    started = time.perf_counter()
    if args.body_expert:
        train_data, train_record = _body_expert_data(args, args.train_subjects)
        input_map = train_data.pop("input_map")
        val_data, val_record = _body_expert_data(args, args.val_subjects, input_map)
    else:
        input_map = None
        train_data, train_record = _lifting_data(args, args.layout, args.train_subjects)
        val_data, val_record = _lifting_data(args, args.layout, args.val_subjects)
    architecture = _typed_overrides(args.arch, ARCHITECTURE_CONFIGS[args.model](), args.model)
    config = LifterConfig.create(args.model, args.layout, distance=not args.no_distance, confidence=args.confidence,
                                 part_offsets=args.part_offsets, gravity=args.gravity, input_map=input_map,
                                 **architecture)
    loss = LossWeights(**_typed_overrides(args.loss, LossWeights(), "the loss"))
    options = TrainOptions(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                           weight_decay=args.weight_decay, loss=loss, flip_augment=not args.no_flip_augment,
                           seed=args.seed, max_val_samples=args.max_val_samples,
                           gravity_dropout=args.gravity_dropout)
    device = resolve_device(args.device)
    correction = not args.no_perspective_correction
    train = prepare_samples(train_data, config.skeleton, perspective_correction=correction)
    val = prepare_samples(val_data, config.skeleton, perspective_correction=correction)
    del train_data, val_data
    LOG.info("data ready in %.0f s: %d training, %d validation samples", time.perf_counter() - started,
             len(train), len(val))
    out = args.out or Path("runs") / f"lifter_{args.model}_{args.layout}"
    train_lifter(config, train, val, options, out, resume=args.resume, device=device,
                 progress=not args.no_progress, init_weights=args.init_weights,
                 data_record={"train": train_record, "validation": val_record, "perspective_correction": correction})
    print(f"weights: {out / 'lifter.safetensors'} (+ .json); curves: {out / 'curves.png'}")
    return 0


def _body_expert_data(args, subjects: str, input_map=None) -> tuple[dict, dict]:
    """A body expert's lifting set: whole-body 2D mapped to H36M-17 (:mod:`.body_expert`) -> H36M-17 3D of the same
    people. Without ``input_map`` the map is fitted on these samples' exact projections (returned as
    ``input_map``), so the training set fits it and the validation set reuses it.
    """
    import numpy as np

    from ..camera import project
    from .body_expert import BODY_SOURCES, body_keypoints, fit_input_map

    data, record = _lifting_data(args, "wholebody133", subjects, h36m17_targets=True)
    body3d = data.pop("pose3d_h36m17")
    fitted = input_map is None
    if fitted:  # on the people wholly in the picture (mounts puts some partly behind the camera)
        wholebody_px, body_px = project(data["pose3d"], data["K"]), project(body3d, data["K"])
        in_view = np.ones(len(body3d), bool)
        for pose, pixels in ((data["pose3d"][:, :BODY_SOURCES], wholebody_px[:, :BODY_SOURCES]), (body3d, body_px)):
            in_view &= (pose[..., 2] > 0.1).all(-1) & (pixels >= 0).all((-1, -2)) & (
                pixels < data["image_size"][:, None]).all((-1, -2))
        input_map = fit_input_map(wholebody_px[in_view], body_px[in_view])
    kp2d, conf = body_keypoints(input_map, data["kp2d"], data["conf"])
    out = {**data, "kp2d": kp2d, "conf": conf, "pose3d": body3d}
    if fitted:
        out["input_map"] = input_map
    return out, {**record, "inputs": "wholebody133 2D through the body expert's input map"}


def _expert_name(args, lifter) -> str:
    return "none" if lifter.body_expert is None else str(args.body_expert or "shipped")


def _is_h3wb(path: Path) -> bool:
    """H3WB files: the official JSON, or the official npz (a ``train_data`` entry), told apart from the mocap file."""
    import numpy as np

    if path.suffix == ".json":
        return True
    try:
        with np.load(path, allow_pickle=False) as archive:
            return "train_data" in archive.files
    except (OSError, ValueError):
        return False


def _h3wb_data(args) -> tuple[dict, dict]:
    """The H3WB protocol's samples: a JSON file (with ``--fold``, that fold's validation part) or the npz file
    (``--subjects``). Samples without camera intrinsics get the mean Human3.6M camera's (only the 2D shape and
    the view direction reach the lifter, so the approximation is small).
    """
    import numpy as np

    from ..data.h3wb import H36M_CAMERAS, cross_validation_split, load_h3wb_json, load_h3wb_npz

    if args.data.suffix == ".json":
        data = load_h3wb_json(args.data)
        if args.fold:
            data = {key: value[cross_validation_split(len(data["ids"]), args.fold)[1]] for key, value in data.items()}
    else:
        sequences = list(load_h3wb_npz(args.data, args.subjects).values())
        data = {key: np.concatenate([s[key] for s in sequences]) for key in ("kp2d", "conf", "pose3d")}
        data["K"] = np.concatenate([np.broadcast_to(s["K"], (len(s["kp2d"]), 3, 3)) for s in sequences])
    if "kp2d" not in data:
        raise ValueError(f"{args.data} has no 2D keypoints to lift")
    if "K" not in data:
        cameras = H36M_CAMERAS.values()
        fx, fy = (float(np.mean([c["f"][i] for c in cameras])) for i in (0, 1))
        cx, cy = (float(np.mean([c["c"][i] for c in cameras])) for i in (0, 1))
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], np.float32)
        data["K"] = np.broadcast_to(K, (len(data["kp2d"]), 3, 3))
    record = {"h3wb": str(args.data), "fold": args.fold or None, "samples": int(len(data["kp2d"]))}
    return data, record


def run_eval(args) -> int:
    import numpy as np
    import torch

    from .evaluation import evaluate_lifter, predict_only
    from .lifter import Lifter

    if args.threads:
        torch.set_num_threads(args.threads)
    lifter = Lifter.load(args.weights, device=args.device, body_expert=args.body_expert,
                         flip_test=not args.no_flip_test, perspective_correction=not args.no_perspective_correction)
    if args.setups:
        return _run_setups(args, lifter)
    h3wb = _is_h3wb(args.data)
    if h3wb:
        data, record = _h3wb_data(args)
        if lifter.layout.name != "wholebody133":
            raise ValueError(f"H3WB files hold 133-joint poses; {args.weights} lifts {lifter.layout.name}")
    else:
        data, record = _lifting_data(args, lifter.layout.name, args.subjects)
    if args.max_frames and len(data["kp2d"]) > args.max_frames:
        keep = np.linspace(0, len(data["kp2d"]) - 1, args.max_frames).round().astype(int)
        data = {key: value[keep] for key, value in data.items()}
        record["samples"] = int(args.max_frames)
    if args.h3wb_predictions:
        if "ids" not in data:
            raise ValueError("--h3wb-predictions needs an H3WB JSON file (its sample ids)")
        from ..data.h3wb import write_h3wb_predictions

        write_h3wb_predictions(args.h3wb_predictions, data["ids"], predict_only(lifter, data))
        print(f"wrote H3WB predictions for {len(data['ids'])} samples to {args.h3wb_predictions}")
    if "pose3d" not in data:
        return 0
    metrics, _ = evaluate_lifter(lifter, data, placement=not h3wb, gravity=not args.gravity_unknown)
    report = {"weights": str(args.weights or "shipped default"), "body_expert": _expert_name(args, lifter),
              "model": lifter.config.model,
              "layout": lifter.layout.name, "flip_test": not args.no_flip_test,
              "perspective_correction": not args.no_perspective_correction,
              "gravity": lifter.uses_gravity and not args.gravity_unknown,
              "protocol": "h3wb" if h3wb else "synthetic views of Human3.6M motion", "data": record, **metrics}
    pose = ", ".join(f"{k} {v:.1f}" for k, v in metrics["pose_mm"].items())
    source = record.get("subjects", record.get("h3wb"))
    noise = "" if h3wb else f", noise {args.noise}"
    print(f"{lifter.config.model} / {lifter.layout.name} on {source} ({metrics['samples']} samples{noise}): "
          f"MPJPE {pose} mm")
    if "placement" in metrics:
        place = metrics["placement"]
        print(f"root placement: depth error {place['depth_error_mm']:.0f} mm "
              f"({place['relative_depth_error_percent']:.1f} %), translation error "
              f"{place['translation_error_mm']:.0f} mm")
    write_json_report(args.json, report)
    return 0


def _run_setups(args, lifter) -> int:
    """``eval lifter --setups``: the camera set-ups of issue #17, the perspective correction off and on."""
    from ..data import make_setup_sets
    from .evaluation import evaluate_setups

    sets = make_setup_sets(args.data, lifter.layout.name, args.subjects, frame_step=args.frame_step,
                           max_samples=args.max_frames, noise=args.noise, seed=args.seed)
    report = evaluate_setups(lifter, sets)
    samples = len(next(iter(sets.values()))["kp2d"])
    runs = list(next(iter(report.values())))
    titles = {"off": "perspective correction off", "on": "on", "on_gravity": "on with the up direction known"}
    print(f"{lifter.config.model} / {lifter.layout.name} on {args.subjects} ({samples} samples per set-up, noise "
          f"{args.noise}): {' -> '.join(titles[run] for run in runs)}")
    width = 8 * len(runs)
    print(f"  {'set-up':18s} " + " ".join(f"{title:>{width}s}" for title in (
        "MPJPE mm", "body-17 mm", "torso lean deg", "pelvis depth mm")))
    for name, result in report.items():
        cells = [" -> ".join(f"{result[run][key]:.1f}" for run in runs)
                 for key in ("mpjpe_mm", "body17_mm", "torso_lean_deg", "pelvis_depth_error_mm")]
        print(f"  {name:18s} " + " ".join(f"{cell:>{width}s}" for cell in cells))
    if args.json:
        record = {"mocap": str(args.data), "subjects": args.subjects, "frame_step": args.frame_step,
                  "max_frames": args.max_frames, "noise": args.noise, "seed": args.seed, "samples": samples}
        write_json_report(args.json, {"weights": str(args.weights or "shipped default"),
                                      "body_expert": _expert_name(args, lifter),
                                      "model": lifter.config.model, "layout": lifter.layout.name,
                                      "flip_test": not args.no_flip_test, "data": record, "setups": report})
    return 0


def run_eval_placement(args) -> int:
    """``eval placement``: pelvis depth error across statures, least squares / known height / depth (issue #17)."""
    import numpy as np
    import torch

    from ..camera import CAMERA_SETUPS
    from ..data import make_setup_sets
    from .evaluation import evaluate_placement
    from .lifter import Lifter

    if args.threads:
        torch.set_num_threads(args.threads)
    heights = tuple(float(h) for h in args.heights.split(","))
    lifter = Lifter.load(args.weights, device=args.device, body_expert=args.body_expert,
                         flip_test=not args.no_flip_test)
    sets = make_setup_sets(args.data, lifter.layout.name, args.subjects, frame_step=args.frame_step,
                           max_samples=args.max_frames, noise="none", seed=args.seed)
    # Each pose once, the set-ups taking turns: every camera set-up, the same number of poses each.
    names = list(CAMERA_SETUPS)
    data = {key: np.concatenate([sets[name][key][k::len(names)] for k, name in enumerate(names)])
            for key in ("pose3d", "K", "image_size")}
    started = time.perf_counter()
    report = evaluate_placement(lifter, data, heights, occluded=args.occluded, lost=args.lost,
                                noise_fraction=args.noise_fraction, seed=args.seed)
    print(f"{lifter.config.model} / {lifter.layout.name} on {args.subjects}, {report['samples']} poses (camera "
          f"set-ups {', '.join(names)} in turn, exact 2D), depth scenes {report['scenes']}, depth noise "
          f"{100 * args.noise_fraction:.1f} % ({time.perf_counter() - started:.0f} s)")
    print("pelvis depth error, mean / p95 mm; depth: where placed by depth, and the fallback rate")
    print(f"  {'stature':>7s} {'least squares':>15s} {'known height':>15s} {'depth':>15s} {'clear':>15s} "
          f"{'occluded':>15s} {'fallback':>9s}")
    for height, row in report["heights"].items():
        def cell(errors: dict) -> str:
            return f"{errors['mean']:.0f} / {errors['p95']:.0f}" if errors["count"] else "-"

        depth = row["depth"]
        print(f"  {height:>7s} {cell(row['least_squares']):>15s} {cell(row['known_height']):>15s} "
              f"{cell(depth['placed_by_depth']):>15s} {cell(depth['by_depth_clear']):>15s} "
              f"{cell(depth['by_depth_occluded']):>15s} {100 * depth['fallback_rate']:8.1f}%")
    if args.json:
        record = {"mocap": str(args.data), "subjects": args.subjects, "frame_step": args.frame_step,
                  "max_frames": args.max_frames, "seed": args.seed, "occluded": args.occluded, "lost": args.lost,
                  "noise_fraction": args.noise_fraction, "setups": names}
        write_json_report(args.json, {"weights": str(args.weights or "shipped default"),
                                      "body_expert": _expert_name(args, lifter),
                                      "model": lifter.config.model, "layout": lifter.layout.name,
                                      "flip_test": not args.no_flip_test, "data": record, **report})
    return 0


def run_bench(args) -> int:
    import numpy as np
    import torch

    from ..camera import default_intrinsics, project
    from ..inference import frozen_trace, machine_facts
    from .lifter import Lifter
    from .models import parameter_count
    from .weights_io import DEFAULT_WEIGHTS

    torch.set_num_threads(args.threads)
    weights = args.weights or DEFAULT_WEIGHTS
    lifter = Lifter.load(args.weights, device="cpu", body_expert=args.body_expert)
    rng = np.random.default_rng(0)
    J = lifter.num_joints
    K = default_intrinsics(640, 480)
    # A person-sized random point cloud 3 m in front of the camera: latency does not depend on the pose.
    points = rng.normal(0.0, 0.3, (1, J, 3)) + np.array([0.0, 0.0, 3.0])
    kp2d = project(points, K).astype(np.float32)
    conf = np.ones((1, J), np.float32)

    def p50(fn) -> tuple[float, float]:
        for _ in range(20):
            fn()
        times = []
        for _ in range(args.iterations):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 90) * 1e3)

    results = {}
    for flip in (True, False):
        lifter.flip_test = flip
        results["lift_flip" if flip else "lift_no_flip"] = p50(lambda: lifter.lift(kp2d, conf, K))
    features = torch.zeros(2, J, lifter.config.inputs.channels)
    network = frozen_trace(lifter.model, (features,))
    with torch.inference_mode():
        results["network_batch2"] = p50(lambda: network(features))
    report = {"weights": str(weights), "body_expert": _expert_name(args, lifter), "model": lifter.config.model,
              "layout": lifter.layout.name, "joints": J,
              "parameters": parameter_count(lifter.model), "iterations": args.iterations, **machine_facts(),
              "latency_ms": {name: {"p50": v[0], "p90": v[1]} for name, v in results.items()}}
    print(f"{lifter.config.model} / {lifter.layout.name}: {report['parameters']} parameters, "
          f"{torch.get_num_threads()} thread(s), batch 1 ({J} joints), load average {report['load_average_1min']:.1f} "
          f"on {report['cpu_count']} CPUs:")
    for name, (median, p90) in results.items():
        print(f"  {name:15s} p50 {median:6.2f} ms   p90 {p90:6.2f} ms")
    write_json_report(args.json, report)
    return 0


# ------------------------------------------------------------------------------------------------------------------


def register(add_command) -> None:
    from .config import LIFTING_LAYOUTS, MODEL_KINDS

    train = add_command("train lifter", run_train, "train a 2D->3D lifter (SemGAN or a baseline) on Human3.6M motion")
    train.add_argument("--layout", choices=LIFTING_LAYOUTS, default="wholebody133")
    train.add_argument("--model", choices=MODEL_KINDS, default="semgan")
    _add_data_arguments(train, "--train-subjects", "S1,S5,S6,S7,S8", noise="detector", seed=0)
    train.add_argument("--val-subjects", default="S9", help="watched during training, never used to pick a model")
    train.add_argument("--out", type=Path, help="output folder (default runs/lifter_MODEL_LAYOUT)")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=200)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--weight-decay", type=float, default=1e-2)
    train.add_argument("--arch", type=_key_values, nargs="*", default=[], metavar="KEY=VALUE",
                       help="architecture settings, e.g. dim=64 depth=4 heads=2 decoder=false (see lifting/config.py)")
    train.add_argument("--loss", type=_key_values, nargs="*", default=[], metavar="KEY=VALUE",
                       help="loss weights: position, error, normal, bone (e.g. normal=0 bone=0)")
    train.add_argument("--no-distance", action="store_true", help="drop the distance-to-parent input channel")
    train.add_argument("--confidence", action="store_true", help="add the 2D confidence as an input channel")
    train.add_argument("--part-offsets", action="store_true",
                       help="add each face/hand joint's 2D offset from its nose/wrist as input channels")
    train.add_argument("--gravity", action="store_true",
                       help="add the gravity input: the world's up direction in the camera frame, with a known flag")
    train.add_argument("--gravity-dropout", type=float, default=0.5,
                       help="fraction of training samples whose gravity input is withheld (default 0.5)")
    train.add_argument("--init-weights", type=Path, metavar="FILE",
                       help="start from this trained lifter (the same network, without the gravity input or with "
                       "it) instead of a fresh one")
    train.add_argument("--body-expert", action="store_true",
                       help="train an h36m17 body expert for the whole-body lifter: whole-body 2D mapped to H36M-17 "
                       "(the map fitted on the training set) -> H36M-17 3D (lifting/body_expert.py)")
    train.add_argument("--no-flip-augment", action="store_true", help="do not mirror half of each batch")
    train.add_argument("--no-perspective-correction", action="store_true",
                       help="train on the real cameras' views, not each person's virtual camera (the lifters shipped "
                       "before issue #17)")
    train.add_argument("--max-val-samples", type=int, default=4000)
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    train.add_argument("--device", default="auto", help="auto | cuda | cpu (default auto)")
    train.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    evaluate = add_command("eval lifter", run_eval, "MPJPE of a lifter on synthetic views of Human3.6M motion, or "
                           "on H3WB files (the H3WB protocol)")
    evaluate.add_argument("--weights", type=Path, help="lifter .safetensors (default: the shipped wholebody133 one)")
    evaluate.add_argument("--body-expert", metavar="FILE|none", help=BODY_EXPERT_HELP)
    _add_data_arguments(evaluate, "--subjects", "S9", noise="none", seed=1)
    evaluate.add_argument("--fold", type=int, default=0, help="H3WB JSON: score only this fold's validation part")
    evaluate.add_argument("--h3wb-predictions", type=Path, help="H3WB JSON: write an official submission file")
    evaluate.add_argument("--max-frames", type=int, default=0, help="evaluate on at most N samples (evenly spread)")
    evaluate.add_argument("--no-flip-test", action="store_true", help="no flip test-time augmentation")
    evaluate.add_argument("--setups", action="store_true",
                          help="instead: the camera set-ups of pose3d_ros.camera.CAMERA_SETUPS (level, off axis, "
                          "close, overhead), the perspective correction off and on side by side, and for a lifter with "
                          "the gravity input also on with the up direction known (--max-frames poses each)")
    evaluate.add_argument("--no-perspective-correction", action="store_true",
                          help="lift every person as seen by the real camera (the lifter before issue #17)")
    evaluate.add_argument("--gravity-unknown", action="store_true",
                          help="withhold the cameras' up direction from a lifter with the gravity input (--setups "
                          "reports both)")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--threads", type=int, default=0)
    evaluate.add_argument("--json", type=Path, help="write the metrics here")

    placement = add_command("eval placement", run_eval_placement,
                            "pelvis depth error of the camera-frame placement across statures: least squares, "
                            "a known height, synthetic depth images with holes, noise and occluders (issue #17)")
    placement.add_argument("--weights", type=Path, help="lifter .safetensors (default: the shipped wholebody133)")
    placement.add_argument("--body-expert", metavar="FILE|none", help=BODY_EXPERT_HELP)
    placement.add_argument("--data", type=Path, required=True, help="Human3.6M motion file")
    placement.add_argument("--subjects", default="S9")
    placement.add_argument("--frame-step", type=int, default=5, help="use every N-th 50 Hz frame (default 5)")
    placement.add_argument("--max-frames", type=int, default=1000, help="poses (evenly spread; default 1000)")
    placement.add_argument("--heights", default="1.50,1.65,1.80,1.95", help="statures in metres, comma-separated")
    placement.add_argument("--occluded", type=float, default=0.3, help="fraction with a box in front (default 0.3)")
    placement.add_argument("--lost", type=float, default=0.1, help="fraction without depth on the torso (0.1)")
    placement.add_argument("--noise-fraction", type=float, default=0.015,
                           help="depth noise, a fraction of the depth (default 0.015)")
    placement.add_argument("--seed", type=int, default=1)
    placement.add_argument("--no-flip-test", action="store_true")
    placement.add_argument("--device", default="auto")
    placement.add_argument("--threads", type=int, default=1)
    placement.add_argument("--json", type=Path, help="write the report here")

    bench = add_command("bench lifter", run_bench, "batch-1 CPU latency and parameter count of a lifter")
    bench.add_argument("--weights", type=Path, help="lifter .safetensors (default: the shipped wholebody133 one)")
    bench.add_argument("--body-expert", metavar="FILE|none", help=BODY_EXPERT_HELP)
    bench.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    bench.add_argument("--iterations", type=int, default=300)
    bench.add_argument("--json", type=Path)
