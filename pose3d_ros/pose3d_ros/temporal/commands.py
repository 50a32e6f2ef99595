"""``pose3d train temporal``, ``pose3d eval temporal`` and ``pose3d bench temporal`` (heavy imports inside)."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path

from pose3d_ros.cli import write_json_report

from . import (
    DEFAULT_LOOKAHEAD,
    DEFAULT_MAX_GAP,
    DEFAULT_OFFLINE_MAX_GAP_S,
    DEFAULT_ROOT_BANDWIDTH_S,
    ONE_EURO_BETA,
    ONE_EURO_MIN_CUTOFF,
)

LOG = logging.getLogger("pose3d.temporal")

DEFAULT_TRAIN_SUBJECTS = "S1,S5,S6,S7,S8"


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"widths must be five comma-separated integers, got {text!r}") from None
    if len(widths) != 5:
        raise argparse.ArgumentTypeError(f"widths must be five comma-separated integers, got {text!r}")
    return widths


def _add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, help="Human3.6M motion file (h36m_positions_32j_50hz.npz)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--lifter", type=Path, default=None,
                        help="lifter weights whose output the refiner sees (default: the shipped lifter)")
    source.add_argument("--synthetic-errors", action="store_true",
                        help="use the documented stand-in error model instead of a trained lifter")
    parser.add_argument("--cache", type=Path, default=None,
                        help=".npz of the lifted sequences: read if it exists, else written (saves re-lifting)")
    parser.add_argument("--sequence-stride", type=int, default=None,
                        help="frames between the starts of sequences (default: back to back; larger = fewer to lift)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cache_key(args, layout: str, subjects: str, window: int, fps: float, seed: int) -> dict:
    """Everything that decides what the sequences hold; the lifter by the SHA-256 of its weights file and the lift's
    revision, so that a cache made with another lifter (an older version of the same file, or an older lift) is
    never read as this one's output.
    """
    inputs = "synthetic errors"
    if not args.synthetic_errors:
        from ..lifting.lifter import LIFT_REVISION
        from ..lifting.weights_io import DEFAULT_BODY_EXPERT, DEFAULT_WEIGHTS
        from ..weights_file import tensors_path

        weights = tensors_path(args.lifter or DEFAULT_WEIGHTS)
        if not weights.is_file():
            raise FileNotFoundError(f"lifter weights {weights} not found")
        inputs = f"lift revision {LIFT_REVISION}, lifter sha256 " + _sha256(weights)
        if args.lifter is None:  # the shipped lifter lifts with its body expert (Lifter.load)
            inputs += " + body expert sha256 " + _sha256(DEFAULT_BODY_EXPERT)
    return {"layout": layout, "fps": fps, "frames": window, "subjects": subjects, "stride": args.sequence_stride,
            "seed": seed, "inputs": inputs}


def _sequences(args, layout: str, subjects: str, window: int, fps: float, seed: int):
    """Lifted (or synthetic) sequences for ``subjects``, through the cache when one is given. ``args.sequence_stride``
    (frames between window starts; None = back to back) thins the set out when lifting everything is too slow.
    """
    from ..data import make_sequence_set
    from .dataset import Sequences, lifted_sequences, synthetic_lifter_errors

    key = cache_key(args, layout, subjects, window, fps, seed)
    if args.cache is not None and args.cache.is_file():
        sequences = Sequences.load(args.cache)
        cached = json.loads(sequences.key) if sequences.key else {}
        differences = [f"{name} {cached.get(name)!r} (asked: {value!r})" for name, value in key.items()
                       if cached.get(name) != value]
        if differences:
            raise ValueError(f"cache {args.cache} holds other sequences than those asked for: "
                             f"{'; '.join(differences)}. Delete it or pick another --cache")
        LOG.info("read %d sequences (%s) from %s", len(sequences), sequences.source, args.cache)
        return sequences
    data = make_sequence_set(args.data, layout, subjects, window=window, fps=fps, stride=args.sequence_stride,
                             seed=seed)
    if args.synthetic_errors:
        sequences = synthetic_lifter_errors(data, layout, fps, seed=seed)
    else:
        from ..lifting import Lifter

        lifter = Lifter.load(args.lifter, device="cpu")
        sequences = lifted_sequences(data, layout, fps, lifter)
        sequences.source = f"lifter {args.lifter or 'shipped'}"
    sequences.key = json.dumps(key)
    if args.cache is not None:
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        sequences.save(args.cache)
    return sequences


def run_train(args) -> int:
    import numpy as np
    import torch

    from ..weights_file import tensors_path
    from .model import UGCNConfig
    from .training import TrainConfig, train
    from .weights import load_weights

    torch.set_num_threads(args.threads)
    model_config = UGCNConfig(layout=args.layout, widths=args.widths, window=args.window, fps=args.fps,
                              temporal_mix=not args.no_temporal_mix, centred=args.offline)
    init = load_weights(args.init)[0] if args.init is not None else None
    config = TrainConfig(steps=args.steps, batch=args.batch, lr=args.lr, occluded_weight=args.occluded_weight,
                         accel_weight=args.accel_weight, eval_every=args.eval_every, seed=args.seed,
                         offline=args.offline, max_gap_s=args.max_gap_s, mirror=args.mirror)
    sequences = _sequences(args, args.layout, args.subjects, args.sequence_window, args.fps, args.seed)
    # Validation: every 20th sequence window (a fixed subset), kept out of training.
    index = np.arange(len(sequences))
    held_out = index % 20 == 0
    LOG.info("%d training and %d validation windows of %d frames (%s)", (~held_out).sum(), held_out.sum(),
             sequences.poses.shape[1], sequences.source)
    # Files by content as well as by name: a shipped file is replaced by the next version under the same name.
    init_record = f"{args.init} (sha256 {_sha256(tensors_path(args.init))})" if args.init else None
    record = {"data": {"subjects": args.subjects, "fps": args.fps, "sequence_window": args.sequence_window,
                       "sequence_stride": args.sequence_stride, "inputs": sequences.source,
                       "key": json.loads(sequences.key), "windows": int(len(sequences))},
              "threads": args.threads, "init": init_record}
    _, history = train(sequences.subset(index[~held_out]), sequences.subset(index[held_out]), model_config,
                       config, args.out, resume=args.resume, init=init, name=args.name, record=record)
    last = history[-1]
    accel = "window" if args.offline else "L0"
    print(f"trained {args.steps} steps: validation MPJPE {1000 * last['model_all']:.1f} mm "
          f"(input {1000 * last['input_all']:.1f}), unobserved joints {1000 * last['model_unobserved']:.1f} mm "
          f"(input {1000 * last['input_unobserved']:.1f}), acceleration error ({accel}) "
          f"{1000 * last[f'model_accel_{accel}']:.1f} mm/frame^2 (input {1000 * last[f'input_accel_{accel}']:.1f}); "
          f"weights in {args.out / (args.name + '.safetensors')}")
    return 0


def run_eval(args) -> int:
    import torch

    from .evaluation import evaluate, target_ratios
    from .offline import OfflineRefiner
    from .streaming import StreamingRefiner
    from .weights import load_weights

    torch.set_num_threads(args.threads)
    model, _ = load_weights(args.weights)
    fps = args.fps or model.config.fps
    sequences = _sequences(args, model.config.layout, args.subjects, args.sequence_window, fps, args.seed)
    lookaheads = sorted({0, args.lookahead})
    refiners = {L: StreamingRefiner(model, lookahead=L, max_gap=args.max_gap, max_people=len(sequences),
                                    root_bandwidth_s=args.root_bandwidth, device="cpu") for L in lookaheads}
    # Hundreds of sequences give hundreds of give-up lines: they are counted in the JSON instead.
    logging.getLogger("pose3d_ros.temporal.streaming").setLevel(logging.WARNING)
    offline = None
    if args.offline:
        offline = OfflineRefiner.load(args.offline_weights, max_gap_s=args.offline_max_gap_s,
                                      root_bandwidth_s=args.root_bandwidth, flip_test=not args.offline_no_flip_test,
                                      device="cpu")
        if offline.layout.name != model.config.layout or offline.fps != model.config.fps:
            raise ValueError(f"the offline refiner ({offline.layout.name}, {offline.fps} Hz) does not match the "
                             f"streaming one ({model.config.layout}, {model.config.fps} Hz)")
    result = evaluate(sequences, refiners, args.max_gap, (args.one_euro_min_cutoff, args.one_euro_beta), offline)
    result["events"] = {f"L{L}": dict(refiner.events) for L, refiner in refiners.items()}
    result["targets"] = {f"L{L}": target_ratios(result["methods"], f"ugcn_L{L}") for L in lookaheads}
    if offline is not None:
        result["events"]["offline"] = dict(offline.events)
        result["targets"]["offline"] = target_ratios(result["methods"], "ugcn_offline")
    result["settings"] = {"weights": str(args.weights or "shipped"), "subjects": args.subjects, "fps": fps,
                          "model_fps": model.config.fps, "window": model.config.window, "lookaheads": lookaheads,
                          "max_gap": args.max_gap, "sequences": len(sequences), "root_bandwidth_s": args.root_bandwidth,
                          "one_euro": {"min_cutoff_hz": args.one_euro_min_cutoff, "beta": args.one_euro_beta},
                          "sequence_frames": args.sequence_window, "sequence_stride": args.sequence_stride,
                          "inputs": sequences.source}
    if offline is not None:
        result["settings"]["offline"] = {"weights": str(args.offline_weights or "shipped"), "window": offline.window,
                                         "hop": offline.hop, "max_gap_s": offline.max_gap_s,
                                         "chunk_frames": offline.chunk_frames, "flip_test": offline.flip_test}
    _print_table(result)
    write_json_report(args.json, result)
    return 0


def _print_table(result: dict) -> None:
    from .evaluation import target_bounds

    keys = ("all", "occluded", "occluded_joints", "missing_frames", "accel", "camera_all")
    print(f"{'method':<12}" + "".join(f"{k:>17}" for k in keys))
    for name, figures in result["methods"].items():
        cells = ("-" if figures.get(k) is None else f"{figures[k]:.1f}" for k in keys)
        print(f"{name:<12}" + "".join(f"{c:>17}" for c in cells))
    raw = result["methods"]["raw"]
    for name, bound in result["smoothing_bounds"].items():
        print(f"oracle smoothing bound, {name.replace('_', ' ')}: all {bound['all']:.1f} "
              f"({bound['all'] / raw['all']:.2f} x raw), occluded joints {bound['occluded_joints']:.1f}")
    for name, ratios in result["targets"].items():
        needed = target_bounds("ugcn_offline" if name == "offline" else f"ugcn_{name}")
        text = ", ".join(f"{k} -" if v is None else
                         f"{k} {v:.4f} (<= {needed[k]}: {'met' if v <= needed[k] else 'NOT met'})"
                         for k, v in ratios.items())
        print(f"targets {name}: {text}")
    if result.get("offline_throughput"):
        rate = result["offline_throughput"]
        print(f"offline refinement: {rate['person_frames_per_s']:.0f} person-frames/s ({rate['person_frames']} "
              f"person-frames in {rate['seconds']:.1f} s, one thread)")


def run_bench(args) -> int:
    import time

    import numpy as np
    import torch

    from ..inference import machine_facts
    from ..skeleton import JointStatus
    from .streaming import StreamingRefiner

    torch.set_num_threads(args.threads)
    if args.offline:
        return _bench_offline(args)
    refiner = StreamingRefiner.load(args.weights, lookahead=args.lookahead, device="cpu")
    joints = refiner.num_joints
    rng = np.random.default_rng(0)
    base = rng.normal(0.0, 0.3, (joints, 3)).astype(np.float32) + np.array([0.0, 0.0, 3.0], np.float32)
    confidence = np.full(joints, 0.9, np.float32)
    status = np.full(joints, JointStatus.OBSERVED, np.uint8)
    status[::3] = JointStatus.INFERRED
    times = []
    for step in range(args.warmup + args.steps):
        positions = base + rng.normal(0.0, 0.01, (joints, 3)).astype(np.float32)
        started = time.perf_counter()
        refiner.push(0, step / refiner.fps, positions, confidence, status)
        if step >= args.warmup:
            times.append(time.perf_counter() - started)
    ms = 1000 * np.array(times)
    result = {"what": "one StreamingRefiner.push for one person (window refined by the network), CPU",
              "layout": refiner.layout.name, "window": refiner.window, "lookahead": args.lookahead,
              "steps": args.steps, "p50_ms": float(np.median(ms)),
              "p90_ms": float(np.percentile(ms, 90)), "mean_ms": float(ms.mean()), "target_p50_ms": 5.0,
              "weights": str(args.weights or "shipped"), **machine_facts()}
    print(f"temporal step ({refiner.layout.name}, window {refiner.window}, {args.threads} thread(s), load average "
          f"{result['load_average_1min']:.1f} on {result['cpu_count']} CPUs): p50 {result['p50_ms']:.2f} ms, "
          f"p90 {result['p90_ms']:.2f} ms over {args.steps} steps (target p50 <= 5 ms)")
    write_json_report(args.json, result)
    return 0


def _bench_offline(args) -> int:
    """Offline refinement of one person's synthetic track of ``args.steps`` frames at 25 Hz: frames per second."""
    import time

    import numpy as np

    from ..inference import machine_facts
    from ..skeleton import JointStatus
    from .offline import OfflineRefiner

    refiner = OfflineRefiner.load(args.weights, device="cpu")
    joints, frames = refiner.num_joints, args.steps
    rng = np.random.default_rng(0)
    base = rng.normal(0.0, 0.3, (joints, 3)).astype(np.float32) + np.array([0.0, 0.0, 3.0], np.float32)
    positions = base + rng.normal(0.0, 0.01, (frames, joints, 3)).astype(np.float32)
    confidence = np.full((frames, joints), 0.9, np.float32)
    status = np.full((frames, joints), JointStatus.OBSERVED, np.uint8)
    status[:, ::3] = JointStatus.INFERRED
    stamps = np.arange(frames) / 25.0
    warm = min(frames, refiner.chunk_frames + 100)
    refiner.refine(stamps[:warm], positions[:warm], confidence[:warm], status[:warm])
    started = time.perf_counter()
    refiner.refine(stamps, positions, confidence, status)
    seconds = time.perf_counter() - started
    result = {"what": "OfflineRefiner.refine of one person's track at 25 Hz, CPU", "layout": refiner.layout.name,
              "window": refiner.window, "hop": refiner.hop, "flip_test": refiner.flip_test, "frames": frames,
              "seconds": seconds, "frames_per_s": frames / seconds, "target_frames_per_s": 500.0,
              "weights": str(args.weights or "shipped"), **machine_facts()}
    print(f"offline refinement ({refiner.layout.name}, window {refiner.window}, hop {refiner.hop}, flip test, "
          f"{args.threads} thread(s), load average {result['load_average_1min']:.1f} on {result['cpu_count']} CPUs): "
          f"{result['frames_per_s']:.0f} frames/s for one person ({frames} frames in {seconds:.1f} s; target >= 500)")
    write_json_report(args.json, result)
    return 0


def register(add_command) -> None:
    p = add_command("train temporal", run_train, "train the 3D-UGCN temporal refiner on lifted Human3.6M sequences")
    _add_input_arguments(p)
    p.add_argument("--out", type=Path, required=True, help="output folder (weights, checkpoint, curves.png)")
    p.add_argument("--name", default="temporal_ugcn_wholebody133", help="weights file name (without suffix)")
    p.add_argument("--layout", default="wholebody133", choices=("wholebody133", "h36m17"))
    p.add_argument("--subjects", default=DEFAULT_TRAIN_SUBJECTS)
    p.add_argument("--fps", type=float, default=25.0, help="frame rate of the training sequences (the model's rate)")
    p.add_argument("--window", type=int, default=16, help="frames in the network's window")
    p.add_argument("--sequence-window", type=int, default=64, help="frames per training sequence (windows are cut "
                   "from them)")
    p.add_argument("--widths", type=_widths, default=(8, 16, 24, 32, 48),
                   help="channels of the five levels (the paper's: 16,32,64,128,256)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=16, help="samples per step (three consecutive windows each)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--occluded-weight", type=float, default=2.0, help="loss weight of unobserved joints")
    p.add_argument("--accel-weight", type=float, default=1.0,
                   help="loss weight of the streamed output's acceleration error (0: MPJPE only, one window a sample)")
    p.add_argument("--no-temporal-mix", action="store_true", help="leave out the learned linear temporal mixing")
    p.add_argument("--offline", action="store_true", help="train for offline refinement of recordings: windows "
                   "centred on the output frames, pre-filled from both sides (--init may be streaming weights)")
    p.add_argument("--max-gap-s", type=float, default=DEFAULT_OFFLINE_MAX_GAP_S,
                   help="--offline: the longest gap (seconds) the pre-fill interpolates, as the offline refiner")
    p.add_argument("--mirror", action="store_true", help="see every other sample in a mirror (x negated, left and "
                   "right exchanged)")
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--init", type=Path, default=None,
                   help="start from these temporal weights (same configuration) instead of from scratch")

    p = add_command("eval temporal", run_eval, "evaluate the temporal refiner against raw lifter output, linear "
                    "interpolation and One-Euro (L = 0 and the given look-ahead)")
    _add_input_arguments(p)
    p.add_argument("--weights", type=Path, default=None, help="temporal weights (default: the shipped ones)")
    p.add_argument("--subjects", default="S9")
    p.add_argument("--lookahead", type=int, default=DEFAULT_LOOKAHEAD)
    p.add_argument("--max-gap", type=int, default=DEFAULT_MAX_GAP)
    p.add_argument("--fps", type=float, default=None, help="frame rate of the test sequences (default: the model's)")
    p.add_argument("--sequence-window", type=int, default=250, help="frames per test sequence")
    p.add_argument("--root-bandwidth", type=float, default=DEFAULT_ROOT_BANDWIDTH_S,
                   help="seconds, the root trajectory's smoothing bandwidth")
    p.add_argument("--one-euro-min-cutoff", type=float, default=ONE_EURO_MIN_CUTOFF, help="Hz")
    p.add_argument("--one-euro-beta", type=float, default=ONE_EURO_BETA)
    p.add_argument("--offline", action="store_true",
                   help="also evaluate the offline refiner (centred windows) beside the streaming rows")
    p.add_argument("--offline-weights", type=Path, default=None,
                   help="offline temporal weights (default: the shipped ones)")
    p.add_argument("--offline-max-gap-s", type=float, default=DEFAULT_OFFLINE_MAX_GAP_S,
                   help="seconds, the longest gap the offline refiner fills")
    p.add_argument("--offline-no-flip-test", action="store_true",
                   help="the offline refiner without its flip test (each window also refined in a mirror)")
    p.add_argument("--json", type=Path, default=None, help="write the figures here")

    p = add_command("bench temporal", run_bench, "latency of one streaming step for one person on the CPU; "
                    "--offline: offline refinement's frames per second for one person")
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--lookahead", type=int, default=DEFAULT_LOOKAHEAD)
    p.add_argument("--offline", action="store_true",
                   help="time the offline refiner on a track of --steps frames instead (--weights: offline weights)")
    p.add_argument("--steps", type=int, default=500, help="streaming steps, or frames of the offline track")
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None)
