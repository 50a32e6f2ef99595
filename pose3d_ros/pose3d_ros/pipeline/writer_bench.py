"""``pose3d bench writer``: the cost of ``pose3d run``'s writing alone, replayed from the rows of a skeletons.npz.

Each row goes through the run's :class:`~pose3d_ros.pipeline.writer.FrameWriter` as the run sends it (CameraInfo,
2D, raw skeletons and markers, then the refined skeletons and markers) into a fresh MCAP, without the models, so
that the numbers are the writer's only and the same input can be timed before and after a change. The npz holds no
raw confidence: the raw skeletons carry the 2D confidences, as the lifter gives them.
"""

from __future__ import annotations

import os
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from pose3d_ros.inference import latency_percentiles
from pose3d_ros.keypoints2d import Keypoints2D
from pose3d_ros.node_logic.temporal_frames import SkeletonFrame

from .sources import CameraModel, Frame

FRAME_ID = "camera_optical_frame"


def replay_rows(path: Path) -> tuple[str, list[tuple[Frame, Keypoints2D, SkeletonFrame, SkeletonFrame | None]]]:
    """The layout of a skeletons.npz and per row: the frame (without pixels), its 2D keypoints, raw and refined
    skeletons.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        with np.load(path) as npz:
            data = {key: npz[key] for key in npz.files}
        rows = _rows(data)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} is not a skeletons.npz written by pose3d run ({type(err).__name__}: {err})") from err
    return str(data["layout"]), rows


def _rows(data: dict) -> list[tuple[Frame, Keypoints2D, SkeletonFrame, SkeletonFrame | None]]:
    rows = []
    for f, stamp in enumerate(data["stamp_ns"].tolist()):
        slots = data["person_ids"][f]
        with_2d = np.flatnonzero((slots >= 0) & np.isfinite(data["conf"][f]).all(axis=1))
        keypoints = Keypoints2D(data["kp2d"][f, with_2d], data["conf"][f, with_2d], slots[with_2d],
                                tuple(int(v) for v in data["image_size"][f]))
        frame = Frame(int(data["frame_index"][f]), int(stamp), np.zeros((0, 0, 3), np.uint8),
                      CameraModel(data["K"][f]), FRAME_ID)
        raw = _skeletons(data, "raw", f, np.nan_to_num(data["conf"][f]), int(stamp))
        refined = (_skeletons(data, "refined", f, data["refined_confidence"][f], int(stamp))
                   if "refined_positions" in data else None)
        rows.append((frame, keypoints, raw, refined))
    return rows


def _skeletons(data: dict, prefix: str, f: int, confidence: np.ndarray, stamp_ns: int) -> SkeletonFrame:
    people = np.flatnonzero((data["person_ids"][f] >= 0) & (data[f"{prefix}_status"][f] > 0).any(axis=1))
    return SkeletonFrame(stamp_ns, FRAME_ID, data["person_ids"][f, people],
                         data[f"{prefix}_positions"][f, people], np.nan_to_num(confidence[people]),
                         data[f"{prefix}_error"][f, people], data[f"{prefix}_status"][f, people])


def time_writer(layout: str, rows: list, out_dir: Path) -> dict:
    """One replay into ``out_dir``: per frame the loop's wall and CPU time (this thread's), then closing the MCAP."""
    from pose3d_ros.messages import load_message_types
    from pose3d_ros.skeleton import get_layout

    from .core import PipelineSettings
    from .recording import McapRecorder
    from .writer import FrameWriter

    settings = PipelineSettings.defaults()
    types = load_message_types()
    wall_ms, cpu_ms = [], []
    with McapRecorder(out_dir, types.typestore) as recorder:
        writer = FrameWriter(recorder, types, get_layout(layout), settings.lifter, settings.temporal)
        for frame, keypoints, raw, refined in rows:
            wall, cpu = time.perf_counter(), time.thread_time()
            writer.write(writer.frame_messages(frame, keypoints, raw), frame.stamp_ns)
            if refined is not None:
                writer.refined(refined)
            cpu_ms.append(1000 * (time.thread_time() - cpu))
            wall_ms.append(1000 * (time.perf_counter() - wall))
        close_s = time.perf_counter()
    close_ms = 1000 * (time.perf_counter() - close_s)
    return {"loop_ms": latency_percentiles(wall_ms), "loop_cpu_ms": float(np.mean(cpu_ms)), "close_ms": close_ms}


def run_writer_benchmark(npz: Path, rounds: int) -> dict:
    """``rounds`` replays of the npz's rows; every round's numbers and the median round (by loop CPU time)."""
    from pose3d_ros.inference import machine_facts

    layout, rows = replay_rows(npz)
    if not rows:
        raise ValueError(f"{npz} has no rows to replay")
    loads = [os.getloadavg()[0]]
    results = []
    with tempfile.TemporaryDirectory(prefix="pose3d-bench-writer-") as scratch:
        for r in range(rounds):
            results.append(time_writer(layout, rows, Path(scratch) / f"round{r}"))
            loads.append(os.getloadavg()[0])
    order = sorted(range(rounds), key=lambda i: results[i]["loop_cpu_ms"])
    people = [len(raw.person_ids) for _, _, raw, _ in rows]
    return {"npz": str(npz), "frames": len(rows), "people_per_frame": float(np.mean(people)), "rounds": results,
            "median": results[order[rounds // 2]], "load_average_1min": {"min": min(loads), "max": max(loads)},
            "machine": machine_facts()}


def writer_report_lines(report: dict) -> list[str]:
    loads, median = report["load_average_1min"], report["median"]
    lines = [f"pose3d bench writer: {report['npz']}, {report['frames']} frames, {report['people_per_frame']:.2f} "
             f"people per frame, {len(report['rounds'])} rounds, 1-min load average {loads['min']:.1f}-"
             f"{loads['max']:.1f} on {report['machine']['cpu_count']} CPUs"]
    for name, result in [("median", median)] + [(f"round {i}", r) for i, r in enumerate(report["rounds"])]:
        lines.append(f"  {name:8s} per frame: loop {result['loop_ms']['mean']:.2f} ms wall (p50 "
                     f"{result['loop_ms']['p50']:.2f}, p95 {result['loop_ms']['p95']:.2f}), "
                     f"{result['loop_cpu_ms']:.2f} ms CPU | closing the MCAP {result['close_ms']:.0f} ms")
    return lines
