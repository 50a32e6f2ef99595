"""``pose3d bench soak``: many frames through the whole in-process pipeline at full speed, to show that its memory
stays flat, its queues stay bounded and every input frame is accounted for (issue #22).

The source (:class:`SoakSource`) plays the multi-person demo in a loop the way a misbehaving recording would: people
leave and come back (in the clip, and everyone at each loop), each loop's stamps jump back (a bag loop), some stamps
repeat (a driver's duplicates) and some frames cannot be read. :func:`run_soak` runs ``pose3d run``'s loop on it
(the real stages unless others are given, outputs written into a temporary folder) and samples the resident memory
and the queues every ``every`` frames; afterwards it reads the outputs back and checks that each input frame is
either a row of skeletons.npz or in exactly one reported gap, or counted as dropped.

Memory is judged after a warm-up (:data:`WARMUP_FRAMES`): the first frames allocate what a run keeps for good (the
models' first calls and their allocator pools, the MCAP writer's buffers, the tracker and refiner filling up).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .overlap import BUFFER_FRAMES
from .sources import Frame, FrameSource

WARMUP_FRAMES = 2000
"""Frames before the memory reference: ten loops of the demo clip, well past every first-time allocation seen."""
SAMPLE_EVERY = 1000
GROWTH_TARGET = 0.05
"""The largest growth of resident memory after the warm-up that still counts as flat (issue #22)."""
UNREADABLE_REASON = "unreadable (the soak's corrupt message)"


def resident_bytes() -> int:
    """This process's resident memory (RSS), from Linux's /proc/self/statm (psutil is not a dependency)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_resident_bytes() -> int:
    """The most resident memory this process has had (VmHWM in /proc/self/status)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise ValueError("/proc/self/status has no VmHWM line")


class SoakSource(FrameSource):
    """``frames`` frames of the demo with ``people`` people (its whole story, or its first ``clip_s`` seconds),
    played in a loop like a misbehaving recording.

    Each replay of the clip starts ``jump_back_s`` before the previous frame's stamp (a bag loop: the run skips the
    frames until the stamps pass the newest again); every ``repeat_every``-th frame repeats the previous frame's
    stamp; every ``unreadable_every``-th frame cannot be read (skipped and recorded as a gap, as recordings do).
    """

    def __init__(self, frames: int, people: int = 4, jump_back_s: float = 1.0, repeat_every: int = 97,
                 unreadable_every: int = 499, clip_s: float | None = None) -> None:
        from .demo import DemoSource

        super().__init__()
        self.demo = DemoSource(clip_s, people=people)
        self.fps, self.frame_count = self.demo.fps, frames
        self.jump_back_ns = round(jump_back_s * 1e9)
        self.repeat_every, self.unreadable_every = repeat_every, unreadable_every
        self.description = f"soak: {frames} frames of the {people}-person demo in a loop"
        self.produced = 0
        """Frames produced so far, read or unreadable: the run's input."""

    def __iter__(self) -> Iterator[Frame]:
        period_ns = round(1e9 / self.fps)
        stamp_ns = 0
        while self.produced < self.frame_count:
            for position, frame in enumerate(self.demo):
                index = self.produced
                if index == self.frame_count:
                    return
                if position == 0 and index > 0:
                    stamp_ns -= self.jump_back_ns
                elif index > 0 and index % self.repeat_every:
                    stamp_ns += period_ns
                self.produced += 1
                if index % self.unreadable_every == self.unreadable_every - 1:
                    self._skip(index, UNREADABLE_REASON, stamp_ns)
                    continue
                yield Frame(index, stamp_ns, frame.image, frame.camera, frame.frame_id)


class Sampler:
    """The ``observe`` callback of :func:`~pose3d_ros.pipeline.run.run`: each time the source has produced another
    ``every`` frames, the resident memory, the queue lengths and the counts so far; the longest each queue was at
    any frame the loop took.
    """

    def __init__(self, source: SoakSource, every: int, print_samples: bool, on_sample=None) -> None:
        self.source, self.every, self.print_samples, self.on_sample = source, every, print_samples, on_sample
        self.samples: list[dict] = []
        self.longest: dict[str, int] = {}
        self._start = time.perf_counter()

    def __call__(self, summary, queues: dict[str, int]) -> None:
        for name, length in queues.items():
            self.longest[name] = max(self.longest.get(name, 0), length)
        produced = self.source.produced
        if produced >= (len(self.samples) + 1) * self.every:
            self.sample(summary, queues, produced)

    def sample(self, summary, queues: dict[str, int], produced: int) -> None:
        sample = {"frames": produced, "output": summary.frames, "rss_mb": resident_bytes() / 2**20,
                  "wall_s": time.perf_counter() - self._start, "load_1min": os.getloadavg()[0], "queues": queues}
        self.samples.append(sample)
        if self.print_samples:
            print(f"  {produced:6d} frames  rss {sample['rss_mb']:7.1f} MB  queues "
                  + " ".join(f"{name} {length}" for name, length in queues.items())
                  + f"  {sample['wall_s']:7.0f} s  load {sample['load_1min']:.1f}", flush=True)
        if self.on_sample is not None:
            self.on_sample(self.samples)


def account(source: SoakSource, summary, npz_path: Path, topics: list[str]) -> dict:
    """Every input frame's fate, from the run's summary and its outputs read back; ``problems`` lists what does
    not add up (empty when each frame is a row of the npz, in exactly one gap, or counted as dropped).
    """
    with np.load(npz_path) as data:
        rows = data["frame_index"].tolist()
    in_gaps = [index for gap in summary.gaps for index in range(gap.first, gap.last + 1)]
    reasons = Counter()
    for gap in summary.gaps:
        reasons[gap.reason.split(":")[0]] += gap.count
    counts = {"input": source.produced, "output": summary.frames, "unreadable": summary.skipped,
              "out_of_order": summary.out_of_order, "refused": summary.failed, "dropped": summary.dropped}
    accounted = sum(value for name, value in counts.items() if name != "input")
    problems = []
    if accounted != source.produced:
        problems.append(f"{source.produced - accounted} of {source.produced} input frames are neither output nor "
                        "counted as skipped or dropped")
    if len(rows) != summary.frames or len(set(rows)) != len(rows):
        problems.append(f"skeletons.npz has {len(rows)} rows ({len(set(rows))} distinct frames), the run counted "
                        f"{summary.frames} output frames")
    if len(in_gaps) != summary.lost or len(set(in_gaps)) != len(in_gaps):
        problems.append(f"the gaps list {len(in_gaps)} frames ({len(set(in_gaps))} distinct), the run counted "
                        f"{summary.lost} skipped")
    both = set(rows) & set(in_gaps)
    if both:
        problems.append(f"{len(both)} frames are both output and in a gap (e.g. frame {min(both)})")
    unseen = source.produced - summary.dropped - len(set(rows) | set(in_gaps))
    if unseen:
        problems.append(f"{unseen} frame numbers are in no npz row and no gap (dropped: {summary.dropped})")
    for topic in topics:
        if summary.topics.get(topic, 0) != summary.frames:
            problems.append(f"{topic} has {summary.topics.get(topic, 0)} messages for {summary.frames} output frames")
    return {"counts": counts, "accounted": accounted, "gap_reasons": dict(reasons), "problems": problems}


def memory_report(samples: list[dict], warmup: int) -> dict:
    """Growth of resident memory after the warm-up: from the sample at the end of the warm-up (the reference) to
    the largest one after it, and the least-squares slope in MB per 1000 frames; ``flat`` is None when fewer than
    two samples came after the warm-up (a run stopped early).
    """
    after = [sample for sample in samples if sample["frames"] >= warmup]
    if len(after) < 2:
        return {"warmup_frames": warmup, "target_growth": GROWTH_TARGET, "flat": None,
                "first_sample_mb": samples[0]["rss_mb"] if samples else None}
    reference, rss = after[0]["rss_mb"], np.array([sample["rss_mb"] for sample in after])
    frames = np.array([sample["frames"] for sample in after], np.float64)
    return {"warmup_frames": warmup, "reference_mb": reference, "max_after_warmup_mb": float(rss.max()),
            "end_mb": float(rss[-1]), "growth": float(rss.max() / reference - 1.0),
            "slope_mb_per_1000_frames": float(np.polyfit(frames, rss, 1)[0] * 1000),
            "first_sample_mb": samples[0]["rss_mb"], "target_growth": GROWTH_TARGET,
            "flat": bool(rss.max() / reference - 1.0 < GROWTH_TARGET)}


def run_soak(pipeline, source: SoakSource, *, warmup: int = WARMUP_FRAMES, every: int = SAMPLE_EVERY,
             print_samples: bool = False, on_sample=None) -> dict:
    """``pose3d run``'s loop on ``source`` with ``pipeline``, outputs into a temporary folder (removed after);
    the report: samples, memory, queues, the accounting of every frame, the run's counts and speed.
    ``on_sample(samples)`` is called after each sample (the command saves them, so that a run cut short keeps them).
    """
    from .outputs import NPZ_NAME
    from .run import run
    from .writer import TOPICS

    sampler = Sampler(source, every, print_samples, on_sample)
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="pose3d-soak-") as scratch:
        out_dir = Path(scratch) / "out"
        summary = run(source, pipeline, out_dir, progress=False, observe=sampler)
        loads.append(os.getloadavg()[0])
        topics = [TOPICS["raw"], *([TOPICS["refined"]] if pipeline.temporal is not None else [])]
        accounting = account(source, summary, out_dir / NPZ_NAME, topics)
        outputs_mb = {path.name: path.stat().st_size / 2**20 for path in out_dir.iterdir() if path.is_file()}
    after_mb = resident_bytes() / 2**20
    # the buffers' capacity; the frames the temporal stage still holds, and the one being handled
    lookahead = 0 if pipeline.temporal is None else pipeline.temporal.lookahead
    bound = {"read": BUFFER_FRAMES, "detected": BUFFER_FRAMES, "waiting": lookahead + 1}
    report = summary.to_dict()
    return {
        "source": source.description, "frames": source.frame_count, "warmup_frames": warmup, "every": every,
        "load_average_1min": {"start": loads[0], "end": loads[1],
                              "max": max([*loads, *(s["load_1min"] for s in sampler.samples)])},
        "samples": sampler.samples,
        "memory": {**memory_report(sampler.samples, warmup), "after_outputs_mb": after_mb,
                   "peak_mb": peak_resident_bytes() / 2**20},
        "queues": {"longest": sampler.longest, "bound": bound,
                   "bounded": all(sampler.longest.get(name, 0) <= most for name, most in bound.items())},
        "accounting": accounting,
        "run": {name: report[name] for name in ("wall_s", "fps", "stage_ms_per_frame", "latency_ms",
                                                "person_frames", "max_people", "late_refined", "topics",
                                                "stopped_by", "exit_code")},
        "outputs_mb": outputs_mb,
    }


def soak_ok(report: dict) -> bool:
    """The targets: memory flat after the warm-up, queues bounded, every frame accounted for."""
    return bool(report["memory"]["flat"] and report["queues"]["bounded"] and not report["accounting"]["problems"])


def report_lines(report: dict) -> list[str]:
    memory, queues, accounting = report["memory"], report["queues"], report["accounting"]
    counts, loads = accounting["counts"], report["load_average_1min"]
    run = report["run"]
    lines = [
        f"pose3d bench soak: {report['source']}; 1-min load average {loads['start']:.1f} at the start, "
        f"{loads['end']:.1f} at the end, at most {loads['max']:.1f}",
        f"  speed    {run['fps']:.1f} fps ({run['wall_s']:.0f} s), {run['person_frames']} person-frames, at most "
        f"{run['max_people']} people in a frame"
        + (f"; stopped by {run['stopped_by']} after {accounting['counts']['input']} of {report['frames']} frames"
           if run["stopped_by"] else ""),
    ]
    if memory["flat"] is None:
        lines.append(f"  memory   fewer than two samples after the {memory['warmup_frames']}-frame warm-up: not judged")
    else:
        lines.append(
            f"  memory   {memory['reference_mb']:.1f} MB after the {memory['warmup_frames']}-frame warm-up (first "
            f"sample {memory['first_sample_mb']:.1f}), at most {memory['max_after_warmup_mb']:.1f} after it, "
            f"{memory['end_mb']:.1f} at the end: growth {100 * memory['growth']:+.1f} % (target < "
            f"{100 * memory['target_growth']:.0f} %: {'met' if memory['flat'] else 'NOT met'}), slope "
            f"{memory['slope_mb_per_1000_frames']:+.2f} MB per 1000 frames; {memory['after_outputs_mb']:.1f} MB after "
            f"writing the outputs, peak {memory['peak_mb']:.1f}")
    lines += [
        "  queues   longest " + ", ".join(f"{name} {length}" for name, length in queues["longest"].items())
        + " (at most " + ", ".join(f"{name} {most}" for name, most in queues["bound"].items())
        + ": the buffers' capacity, the look-ahead + 1): " + ("bounded" if queues["bounded"] else "NOT bounded"),
        f"  frames   {counts['input']} in = {counts['output']} output + {counts['unreadable']} unreadable + "
        f"{counts['out_of_order']} out of order + {counts['refused']} refused + {counts['dropped']} dropped "
        f"({accounting['accounted']} accounted for)",
    ]
    lines += [f"           {count} {reason}" for reason, count in accounting["gap_reasons"].items()]
    lines += [f"  PROBLEM  {problem}" for problem in accounting["problems"]]
    if not accounting["problems"]:
        lines.append("  every input frame is a row of skeletons.npz, in exactly one reported gap, or dropped "
                     "(checked against the outputs read back)")
    return lines


def plot_memory(report: dict, path: Path) -> None:
    """Resident memory and queue lengths against frames, the warm-up shaded and the 5 % band drawn (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples, memory = report["samples"], report["memory"]
    frames = [sample["frames"] for sample in samples]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True, height_ratios=(3, 1.2))
    top.plot(frames, [sample["rss_mb"] for sample in samples], "o-", color="tab:blue", label="resident memory (RSS)")
    top.axvspan(0, memory["warmup_frames"], color="0.9", label="warm-up")
    growth = "not judged (too few samples)"
    if memory["flat"] is not None:
        top.axhline(memory["reference_mb"], color="0.4", lw=0.8, ls="--", label="after the warm-up")
        top.axhline(memory["reference_mb"] * (1 + memory["target_growth"]), color="tab:red", lw=0.8, ls=":",
                    label=f"+{100 * memory['target_growth']:.0f} % (target)")
        growth = f"{100 * memory['growth']:+.1f} %"
    top.set_ylim(bottom=0)
    top.set_ylabel("MB")
    top.legend(loc="lower right", fontsize=8)
    top.set_title(f"pose3d bench soak: {report['source']}\ngrowth after the warm-up {growth}, 1-min load average "
                  f"up to {report['load_average_1min']['max']:.1f} (2 cores)", fontsize=9)
    for name in samples[0]["queues"]:
        bottom.plot(frames, [sample["queues"][name] for sample in samples], "o-", ms=3, label=name)
    bottom.set_ylabel("queue length")
    bottom.set_xlabel("frames")
    bottom.legend(loc="upper right", fontsize=8, ncol=3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
