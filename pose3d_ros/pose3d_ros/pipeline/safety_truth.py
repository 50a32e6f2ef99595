"""The safety monitor judged against a synthetic clip's ground truth: the states the same monitor (same YAML, same
geometry, same state machine) gives on the demo's true joints, next to those of a ``pose3d run --safety`` output.

    pose3d run --source demo:reach --safety pose3d_ros/config/safety_demo_reach.yaml --out out/reach
    python -m pose3d_ros.pipeline.safety_truth out/reach --plot docs/images/safety_demo_reach.png

The true joints are exact: their predicted error is 0, so the truth is not inflated by k·sigma. Around a change of
the true state the estimate may change a little earlier or later (depth and joint errors, the inflation, the hold
time), so a difference within ``tolerance_s`` of a true change is allowed; anywhere else it is a mismatch. A
**missed stop** — a less severe estimate while the truth is protective_stop, outside the tolerance — must never
happen; an estimate more severe than the truth (or unknown) is on the safe side and only counts as a mismatch.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pose3d_ros.node_logic.temporal_frames import SkeletonFrame
from pose3d_ros.safety import SafetyConfig, SafetyMonitor, SafetyState
from pose3d_ros.skeleton import WHOLEBODY133, JointStatus

from .sources import FrameSource

SCENARIO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "safety_demo_reach.yaml"
DEFAULT_TOLERANCE_S = 0.5
"""The scenario's states.min_hold_s: how long a threshold crossing may lead or trail the truth's."""


@dataclass(frozen=True)
class TruthStates:
    state: np.ndarray
    """(F, O) uint8 SafetyState of the true joints."""
    distance: np.ndarray
    """(F, O) the deciding true joint's signed distance (m)."""


def truth_states(source: FrameSource, config: SafetyConfig, frames: np.ndarray, stamps_ns: np.ndarray,
                 frame_id: str) -> TruthStates:
    """The monitor on the source's true joints of ``frames`` (indices) at ``stamps_ns``, judged at their stamps."""
    monitor = SafetyMonitor(config)
    poses = config.static_poses()
    joints = WHOLEBODY133.num_joints
    states, distances = [], []
    for index, stamp in zip(frames.tolist(), stamps_ns.tolist(), strict=True):
        truth = source.truth(index)
        people = len(truth.person_ids)
        skeletons = SkeletonFrame(int(stamp), frame_id, np.asarray(truth.person_ids, np.int64),
                                  np.asarray(truth.joints, np.float32).reshape(people, joints, 3),
                                  np.ones((people, joints), np.float32), np.zeros((people, joints), np.float32),
                                  np.full((people, joints), JointStatus.OBSERVED, np.uint8))
        report = monitor.update(skeletons, int(stamp), poses)
        states.append(report.state)
        distances.append(report.distance)
    return TruthStates(np.array(states, np.uint8).reshape(len(frames), -1),
                       np.array(distances).reshape(len(frames), -1))


@dataclass(frozen=True)
class StateComparison:
    """Seconds of the clip, per object, where estimate and truth agree or not (frames weighted by 1/fps)."""

    name: str
    seconds: float
    agreeing_s: float
    within_tolerance_s: float
    """Differing, but within tolerance_s of a change of the true state."""
    mismatched_s: float
    """Differing anywhere else (including unknown)."""
    missed_stop_s: float
    """Of the mismatches: the truth is protective_stop, the estimate clear or warning."""
    unknown_s: float


def compare_states(name: str, times_s: np.ndarray, truth: np.ndarray, estimate: np.ndarray,
                   tolerance_s: float, frame_s: float) -> StateComparison:
    """One object's estimated states (F,) against the true ones, at ``times_s``."""
    times_s, truth, estimate = np.asarray(times_s, float), np.asarray(truth), np.asarray(estimate)
    changes = times_s[1:][truth[1:] != truth[:-1]]
    near_change = (np.abs(times_s[:, None] - changes[None, :]) <= tolerance_s).any(axis=1)
    differ = truth != estimate
    mismatch = differ & ~near_change
    missed = mismatch & (truth == SafetyState.PROTECTIVE_STOP) & (estimate < SafetyState.PROTECTIVE_STOP)
    return StateComparison(name, len(truth) * frame_s, float((~differ).sum() * frame_s),
                           float((differ & near_change).sum() * frame_s), float(mismatch.sum() * frame_s),
                           float(missed.sum() * frame_s), float((estimate == SafetyState.UNKNOWN).sum() * frame_s))


def plot_states(path: Path, times_s: np.ndarray, names: tuple[str, ...], truth: TruthStates, estimate: np.ndarray,
                distance: np.ndarray, inflated: np.ndarray, title: str) -> None:
    """Per object: true and estimated state over time, and the distances they come from."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2 * len(names), 1, figsize=(10, 4.5 * len(names)), sharex=True,
                                gridspec_kw={"height_ratios": [1, 1.3] * len(names)})
    levels = [state.name.lower() for state in SafetyState]
    for o, name in enumerate(names):
        states, distances = axes[2 * o], axes[2 * o + 1]
        states.step(times_s, truth.state[:, o], where="post", color="black", linewidth=2.5, label="truth")
        states.step(times_s, estimate[:, o], where="post", color="tab:orange", linewidth=1.5,
                    label="pose3d run (estimate)")
        states.set_yticks(range(len(levels)), levels)
        states.set_ylim(-0.4, len(levels) - 0.6)
        states.set_title(f"{name}: state")
        states.legend(loc="upper right")
        states.grid(alpha=0.3)
        distances.plot(times_s, truth.distance[:, o], color="black", linewidth=2, label="true distance")
        distances.plot(times_s, distance[:, o], color="tab:orange", label="estimated distance")
        distances.plot(times_s, inflated[:, o], color="tab:orange", linestyle="--",
                       label="estimated, less k·sigma (what is judged)")
        distances.axhline(0.0, color="tab:red", linewidth=1)
        distances.set_ylabel("m")
        distances.set_title(f"{name}: deciding joint's signed distance (negative: inside)")
        distances.legend(loc="upper center")
        distances.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)")
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """Compare a run's states with the truth; exit 1 on a missed stop."""
    from .sources import open_source

    parser = argparse.ArgumentParser(prog="python -m pose3d_ros.pipeline.safety_truth", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="the output folder of pose3d run --safety on a demo source")
    parser.add_argument("--source", default="demo:reach", help="the run's --source, a demo (default: demo:reach)")
    parser.add_argument("--safety", type=Path, default=SCENARIO_CONFIG,
                        help="the run's safety YAML (default: the package's config/safety_demo_reach.yaml)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE_S, metavar="S",
                        help=f"allowed lead or lag around a change of the true state (default {DEFAULT_TOLERANCE_S})")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="write the states and distances over time")
    args = parser.parse_args(argv)

    run = np.load(args.run / "skeletons.npz")
    source = open_source(args.source)
    if source.truth(0) is None:
        parser.error(f"--source {args.source!r} has no ground truth: give a demo (demo, demo:N, demo:reach)")
    config = SafetyConfig.load(args.safety)
    truth = truth_states(source, config, run["frame_index"], run["stamp_ns"], config.camera_frame or "")
    names = tuple(str(name) for name in run["safety_objects"])
    frame_s = 1.0 / source.fps
    results = [compare_states(name, run["time_s"], truth.state[:, o], run["safety_state"][:, o], args.tolerance,
                              frame_s) for o, name in enumerate(names)]
    for result in results:
        print(json.dumps(asdict(result)))
    if args.plot:
        plot_states(args.plot, run["time_s"], names, truth, run["safety_state"], run["safety_distance"],
                    run["safety_inflated_distance"], f"{source.description}: truth vs pose3d run --safety")
    return 1 if any(result.missed_stop_s > 0 for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
