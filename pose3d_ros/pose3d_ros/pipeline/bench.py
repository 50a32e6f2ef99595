"""``pose3d bench pipeline``: the 2D model alone, the 2D stage, and the whole ``pose3d run`` (one stage after the
other, and overlapped), side by side on the same frames of the synthetic demo, for each number of people.

Each round runs every variant once, in turn, so that a machine whose load changes during the benchmark slows them
alike; the frames are rendered once beforehand, so that the demo's drawing is in none of them. Stateful stages
(the 2D stage's tracker, the refiner's tracks) start fresh for each run; the models load outside the timing, and
every variant runs once on a few frames before the rounds, uncounted.

Every variant also reports the CPU time the process spent per frame (all its threads, native ones included) and how
many cores that kept busy. The sequential run's CPU per frame is the work a frame takes; the usable CPUs divided
by it is the fastest any overlapping of the stages could go (``cpu_bound_fps``), which says whether a throughput
target is a question of scheduling or of arithmetic.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .sources import Frame, FrameSource

WARM_UP_FRAMES = 3
"""Frames of the uncounted run of every variant before the rounds."""


class ReplaySource(FrameSource):
    """Frames held in memory, replayed as a file would give them (not live: nothing is dropped)."""

    def __init__(self, frames: list[Frame], fps: float, description: str) -> None:
        super().__init__()
        self._frames, self.fps, self.description, self.frame_count = frames, fps, description, len(frames)

    def __iter__(self) -> Iterator[Frame]:
        for frame in self._frames:  # a fresh Frame each time: a run replaces the image of the frames it holds
            yield Frame(frame.index, frame.stamp_ns, frame.image, frame.camera, frame.frame_id)


def demo_frames(people: int, count: int) -> list[Frame]:
    from .demo import DemoSource

    source = DemoSource(people=people)
    frames = []
    for frame in source:
        frames.append(frame)
        if len(frames) == count:
            return frames
    raise ValueError(f"the demo with {people} people has {len(frames)} frames, fewer than {count}")


def time_2d_stage(settings, frames: list[Frame]) -> dict:
    """The 2D stage alone on the frames, one after the other: per call its models' time and the whole call's."""
    from pose3d_ros.inference import latency_percentiles
    from pose3d_ros.keypoints2d import create_detector

    backend, options = settings.detector_options()
    models_ms, stage_ms = [], []
    with create_detector(backend, **options) as detector:
        start, cpu_start = time.perf_counter(), time.process_time()
        for frame in frames:
            detector(frame.image, timestamp_s=(frame.stamp_ns - frames[0].stamp_ns) / 1e9)
            models_ms.append(1000 * detector.last_timing.models_s)
            stage_ms.append(1000 * detector.last_timing.total_s)
        usage = _cpu_usage(len(frames), time.perf_counter() - start, time.process_time() - cpu_start)
    return {"fps": len(frames) / usage["wall_s"], "model_ms": latency_percentiles(models_ms),
            "stage_ms": latency_percentiles(stage_ms), "model_fps": 1000 / float(np.mean(models_ms)), **usage}


def _cpu_usage(frames: int, wall_s: float, cpu_s: float) -> dict:
    """The process's CPU time per frame (every thread's) and the cores it kept busy on average."""
    return {"wall_s": wall_s, "cpu_ms_per_frame": 1000 * cpu_s / frames, "cores_busy": cpu_s / wall_s}


def time_pipeline(settings, lifter, refiner, frames: list[Frame], fps: float, overlap: bool, out_dir: Path) -> dict:
    """One ``pose3d run`` on the frames (outputs written to ``out_dir``, no rendering), with the settings' torch
    threads.
    """
    import torch

    from .core import PosePipeline
    from .run import run

    torch.set_num_threads(settings.torch_threads())
    refiner.reset()
    with PosePipeline(settings, lifter=lifter, refiner=refiner) as pipeline:
        start, cpu_start = time.perf_counter(), time.process_time()
        summary = run(ReplaySource(frames, fps, "bench"), pipeline, out_dir, progress=False, overwrite=True,
                      overlap=overlap)
        usage = _cpu_usage(len(frames), time.perf_counter() - start, time.process_time() - cpu_start)
    report = summary.to_dict()
    return {"fps": report["fps"], "stage_ms": report["stage_ms_per_frame"], "latency_ms": report["latency_ms"],
            **usage}


def run_benchmark(settings, people: list[int], frames: int, rounds: int, threads: list[int] | None = None,
                  alternatives: dict | None = None) -> dict:
    """Every variant for every number of people, ``rounds`` times, interleaved; the median round of each.

    ``threads``: overlapped runs with these movenet thread counts for the 2D stage (``movenet.num_threads``), one
    variant each, instead of the settings' own. ``alternatives``: name -> other settings (e.g. a lift without the
    flip test), an overlapped run of each with its own models, beside the settings' own.
    """
    from pose3d_ros.inference import machine_facts

    overlapped = {"overlapped": (settings, None)} if not threads else {
        f"overlapped_2d_threads_{count}": (settings.replace("keypoints2d", **{"movenet.num_threads": count}), None)
        for count in threads}
    for name, other in (alternatives or {}).items():
        if f"overlapped_{name}" in overlapped:
            raise ValueError(f"an alternative named {name!r} would replace the variant overlapped_{name}")
        overlapped[f"overlapped_{name}"] = (other, name)
    variants = {"sequential": (settings, None), **overlapped}
    models = {None: _load_models(settings)}  # one load of each lifter and refiner for all runs
    models.update({loaded: _load_models(variant) for variant, loaded in variants.values() if loaded is not None})
    inputs = {n: demo_frames(n, frames) for n in people}
    runs: dict[int, dict[str, list]] = {n: {name: [] for name in ("2d", *variants)} for n in people}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="pose3d-bench-") as scratch:
        # Every variant once on a few frames, not counted: what a process pays only the first time (the first
        # interpreters and graphs it runs, the writers' imports) would otherwise fall on whichever run came first.
        warm_up = inputs[people[0]][:WARM_UP_FRAMES]
        time_2d_stage(settings, warm_up)
        for name, (variant, loaded) in variants.items():
            time_pipeline(variant, *models[loaded], warm_up, 15.0, name != "sequential", Path(scratch) / "out")
        for _ in range(rounds):
            for n in people:
                runs[n]["2d"].append(time_2d_stage(settings, inputs[n]))
                for name, (variant, loaded) in variants.items():
                    runs[n][name].append(time_pipeline(variant, *models[loaded], inputs[n], 15.0,
                                                       name != "sequential", Path(scratch) / "out"))
                loads.append(os.getloadavg()[0])
    report = {"frames": frames, "rounds": rounds, "load_average_1min": {"min": min(loads), "max": max(loads)},
              "machine": machine_facts(),
              "lifts": {name or "default": lift_description(lifter) for name, (lifter, _) in models.items()},
              "people": {}}
    for n in people:
        chosen = {name: _median_round(results) for name, results in runs[n].items()}
        chosen["over_2d_stage"] = {name: chosen[name]["fps"] / chosen["2d"]["fps"] for name in variants}
        chosen["cpu_bound_fps"] = 1000 * report["machine"]["usable_cpus"] / chosen["sequential"]["cpu_ms_per_frame"]
        chosen["cpu_bound_over_2d_stage"] = chosen["cpu_bound_fps"] / chosen["2d"]["fps"]
        report["people"][str(n)] = chosen
    return report


def _load_models(settings) -> tuple:
    """The lifter and refiner the settings name (with their thread settings), loaded once for every run."""
    from .core import PosePipeline

    loading = PosePipeline(settings)
    loading.close()
    return loading.lifter, loading.refiner


def lift_description(lifter) -> dict:
    """What a variant's lift does, read from the loaded lifter (not from its settings)."""
    return {"flip_test": lifter.flip_test, "body_expert": lifter.body_expert is not None,
            "perspective_correction": lifter.perspective_correction}


def _median_round(results: list[dict]) -> dict:
    """The round whose frame rate is the median of the rounds' (a whole round, so that its numbers belong together)."""
    order = sorted(range(len(results)), key=lambda i: results[i]["fps"])
    return {**results[order[len(order) // 2]], "fps_rounds": [result["fps"] for result in results]}


def _rates(result: dict) -> str:
    return " ".join(f"{fps:.1f}" for fps in result["fps_rounds"])


def report_lines(report: dict) -> list[str]:
    loads = report["load_average_1min"]
    lines = [f"pose3d bench pipeline: demo, {report['frames']} frames, {report['rounds']} rounds interleaved (median "
             f"round), 1-min load average {loads['min']:.1f}-{loads['max']:.1f} on {report['machine']['usable_cpus']} "
             f"usable CPUs (of {report['machine']['cpu_count']})"]
    if len(report["lifts"]) > 1:
        lines.append("  lifts: " + "; ".join(
            f"{name} (flip test {'on' if lift['flip_test'] else 'off'}, body expert "
            f"{'on' if lift['body_expert'] else 'off'}, perspective correction "
            f"{'on' if lift['perspective_correction'] else 'off'})" for name, lift in report["lifts"].items()))
    for n, result in report["people"].items():
        two_d = result["2d"]
        lines.append(f"  {n} {'person' if n == '1' else 'people'}: 2D model {two_d['model_ms']['p50']:.1f} ms p50 "
                     f"({two_d['model_fps']:.1f} fps) | 2D stage {two_d['stage_ms']['p50']:.1f} ms p50, "
                     f"{two_d['fps']:.1f} fps (rounds: {_rates(two_d)}), CPU {_cpu(two_d)}")
        for name, ratio in result["over_2d_stage"].items():
            run = result[name]
            stages = " ".join(f"{stage} {ms:.1f}" for stage, ms in run["stage_ms"].items() if ms)
            latency = " ".join(f"{key} {value['p50']:.1f}/{value['p95']:.1f}"
                               for key, value in run["latency_ms"].items() if value["p50"] is not None)
            lines.append(f"    run {name}: {run['fps']:.1f} fps = {ratio:.2f}x the 2D stage (rounds: {_rates(run)}), "
                         f"CPU {_cpu(run)}")
            lines.append(f"      ms per frame: {stages} | latency p50/p95 ms: {latency}")
        lines.append(f"    CPU-bound ceiling: {report['machine']['usable_cpus']} CPUs / the sequential run's CPU per "
                     f"frame = {result['cpu_bound_fps']:.1f} fps = {result['cpu_bound_over_2d_stage']:.2f}x the 2D "
                     "stage, however the stages overlap")
    return lines


def _cpu(result: dict) -> str:
    return f"{result['cpu_ms_per_frame']:.1f} ms per frame, {result['cores_busy']:.2f} cores busy"
