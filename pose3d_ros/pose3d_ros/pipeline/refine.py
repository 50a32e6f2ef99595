"""``pose3d refine IN OUT``: refine the raw skeletons of an existing output offline, without the 2D stage and lifter.

IN is a skeletons.npz written by ``pose3d run`` or a recording (MCAP file or rosbag2 folder) holding
pose3d_ros_msgs/Skeleton3DArray messages -- this package's or any other that writes the same messages. The raw
skeletons (``raw_*`` of the npz, the ``--topic`` of a recording, /skeletons3d by default) go through the
:class:`~pose3d_ros.temporal.OfflineRefiner` frame by frame, as the pipeline feeds it:

* npz -> OUT .npz: the same file with its ``refined_*`` arrays replaced (people slots widened where a filled
  person needs one);
* recording -> OUT folder: ``pose3d.mcap`` (a rosbag2 bag, as ``pose3d run`` writes it) with the raw topic and
  the refined skeletons on /skeletons3d_refined.

Frames are read one at a time (npz rows decompressed as they are read, messages one by one) and written the same
way, so memory stays that of the refiner's chunk, whatever the length of the recording.

Frames whose stamp is not after the previous one are skipped and counted (a recording that loops or repeats a
message), as ``pose3d run`` does.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_ros.node_logic.temporal_frames import SkeletonFrame, TemporalFrames
from pose3d_ros.skeleton import JointStatus

LOG = logging.getLogger(__name__)

REFINED_TOPIC = "/skeletons3d_refined"


@dataclass
class RefineSummary:
    frames: int = 0
    out_of_order: int = 0
    person_frames_in: int = 0
    person_frames_out: int = 0
    seconds: float = 0.0

    def text(self, source: Path, out: Path) -> str:
        rate = self.person_frames_in / self.seconds if self.seconds > 0 else float("nan")
        return (f"pose3d refine: {source} -> {out}\n  frames   {self.frames} refined; {self.out_of_order} skipped "
                f"(stamp not after the previous one)\n  people   {self.person_frames_in} person-frames in, "
                f"{self.person_frames_out} out\n  speed    {rate:.0f} person-frames/s (refinement alone, "
                f"{self.seconds:.1f} s)")


def _in_order(frames: Iterator[SkeletonFrame], summary: RefineSummary) -> Iterator[SkeletonFrame]:
    last = None
    for frame in frames:
        if last is not None and frame.stamp_ns <= last:
            summary.out_of_order += 1
            LOG.warning("skipping the frame at %d ns: its stamp is not after the previous frame's (%d ns)",
                        frame.stamp_ns, last)
            continue
        last = frame.stamp_ns
        yield frame


def refine_frames(frames: Iterator[SkeletonFrame], refiner, summary: RefineSummary) -> Iterator[SkeletonFrame]:
    """The refined frames, one per input frame and in its order (the refiner's chunks in between)."""
    import time

    temporal = TemporalFrames(refiner, refiner.num_joints)
    for frame in _in_order(frames, summary):
        summary.frames += 1
        summary.person_frames_in += len(frame.person_ids)
        started = time.perf_counter()
        out = temporal.push(frame.stamp_ns, frame.frame_id, frame.person_ids, frame.positions, frame.confidence,
                            frame.error, frame.status)
        summary.seconds += time.perf_counter() - started
        yield from out
    started = time.perf_counter()
    out = temporal.flush()
    summary.seconds += time.perf_counter() - started
    yield from out


# ------------------------------------------------------------------------------------------------ npz


NPZ_NEEDED = ("stamp_ns", "person_ids", "raw_positions", "raw_status", "raw_error", "conf")
NPZ_OPTIONAL = ("frame_index", "K", "image_size", "kp2d")


def _npz_records(path: Path):
    """The FrameRecords of a skeletons.npz (refined left out), read row by row as they are iterated; its layout,
    source and frame rate.
    """
    from .outputs import FrameRecord, npz_rows

    with np.load(path, allow_pickle=False) as data:
        missing = [key for key in (*NPZ_NEEDED, "layout") if key not in data.files]
        if missing:
            raise ValueError(f"{path} is not a skeletons.npz written by pose3d run: it lacks {', '.join(missing)}")
        present = [key for key in NPZ_OPTIONAL if key in data.files]
        layout = str(data["layout"])
        description = str(data["source"]) if "source" in data.files else ""
        fps = float(data["fps"]) if "fps" in data.files else float("nan")

    def records() -> Iterator[FrameRecord]:
        for f, row in enumerate(npz_rows(path, NPZ_NEEDED + tuple(present))):
            ids = row["person_ids"]
            has_2d = (ids >= 0) & np.isfinite(row["conf"]).any(axis=-1)
            has_raw = (ids >= 0) & (row["raw_status"] != JointStatus.MISSING).any(axis=-1)
            raw = SkeletonFrame(int(row["stamp_ns"]), "", ids[has_raw], np.nan_to_num(row["raw_positions"][has_raw]),
                                np.nan_to_num(row["conf"][has_raw]), row["raw_error"][has_raw],
                                row["raw_status"][has_raw])
            yield FrameRecord(int(row["frame_index"]) if "frame_index" in row else f, int(row["stamp_ns"]),
                              row["K"] if "K" in row else np.eye(3),
                              tuple(row["image_size"]) if "image_size" in row else (0, 0),
                              ids[has_2d], row["kp2d"][has_2d] if "kp2d" in row else None, row["conf"][has_2d], raw,
                              None)

    return records(), layout, description, (None if np.isnan(fps) else fps)


def refine_npz(source: Path, out: Path, refiner) -> RefineSummary:
    """Refine a skeletons.npz into ``out`` (.npz). Rows are read one at a time and the records wait for the npz's
    writing in a file beside ``out`` (as in ``pose3d run``), so memory stays that of the refiner's chunk.
    """
    from .outputs import FrameRecords, write_skeletons_npz

    records, layout, description, fps = _npz_records(source)
    if layout != refiner.layout.name:
        raise ValueError(f"{source} holds {layout} skeletons; this refiner is for {refiner.layout.name}")
    summary = RefineSummary()
    waiting: deque = deque()  # records read whose refined frame has not come out yet

    def raw_frames() -> Iterator[SkeletonFrame]:
        for record in records:
            waiting.append(record)
            yield record.raw

    with FrameRecords(out.parent) as kept:
        for refined in refine_frames(raw_frames(), refiner, summary):
            record = waiting.popleft()
            while record.stamp_ns != refined.stamp_ns:  # skipped out of order, or nobody left in it
                record = waiting.popleft()
            record.refined = refined
            summary.person_frames_out += len(refined.person_ids)
            kept.append(record)
        write_skeletons_npz(out, kept, layout, description, fps)
    return summary


# ------------------------------------------------------------------------------------------------ recordings


def _recording_frames(reader, topic: str, layout: str) -> Iterator[SkeletonFrame]:
    from pose3d_ros.messages import skeleton3d_to_numpy, stamp_ns

    connections = [c for c in reader.connections if c.topic == topic]
    if not connections:
        topics = sorted({c.topic for c in reader.connections if c.msgtype.endswith("Skeleton3DArray")})
        raise ValueError(f"no topic {topic} in the recording; its Skeleton3DArray topics: "
                         f"{', '.join(topics) or 'none'}")
    for connection, _, raw in reader.messages(connections=connections):
        msg = reader.deserialize(raw, connection.msgtype)
        skeletons = skeleton3d_to_numpy(msg, None)
        if skeletons.layout not in (None, layout):
            raise ValueError(f"{topic} carries {skeletons.layout} skeletons ({skeletons.positions.shape[1]} joints); "
                             f"this refiner is for {layout}")
        joints = skeletons.positions.shape[1] if skeletons.layout else 0
        shape = (len(skeletons.person_ids), joints)
        yield SkeletonFrame(stamp_ns(msg.header), msg.header.frame_id, skeletons.person_ids,
                            skeletons.positions.reshape(*shape, 3), skeletons.confidence.reshape(shape),
                            skeletons.error.reshape(shape), skeletons.status.reshape(shape))


def refine_recording(source: Path, out_dir: Path, refiner, topic: str) -> RefineSummary:
    """Refine the Skeleton3DArray ``topic`` of a recording into ``out_dir``/pose3d.mcap (raw and refined topics)."""
    from rosbags.highlevel import AnyReader

    from pose3d_ros.messages import load_message_types, make_header, skeleton3d_array

    from .recording import McapRecorder

    types = load_message_types()
    layout = refiner.layout.name
    summary = RefineSummary()
    try:
        reader = AnyReader([source], default_typestore=types.typestore)
        reader.open()
    except Exception as err:  # rosbags raises several unrelated error types for unreadable files
        raise ValueError(f"{source} is not a readable rosbag2/MCAP recording: {err}") from err
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with McapRecorder(out_dir, types.typestore) as recorder:
            def raw_frames() -> Iterator[SkeletonFrame]:
                for frame in _recording_frames(reader, topic, layout):
                    recorder.write(topic, skeleton3d_array(types, make_header(types, frame.stamp_ns, frame.frame_id),
                                                           frame.positions, frame.confidence, frame.error,
                                                           frame.status, frame.person_ids, layout), frame.stamp_ns)
                    yield frame

            for refined in refine_frames(raw_frames(), refiner, summary):
                summary.person_frames_out += len(refined.person_ids)
                header = make_header(types, refined.stamp_ns, refined.frame_id)
                recorder.write(REFINED_TOPIC, skeleton3d_array(types, header, refined.positions, refined.confidence,
                                                               refined.error, refined.status, refined.person_ids,
                                                               layout), refined.stamp_ns)
    finally:
        reader.close()
    return summary


def refine_command(args) -> int:
    import torch

    from pose3d_ros.temporal import OfflineRefiner

    torch.set_num_threads(args.threads)
    source, out = Path(args.input), Path(args.output)
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist")
    refiner = OfflineRefiner.load(args.weights, max_gap_s=args.max_gap_s, device=args.device)
    if source.suffix == ".npz":
        if out.suffix != ".npz":
            raise ValueError(f"an npz is refined into an npz: give OUT as FILE.npz, not {out}")
        out.parent.mkdir(parents=True, exist_ok=True)
        summary = refine_npz(source, out, refiner)
    else:
        if out.suffix:
            raise ValueError(f"a recording is refined into a folder (OUT/pose3d.mcap): give a folder, not {out}")
        summary = refine_recording(source, out, refiner, args.topic)
    print(summary.text(source, out))
    if summary.frames == 0:
        LOG.error("%s holds no frame to refine", source)
        return 1
    return 0

