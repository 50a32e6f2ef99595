"""``pose3d bench npz``: the memory and time of writing skeletons.npz at the end of a long run, without the models.

Synthetic records (``people`` per frame, refined, optionally with safety reports) go through the run's
:class:`~pose3d_ros.pipeline.outputs.FrameRecords` into a temporary folder, then
:func:`~pose3d_ros.pipeline.outputs.write_skeletons_npz` writes the npz from them, as ``pose3d run`` does after its
loop. The peak resident memory of that write (Linux's VmHWM, reset before it) is what an out-of-memory kill at the
end of a long run would be about.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from pose3d_ros.node_logic.temporal_frames import SkeletonFrame
from pose3d_ros.pipeline.outputs import NPZ_NAME, FrameRecord, FrameRecords, write_skeletons_npz
from pose3d_ros.pipeline.soak import peak_resident_bytes, resident_bytes
from pose3d_ros.safety import SafetyReport
from pose3d_ros.skeleton import WHOLEBODY133

TEMPLATES = 16
"""Distinct synthetic records, reused in turn (random values, so that they compress like real ones)."""


def synthetic_records(people: int, objects: int, seed: int = 0) -> list[FrameRecord]:
    """``TEMPLATES`` records of ``people`` people (ids 1..people), refined; with safety reports when ``objects``."""
    rng = np.random.default_rng(seed)
    joints = WHOLEBODY133.num_joints
    ids = np.arange(1, people + 1)

    def skeletons(stamp_ns: int) -> SkeletonFrame:
        return SkeletonFrame(stamp_ns, "camera_optical_frame", ids,
                             rng.normal(size=(people, joints, 3)).astype(np.float32),
                             rng.random((people, joints), np.float32), rng.random((people, joints), np.float32),
                             rng.integers(0, 5, (people, joints)).astype(np.uint8))

    records = []
    for k in range(TEMPLATES):
        report = None
        if objects:
            report = SafetyReport(k, k, "camera_optical_frame", tuple(f"object{o}" for o in range(objects)),
                                  np.ones(objects, np.uint8), np.zeros(objects, np.uint16),
                                  *(rng.random(objects) for _ in range(5)), np.ones(objects, np.int64),
                                  np.full(objects, 9, np.int64), rng.random((objects, 3)), rng.random((objects, 3)),
                                  ids, rng.random((objects, people)), np.full((objects, people), 9, np.int64),
                                  rng.random((objects, people)))
        records.append(FrameRecord(k, k, np.eye(3), (1920, 1080), ids,
                                   (rng.random((people, joints, 2)) * 1000).astype(np.float32),
                                   rng.random((people, joints), np.float32), skeletons(k), skeletons(k), report))
    return records


def reset_peak_resident() -> None:
    """Set VmHWM back to the current RSS (Linux: 5 written to /proc/self/clear_refs)."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
        clear_refs.write("5")


def run_npz_benchmark(frames: int, people: int, objects: int) -> dict:
    """Append ``frames`` records, then write the npz; the time of each and the peak memory of the write."""
    from pose3d_ros.inference import machine_facts

    templates = synthetic_records(people, objects)
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="pose3d-bench-npz-") as scratch, FrameRecords(Path(scratch)) as records:
        start = time.perf_counter()
        for f in range(frames):
            stamp_ns = 10**9 + f * 33_333_333
            records.append(dataclasses.replace(templates[f % TEMPLATES], index=f, stamp_ns=stamp_ns))
        append_s = time.perf_counter() - start
        spill_bytes = records.path.stat().st_size
        before = resident_bytes()
        reset_peak_resident()
        start = time.perf_counter()
        write_skeletons_npz(Path(scratch) / NPZ_NAME, records, WHOLEBODY133.name, "bench npz", 30.0,
                            safety_names=templates[0].safety.names if objects else None)
        write_s = time.perf_counter() - start
        peak = peak_resident_bytes()
        npz_bytes = (Path(scratch) / NPZ_NAME).stat().st_size
    loads.append(os.getloadavg()[0])
    return {"frames": frames, "people": people, "objects": objects, "append_s": append_s,
            "spill_bytes": spill_bytes, "write_s": write_s, "npz_bytes": npz_bytes, "rss_before_write": before,
            "peak_rss_during_write": peak, "load_average_1min": {"min": min(loads), "max": max(loads)},
            "machine": machine_facts()}


def npz_report_lines(report: dict) -> list[str]:
    loads, mb = report["load_average_1min"], 1e-6
    return [f"pose3d bench npz: {report['frames']} frames of {report['people']} people, {report['objects']} safety "
            f"objects, 1-min load average {loads['min']:.1f}-{loads['max']:.1f} on "
            f"{report['machine']['cpu_count']} CPUs",
            f"  records  appended in {report['append_s']:.1f} s, {report['spill_bytes'] * mb:.0f} MB on disk",
            f"  npz      written in {report['write_s']:.1f} s, {report['npz_bytes'] * mb:.0f} MB; resident memory "
            f"{report['rss_before_write'] * mb:.0f} MB before, peak {report['peak_rss_during_write'] * mb:.0f} MB "
            f"during the write (+{(report['peak_rss_during_write'] - report['rss_before_write']) * mb:.0f} MB)"]
