"""``pose3d run``: a source through the pipeline into DIR/skeletons.npz, DIR/pose3d.mcap and DIR/render.mp4.

The source is read and the 2D stage runs in threads of their own, beside this loop (overlap.py): while the 2D
models work on the next frame, the loop lifts, refines and writes this one. Frames go through the lifter as they
come; the temporal stage releases each frame's refined skeletons ``lookahead`` frames later, so the frames wait in
a queue (with their image when rendering) until then. SIGINT (Ctrl-C) and SIGTERM stop reading the source and
still finish the frames read and every output (stopping.py).

Exit codes of ``pose3d run`` (:meth:`RunSummary.exit_code`): 0 every frame of the source is in the outputs; 1 the
run finished, but frames were lost (unreadable, out of order, refused by a stage, or the source ended early; the
summary lists each gap) or none was read; 2 bad input or options, before anything is written (cli.py); 128 + the
signal's number when a signal stopped it (130 SIGINT, 143 SIGTERM), outputs complete up to the last frame.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from pose3d_ros.node_logic.temporal_frames import SkeletonFrame
from pose3d_ros.safety import SafetyConfig, SafetyMonitor
from pose3d_ros.safety.markers import object_outlines
from pose3d_ros.safety.summary import SafetySummary
from pose3d_ros.skeleton import PlacementSource

from .core import PosePipeline
from .demo_metrics import FrameOutput, score_against_truth, score_lines
from .outputs import (
    NPZ_NAME,
    RENDER_NAME,
    SUMMARY_NAME,
    FrameRecord,
    FrameRecords,
    partial_path,
    prepare_output_dir,
    publish,
    write_skeletons_npz,
)
from .overlap import Detections, DetectionStep
from .recording import MCAP_NAME, McapRecorder
from .render import Renderer, VideoSink
from .sources import Frame, FrameSource, Gap, GapLog
from .stopping import StopRequest
from .writer import FrameWriter

LOG = logging.getLogger(__name__)

STAGES = ("2d", "lift", "temporal", "write", "render")
VERSIONS_OF = ("pose3d_ros", "torch", "mediapipe", "numpy", "opencv-contrib-python", "rosbags", "mcap")
SHOWN_GAPS = 10
PROGRESS_LOG_S = 10.0


class LatencyLog:
    """p50 / p95 of a run's per-frame latencies, in constant memory: counts in log-spaced bins (2 % wide).

    ``waited``: frame read -> the 2D stage takes it (a file is read ahead; a camera's newest frame waits for the
    frame in the 2D stage); from then on: ``2d`` -> 2D keypoints; ``after_2d``: 2D keypoints -> lifted, written and
    through the temporal step (what the pipeline adds after the 2D stage, the look-ahead excluded); ``lift_refine``:
    the lift and the temporal step alone, without writing (what the networks add; issue #20's "added latency");
    ``raw_out``: 2D start -> raw skeletons written; ``final_out``: 2D start -> the row is final (the look-ahead
    included).
    """

    NAMES = ("waited", "2d", "after_2d", "lift_refine", "raw_out", "final_out")
    _EDGES_S = np.geomspace(1e-5, 1e3, 932)

    def __init__(self) -> None:
        self._counts = {name: np.zeros(len(self._EDGES_S) + 1, np.int64) for name in self.NAMES}

    def add(self, name: str, seconds: float) -> None:
        self._counts[name][np.searchsorted(self._EDGES_S, seconds)] += 1

    def percentile_ms(self, name: str, q: float) -> float | None:
        counts = self._counts[name]
        total = counts.sum()
        if not total:
            return None
        bin_ = int(np.searchsorted(np.cumsum(counts), q / 100 * total))
        upper = self._EDGES_S[min(bin_, len(self._EDGES_S) - 1)]
        lower = self._EDGES_S[max(bin_ - 1, 0)]
        return 1000 * float(np.sqrt(lower * upper))

    def to_dict(self) -> dict:
        return {name: {"p50": self.percentile_ms(name, 50), "p95": self.percentile_ms(name, 95)} for name in self.NAMES}

    def text(self) -> str:
        parts = [f"{name} {self.percentile_ms(name, 50):.1f} / {self.percentile_ms(name, 95):.1f}"
                 for name in self.NAMES if self._counts[name].any()]
        return "ms p50 / p95: " + (" | ".join(parts) or "-")


@dataclass
class RunSummary:
    """What a run did: counts, seconds spent per stage, and the files written."""

    source: str
    frames: int = 0
    skipped: int = 0
    out_of_order: int = 0
    failed: int = 0
    frames_with_people: int = 0
    person_frames: int = 0
    max_people: int = 0
    late_refined: int = 0
    gaps: list[Gap] = field(default_factory=list)
    """Every frame of the source that is not in the outputs, in runs of one reason, in frame order."""
    ended_early: str | None = None
    """Where and why the source stopped before its end, if it did."""
    stopped_by: str | None = None
    """What stopped the run before the end of its source: SIGINT, SIGTERM or the live window."""
    stop_signal: int | None = None
    manifest: dict = field(default_factory=dict)
    """What the outputs were made from and with: inputs, options, settings, software versions."""
    dropped: int = 0
    """Frames of a live source dropped because the pipeline was busy (overlap.py); by design, not lost."""
    latency: LatencyLog = field(default_factory=lambda: LatencyLog())
    wall_s: float = 0.0
    stage_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    outputs: dict[str, str] = field(default_factory=dict)
    topics: dict[str, int] = field(default_factory=dict)
    demo_truth: dict | None = None
    """The outputs measured against the source's ground truth (demo_metrics.score_against_truth), if it has one."""
    safety: SafetySummary | None = None
    placed_by_depth: int = 0
    """Person-frames placed from the depth image (the others: least squares)."""
    depth: dict | None = None
    """Depth images: paired with a frame, too far in time from every frame, unreadable, refused by the lift step;
    None for a source without depth."""

    @property
    def lost(self) -> int:
        """Frames of the source that are not in the outputs (a run stopped on request loses nothing)."""
        return self.skipped + self.out_of_order + self.failed

    def exit_code(self) -> int:
        """``pose3d run``'s exit status; see the module docstring."""
        if self.stop_signal is not None:
            return 128 + self.stop_signal
        return 1 if self.frames == 0 or self.lost or self.ended_early else 0

    def stage_fps(self) -> dict[str, float | None]:
        return {name: (self.frames / seconds if seconds > 0 else None) for name, seconds in self.stage_s.items()}

    def to_dict(self) -> dict:
        return {
            "source": self.source, "frames": self.frames, "skipped": self.skipped, "out_of_order": self.out_of_order,
            "failed": self.failed, "frames_with_people": self.frames_with_people, "person_frames": self.person_frames,
            "max_people": self.max_people, "late_refined": self.late_refined, "lost": self.lost,
            "dropped": self.dropped,
            "gaps": [gap.to_dict() for gap in self.gaps], "ended_early": self.ended_early,
            "stopped_by": self.stopped_by, "exit_code": self.exit_code(),
            "wall_s": self.wall_s, "fps": self.frames / self.wall_s if self.wall_s > 0 else None,
            "stage_ms_per_frame": {k: 1000 * v / self.frames if self.frames else None for k, v in self.stage_s.items()},
            "stage_fps": self.stage_fps(), "latency_ms": self.latency.to_dict(), "outputs": self.outputs,
            "topics": self.topics,
            **({"demo_truth": self.demo_truth} if self.demo_truth is not None else {}),
            "safety": None if self.safety is None else self.safety.to_dict(),
            "placed_by_depth": self.placed_by_depth, "depth": self.depth,
            **self.manifest,
        }

    def text(self) -> str:
        per_frame = [f"{name} {1000 * seconds / self.frames:.1f} ms ({self.frames / seconds:.0f} fps)"
                     for name, seconds in self.stage_s.items() if seconds > 0 and self.frames]
        fps = self.frames / self.wall_s if self.wall_s > 0 else 0.0
        lines = [
            f"pose3d run: {self.source}" + (f"  (stopped by {self.stopped_by})" if self.stopped_by else ""),
            f"  frames   {self.frames} processed; skipped: {self.skipped} unreadable, {self.out_of_order} out of "
            f"order, {self.failed} refused by a stage",
            f"  people   in {self.frames_with_people} frames ({self.person_frames} person-frames, at most "
            f"{self.max_people} in one frame)",
            f"  stages   {' | '.join(per_frame) or '-'}",
            f"  overall  {fps:.1f} fps ({self.wall_s:.1f} s wall clock, model loading excluded)",
            f"  latency  {self.latency.text()}",
        ]
        if self.dropped:
            lines.append(f"  dropped  {self.dropped} frames of the live source while the pipeline was busy")
        if self.depth is not None:
            lines.append(f"  depth    {self.placed_by_depth} of {self.person_frames} person-frames placed by depth "
                         f"(the others by least squares); depth images: {self.depth['paired']} paired, "
                         f"{self.depth['too_far']} frames without one within the stamp tolerance, "
                         f"{self.depth['unreadable']} unreadable, {self.depth['refused']} refused")
        lines += [f"  lost     {gap.text()}" for gap in self.gaps[:SHOWN_GAPS]]
        if len(self.gaps) > SHOWN_GAPS:
            lines.append(f"  lost     ... {len(self.gaps) - SHOWN_GAPS} more gaps (summary.json lists them all)")
        if self.ended_early:
            lines.append(f"  ended    early: {self.ended_early}")
        if self.stopped_by:
            lines.append(f"  stopped  by {self.stopped_by}: the outputs hold the {self.frames} frames processed before")
        if self.late_refined:
            lines.append(f"  warning  {self.late_refined} refined poses came after their frame was written")
        if self.demo_truth is not None:
            lines += score_lines(self.demo_truth)
        if self.safety is not None:
            lines += [f"  safety   {line}" for line in self.safety.lines()]
        lines += [f"  wrote    {path}" for path in self.outputs.values()]
        return "\n".join(lines)


@dataclass
class _Waiting:
    """A frame whose refined skeletons are not all out of the temporal stage yet."""

    frame: Frame
    keypoints: object
    raw: SkeletonFrame
    started_s: float
    """When the 2D stage took the frame (``time.perf_counter()``)."""
    refined: dict[int, tuple] = field(default_factory=dict)
    """person id -> (positions, confidence, error, status), from one or more refined frames of this stamp."""
    released_ns: int | None = None
    """Stamp of the newest input frame when the temporal stage released this stamp: when the ROS graph has it."""

    def add(self, refined) -> None:
        for p, person_id in enumerate(refined.person_ids.tolist()):
            self.refined[int(person_id)] = (refined.positions[p], refined.confidence[p], refined.error[p],
                                            refined.status[p])

    def final(self) -> SkeletonFrame:
        ids = sorted(self.refined)
        joints = self.raw.positions.shape[1]
        columns = [self.refined[i] for i in ids]
        return SkeletonFrame(
            self.raw.stamp_ns, self.raw.frame_id, np.array(ids, np.int64),
            np.array([c[0] for c in columns], np.float32).reshape(-1, joints, 3),
            np.array([c[1] for c in columns], np.float32).reshape(-1, joints),
            np.array([c[2] for c in columns], np.float32).reshape(-1, joints),
            np.array([c[3] for c in columns], np.uint8).reshape(-1, joints))


class _Timer:
    def __init__(self, summary: RunSummary, stage: str) -> None:
        self.summary, self.stage = summary, stage

    def __enter__(self) -> _Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start
        self.summary.stage_s[self.stage] += self.seconds


def run(source: FrameSource, pipeline: PosePipeline, out_dir: Path, *, max_frames: int | None = None,
        render: bool = False, show: bool = False, write_images: bool = False, progress: bool = True,
        safety: SafetyConfig | None = None, overwrite: bool = False, overlap: bool = True,
        observe=None) -> RunSummary:
    """Run ``pipeline`` on ``source`` and write the outputs into ``out_dir``; returns the run's summary.

    The MCAP gets the messages the ROS graph would publish, on its topics and in the same grouping: per frame a
    CameraInfo, a WholeBody2DArray, a raw Skeleton3DArray and the lifter's MarkerArray; per frame the temporal
    stage releases, a refined Skeleton3DArray and its MarkerArray.
    skeletons.npz and render.mp4 get one row / image per source frame, once its refined skeletons are final
    (see :meth:`PosePipeline.is_settled`).

    With ``safety``, each final frame also goes through a :class:`~pose3d_ros.safety.SafetyMonitor` with the
    config's static poses, evaluated at the stamp of the newest frame read when the temporal stage released it
    (so its look-ahead shows as the skeletons' age, as on ROS); its SafetyStateArray goes to the MCAP, its arrays to
    skeletons.npz, its zones and distances into the rendered video, its time per state into the summary.

    ``out_dir`` is checked first (:func:`~pose3d_ros.pipeline.outputs.prepare_output_dir`: never an input, never
    mixed with an earlier run's files unless ``overwrite``). SIGINT and SIGTERM end the reading; the frames already
    read (at most a few, see overlap.BUFFER_FRAMES) are finished, and every output is complete
    (:mod:`~pose3d_ros.pipeline.stopping`). ``overlap`` False runs the reading and the 2D stage in this thread, one
    frame after the other (the same skeletons, slower; for comparisons and tests).

    ``observe(summary, queues)``, if given, is called each time the loop takes a frame (before handling it) and once
    after the last: the counts so far and the lengths of the run's queues (``read``, ``detected``: overlap.py's
    buffers; ``waiting``: frames waiting for the temporal stage's look-ahead). ``pose3d bench soak`` samples with it.
    """
    stop = StopRequest()
    with stop.on_signals(), ExitStack() as cleanup:
        return _run(source, pipeline, Path(out_dir), stop, cleanup, max_frames=max_frames, render=render,
                    show=show, write_images=write_images, progress=progress, safety=safety, overwrite=overwrite,
                    overlap=overlap, observe=observe)


def _run(source: FrameSource, pipeline: PosePipeline, out_dir: Path, stop: StopRequest, cleanup: ExitStack, *,
         max_frames: int | None, render: bool, show: bool, write_images: bool, progress: bool,
         safety: SafetyConfig | None, overwrite: bool, overlap: bool, observe) -> RunSummary:
    from tqdm import tqdm

    from pose3d_ros.messages import load_message_types

    if max_frames is not None and max_frames < 1:
        raise ValueError(f"--max-frames must be at least 1, got {max_frames}")
    safety_run = _SafetyRun(safety) if safety is not None else None
    window = LiveWindow() if show else None
    prepare_output_dir(out_dir, [source.path] if source.path is not None else [], overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    types = load_message_types()
    temporal = pipeline.temporal is not None

    summary = RunSummary(source.description)
    left_out = GapLog()  # frames read but not processed: out of order, or refused by a stage
    records = cleanup.enter_context(FrameRecords(out_dir))  # the rows of skeletons.npz, on disk until it is written
    waiting: dict[int, _Waiting] = {}  # by stamp, oldest first
    drawing = render or show
    renderer = (Renderer(pipeline.layout, "3D refined" if temporal else "3D (no temporal stage)", up=pipeline.up)
                if drawing else None)
    video = VideoSink(out_dir / RENDER_NAME, source.fps or 30.0) if render else None
    if safety_run is not None:
        summary.safety = safety_run.summary
    newest_stamp_ns = 0  # of the newest frame read

    def settle(entry: _Waiting, writer: FrameWriter) -> None:
        final = entry.final() if temporal else entry.raw
        report = None
        if safety_run is not None:
            seen_ns = newest_stamp_ns if entry.released_ns is None else entry.released_ns  # None: no temporal stage
            report = safety_run.check(final, seen_ns, source.skipped + summary.failed + summary.out_of_order)
            with _Timer(summary, "write"):
                writer.safety(report)
        records.append(FrameRecord.of(entry.frame, entry.keypoints, entry.raw, final if temporal else None, report))
        summary.latency.add("final_out", time.perf_counter() - entry.started_s)
        if renderer is not None:
            with _Timer(summary, "render"):
                keypoints = entry.keypoints
                image = renderer.render(entry.frame.image, keypoints.kp2d, keypoints.conf, keypoints.person_ids,
                                        final.positions, final.status, final.person_ids, entry.frame.stamp_s,
                                        image_height=keypoints.image_size[1],
                                        ghost=entry.raw.positions if temporal else None,
                                        safety=None if report is None else (safety_run.outlines, report))
                if video is not None:
                    video.write(image)
            if window is not None and window.show(image):
                stop.request("q in the live window")

    def released(frames: list, writer: FrameWriter) -> None:
        for refined in frames:
            with _Timer(summary, "write"):
                writer.refined(refined)
            entry = waiting.get(refined.stamp_ns)
            if entry is None:
                summary.late_refined += len(refined.person_ids)
                LOG.debug("refined frame %d ns came after its row was written", refined.stamp_ns)
            else:
                entry.add(refined)
                entry.released_ns = newest_stamp_ns

    total = getattr(source, "frame_count", None)
    total = min(total, max_frames) if total and max_frames else (total or max_frames)
    detection = DetectionStep(pipeline.detect)
    start = logged = time.perf_counter()
    with McapRecorder(out_dir, types.typestore) as recorder, \
            tqdm(total=total, unit="frame", disable=not progress, desc="pose3d", mininterval=0.5) as bar:
        writer = FrameWriter(recorder, types, pipeline.layout, pipeline.settings.lifter,
                             pipeline.settings.temporal if temporal else None, write_images)
        try:
            with Detections(source, detection, stop, max_frames=max_frames, overlap=overlap) as detections:

                def observed() -> None:
                    if observe is not None:
                        summary.dropped = detections.dropped
                        observe(summary, {"read": len(detections.read), "detected": len(detections.detected),
                                          "waiting": len(waiting)})

                for detected in detections:
                    observed()
                    frame = detected.frame
                    if detected.out_of_order:
                        summary.out_of_order += 1
                        left_out.add(frame.index, "its stamp is not after the previous frame's", frame.stamp_ns)
                        continue
                    newest_stamp_ns = frame.stamp_ns
                    keypoints, refused = detected.keypoints, detected.refused
                    if refused is None:
                        try:
                            with _Timer(summary, "lift") as lifting:
                                raw = pipeline.lift(keypoints, frame.camera, frame.stamp_ns, frame.frame_id,
                                                    frame.depth, frame.depth_encoding)
                            with _Timer(summary, "write"):
                                messages = writer.frame_messages(frame, keypoints, raw)
                        except ValueError as err:  # a stage refused this frame's data: skip it, like a node would
                            refused = str(err)
                    if refused is not None:
                        summary.failed += 1
                        left_out.add(frame.index, f"refused by a stage: {refused}", frame.stamp_ns)
                        continue
                    with _Timer(summary, "write"):
                        writer.write(messages, frame.stamp_ns)
                    summary.latency.add("raw_out", time.perf_counter() - detected.started_s)
                    # Only the renderer needs the pixels of waiting frames, and at most at the output's size.
                    frame.image = Renderer.fit(frame.image) if drawing else frame.image[:0, :0]
                    waiting[frame.stamp_ns] = _Waiting(frame, keypoints, raw, detected.started_s)
                    networks_s = lifting.seconds
                    if temporal:
                        with _Timer(summary, "temporal") as refining:
                            frames = pipeline.refine(raw)
                        networks_s += refining.seconds
                        released(frames, writer)
                    now = time.perf_counter()
                    summary.latency.add("waited", detected.started_s - detected.read_s)
                    summary.latency.add("2d", detected.detected_s - detected.started_s)
                    summary.latency.add("after_2d", now - detected.detected_s)
                    summary.latency.add("lift_refine", networks_s)
                    while waiting and pipeline.is_settled(len(waiting) - 1):
                        settle(waiting.pop(next(iter(waiting))), writer)
                    people = len(keypoints.person_ids)
                    summary.placed_by_depth += int((raw.placement == PlacementSource.DEPTH).sum())
                    summary.frames += 1
                    summary.frames_with_people += people > 0
                    summary.person_frames += people
                    summary.max_people = max(summary.max_people, people)
                    bar.update(1)
                    bar.set_postfix(people=people, refresh=False)
                    if not progress and (summary.frames == 1 or time.perf_counter() - logged >= PROGRESS_LOG_S):
                        LOG.info("processed %d frames (the last: frame %d)", summary.frames, frame.index)
                        logged = time.perf_counter()
                observed()
            summary.dropped = detections.dropped
            summary.stage_s["2d"] = detection.seconds
        except BaseException:
            if video is not None:
                video.abort()
            raise
        finally:
            if window is not None:  # the frames still held back are written, not shown
                window.close()
                window = None
        with _Timer(summary, "temporal"):
            frames = pipeline.finish()
        released(frames, writer)
        for stamp in list(waiting):
            settle(waiting.pop(stamp), writer)
        summary.topics = dict(recorder.counts)
    if summary.safety is not None:
        summary.safety.finish(1.0 / source.fps if source.fps else 0.0)
    summary.wall_s = time.perf_counter() - start
    summary.skipped = source.skipped
    summary.gaps = sorted(source.gaps + left_out.gaps, key=lambda gap: gap.first)
    summary.ended_early = source.ended_early
    if getattr(source, "depth_topic", None):
        summary.depth = {"topic": source.depth_topic, "paired": source.depth_paired,
                         "too_far": source.depth_too_far, "unreadable": source.depth_unreadable,
                         "refused": pipeline.depth.refused}
    summary.stopped_by, summary.stop_signal = stop.reason, stop.signal
    summary.manifest = _manifest(source, pipeline, max_frames=max_frames, render=render, write_images=write_images)
    summary.demo_truth = _score_against_truth(source, records)

    npz_path = out_dir / NPZ_NAME
    write_skeletons_npz(npz_path, records, pipeline.layout.name, source.description, source.fps,
                        safety_names=None if safety_run is None else safety_run.monitor.names)
    summary.outputs["skeletons"] = str(npz_path)
    summary.outputs["mcap"] = str(out_dir / MCAP_NAME)
    if video is not None:
        video.close()
        if video.frames:
            summary.outputs["render"] = str(video.path)
    summary_path = out_dir / SUMMARY_NAME
    summary.outputs["summary"] = str(summary_path)
    partial_path(summary_path).write_text(json.dumps(summary.to_dict(), indent=2, default=_json_default))
    publish(summary_path)
    return summary


def _manifest(source: FrameSource, pipeline: PosePipeline, **options) -> dict:
    """What the outputs were made from and with, so that a run can be checked and repeated: the input file or
    folder (size and modification time), the options, every stage parameter, and the software versions.
    """
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    inputs = []
    if source.path is not None:
        status = source.path.stat()
        inputs.append({"path": str(source.path.resolve()), "bytes": status.st_size if source.path.is_file() else None,
                       "modified": datetime.fromtimestamp(status.st_mtime, timezone.utc).isoformat()})
    return {
        "inputs": inputs,
        "options": options,
        "settings": dataclasses.asdict(pipeline.settings),
        "versions": {"python": platform.python_version(), **{name: installed(name) for name in VERSIONS_OF}},
    }


def _score_against_truth(source: FrameSource, records: FrameRecords) -> dict | None:
    """The run's output measured against the source's ground truth; None when the source has none."""
    truths = [source.truth(record.index) for record in records]
    if not truths or any(truth is None for truth in truths):
        return None
    outputs = []
    for record in records:
        stages = {"raw": record.raw, "refined": record.refined}
        outputs.append(FrameOutput(record.person_ids_2d, record.kp2d, record.conf, {
            name: (skeletons.person_ids, skeletons.positions) for name, skeletons in stages.items()
            if skeletons is not None}))
    return score_against_truth(truths, outputs)


class _SafetyRun:
    """The safety monitor over a run: the config's static poses, the outlines to draw, the summary."""

    def __init__(self, config: SafetyConfig) -> None:
        self.config = config
        self.poses = config.static_poses()
        self.monitor = SafetyMonitor(config)
        self.summary = SafetySummary(self.monitor.names)
        self.outlines = object_outlines(config, self.poses)
        self._lost = 0
        self._warned_frame = False

    def check(self, final: SkeletonFrame, now_ns: int, lost: int):
        """The monitor on a final frame, seen at ``now_ns``; ``lost``: frames skipped or refused so far."""
        camera = self.config.camera_frame
        if camera is not None and final.frame_id != camera and not self._warned_frame:
            self._warned_frame = True
            LOG.warning("the skeletons are in frame %r, the safety config's camera_frame is %r: taken to be the "
                        "same camera", final.frame_id, camera)
        report = self.monitor.update(final, now_ns, self.poses, dropped_frames=lost - self._lost)
        self._lost = lost
        self.summary.add(report)
        return report


class LiveWindow:
    """An OpenCV window showing the rendered frames as they are made; q or Esc stops the run (like Ctrl-C)."""

    NAME = "pose3d (q: quit)"

    def __init__(self) -> None:
        import cv2

        # Without a display, OpenCV's Qt backend aborts the process instead of raising: check first.
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise ValueError("--show needs a display (neither DISPLAY nor WAYLAND_DISPLAY is set); use --render to "
                             "write render.mp4 instead")
        cv2.namedWindow(self.NAME, cv2.WINDOW_NORMAL)

    def show(self, image: np.ndarray) -> bool:
        """Show the frame; True when q or Esc was pressed."""
        import cv2

        cv2.imshow(self.NAME, image)
        return cv2.waitKey(1) & 0xFF in (ord("q"), 27)

    def close(self) -> None:
        import cv2

        cv2.destroyWindow(self.NAME)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
