"""The output folder and DIR/skeletons.npz.

The folder: a run never writes into its input, never mixes its files with an earlier run's (unless told to
replace them), and writes every file under a temporary name that is renamed into place once the file is complete,
so that a file under an output's name is always whole.

skeletons.npz: every frame's 2D keypoints and raw and refined 3D skeletons as padded numpy arrays. Frames are rows;
people are slots (the union of the people with 2D keypoints, raw or refined skeletons in that frame, sorted by id;
``person_ids`` is -1 in unused slots). Float arrays are NaN where a slot has no value; status arrays are 0
(MISSING) there. With ``pose3d run --safety``, the ``safety_*`` keys hold the monitor's report of each frame, one
column per monitored object. See docs/pipeline.md and docs/safety.md for the key lists.
"""

from __future__ import annotations

import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_ros.node_logic.temporal_frames import SkeletonFrame
from pose3d_ros.safety import SafetyReport
from pose3d_ros.skeleton import get_layout

from .recording import MCAP_NAME, STAGING_NAME
from .sources import Frame

NPZ_NAME = "skeletons.npz"
RENDER_NAME = "render.mp4"
SUMMARY_NAME = "summary.json"
BAG_METADATA_NAME = "metadata.yaml"
OUTPUT_NAMES = (NPZ_NAME, MCAP_NAME, BAG_METADATA_NAME, RENDER_NAME, SUMMARY_NAME)
PARTIAL_PREFIX = ".pose3d-partial-"


def partial_path(path: Path) -> Path:
    """Where an output is written until it is complete (same folder and extension, so that the rename is atomic
    and writers that pick the format from the name still do).
    """
    return path.with_name(PARTIAL_PREFIX + path.name)


def publish(path: Path) -> Path:
    """Rename the complete :func:`partial_path` file into place."""
    os.replace(partial_path(path), path)
    return path


def prepare_output_dir(out_dir: Path, inputs: list[Path], overwrite: bool) -> None:
    """:func:`check_output_dir`, then remove the earlier run's files it found (only with ``overwrite``)."""
    for path in check_output_dir(out_dir, inputs, overwrite):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def check_output_dir(out_dir: Path, inputs: list[Path], overwrite: bool) -> list[Path]:
    """Whether ``out_dir`` may take a run's files; returns the earlier run's files that ``overwrite`` replaces.

    Refused (ValueError): a folder that is an input or inside one, or that holds one (symlinks resolved); a
    folder with a rosbag2 metadata.yaml that pose3d did not write; without ``overwrite``, a folder holding files
    of an earlier run (its outputs, or the temporary files of one that was killed): they would sit beside the new
    run's files as if they belonged to it. Only those files count, nothing else in the folder.
    """
    out_dir = Path(out_dir)
    resolved_out = out_dir.resolve()
    for source in inputs:
        resolved = Path(source).resolve()
        if resolved_out == resolved or resolved in resolved_out.parents:
            raise ValueError(f"--out {out_dir} is inside the input {source}: writing there would change the input; "
                             "choose another output folder")
        if resolved_out in resolved.parents:
            raise ValueError(f"--out {out_dir} holds the input {source}: its outputs (or --overwrite) could replace "
                             "or remove the input; choose another output folder")
    if not out_dir.exists():
        return []
    if not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file, not a folder")
    metadata = out_dir / BAG_METADATA_NAME
    if metadata.is_file() and not _is_own_bag_metadata(metadata):
        raise ValueError(f"{out_dir} is another rosbag2 recording ({metadata} does not describe {MCAP_NAME} alone): "
                         "pose3d would replace its metadata.yaml; choose another output folder")
    earlier = sorted(path for path in out_dir.iterdir()
                     if path.name in OUTPUT_NAMES or path.name.startswith(PARTIAL_PREFIX) or path.name == STAGING_NAME)
    if earlier and not overwrite:
        raise ValueError(f"{out_dir} holds files of an earlier run ({', '.join(p.name for p in earlier)}); give "
                         "--overwrite to replace them, or choose another output folder")
    return earlier


def _is_own_bag_metadata(path: Path) -> bool:
    """Whether a metadata.yaml is the one a pose3d run writes: a bag whose only file is pose3d.mcap."""
    from ruamel.yaml import YAML, YAMLError

    try:
        content = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        return content["rosbag2_bagfile_information"]["relative_file_paths"] == [MCAP_NAME]
    except (YAMLError, TypeError, KeyError, UnicodeDecodeError):
        return False


@dataclass
class FrameRecord:
    """What the pipeline produced for one source frame (refined is None without the temporal stage)."""

    index: int
    stamp_ns: int
    K: np.ndarray
    image_size: tuple[int, int]
    person_ids_2d: np.ndarray
    kp2d: np.ndarray
    conf: np.ndarray
    raw: SkeletonFrame
    refined: SkeletonFrame | None
    safety: SafetyReport | None = None

    @classmethod
    def of(cls, frame: Frame, keypoints, raw: SkeletonFrame, refined: SkeletonFrame | None,
           safety: SafetyReport | None = None) -> FrameRecord:
        return cls(frame.index, frame.stamp_ns, frame.K, tuple(keypoints.image_size),
                   np.asarray(keypoints.person_ids), keypoints.kp2d, keypoints.conf, raw, refined, safety)


class FrameRecords:
    """A run's :class:`FrameRecord` s in frame order, kept in a file in the output folder rather than in memory;
    iterate (as often as needed) to read them back. Close it to remove the file.

    Why: skeletons.npz is written at the end of a run, and holding every row until then made a run's memory grow
    by ~7 KB per person-frame, ~0.5 GB over ``pose3d bench soak``'s 20 000 frames of four people; on disk it stays
    flat. The file has a partial name, so a killed run's file is found and removed like its other partial files.
    """

    NAME = "records.pickle"

    def __init__(self, out_dir: Path) -> None:
        self.path = partial_path(Path(out_dir) / self.NAME)
        self._file = open(self.path, "wb")  # noqa: SIM115 -- open until close()
        self._count = 0

    def append(self, record: FrameRecord) -> None:
        pickle.dump(record, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self):
        self._file.flush()
        with open(self.path, "rb") as file:
            for _ in range(self._count):
                yield pickle.load(file)  # noqa: S301 -- this run's own file

    def close(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> FrameRecords:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_skeletons_npz(path: Path, records: list[FrameRecord] | FrameRecords, layout: str, source: str,
                        fps: float | None, safety_names: tuple[str, ...] | None = None) -> None:
    """Write the records (in frame order) as DIR/skeletons.npz, through its partial name; see the module
    docstring for the layout. ``safety_names``: the monitored objects, when the records carry safety reports.
    """
    skeleton = get_layout(layout)
    joints = skeleton.num_joints
    frames = len(records)
    slots_per_frame = []
    for record in records:
        ids = set(record.person_ids_2d.tolist()) | set(record.raw.person_ids.tolist())
        if record.refined is not None:
            ids |= set(record.refined.person_ids.tolist())
        slots_per_frame.append(sorted(int(i) for i in ids))
    slots = max((len(ids) for ids in slots_per_frame), default=0)
    with_refined = any(record.refined is not None for record in records)

    arrays = {
        "stamp_ns": np.array([r.stamp_ns for r in records], np.int64),
        "frame_index": np.array([r.index for r in records], np.int64),
        "K": np.array([r.K for r in records], np.float64).reshape(frames, 3, 3),
        "image_size": np.array([r.image_size for r in records], np.int64).reshape(frames, 2),
        "person_ids": np.full((frames, slots), -1, np.int64),
        "kp2d": np.full((frames, slots, joints, 2), np.nan, np.float32),
        "conf": np.full((frames, slots, joints), np.nan, np.float32),
        "raw_positions": np.full((frames, slots, joints, 3), np.nan, np.float32),
        "raw_error": np.full((frames, slots, joints), np.nan, np.float32),
        "raw_status": np.full((frames, slots, joints), 0, np.uint8),
    }
    if with_refined:
        arrays.update({
            "refined_positions": np.full((frames, slots, joints, 3), np.nan, np.float32),
            "refined_confidence": np.full((frames, slots, joints), np.nan, np.float32),
            "refined_error": np.full((frames, slots, joints), np.nan, np.float32),
            "refined_status": np.full((frames, slots, joints), 0, np.uint8),
        })
    for f, (record, ids) in enumerate(zip(records, slots_per_frame, strict=True)):
        slot_of = {person_id: s for s, person_id in enumerate(ids)}
        arrays["person_ids"][f, : len(ids)] = ids
        for p, person_id in enumerate(record.person_ids_2d.tolist()):
            arrays["kp2d"][f, slot_of[person_id]] = record.kp2d[p]
            arrays["conf"][f, slot_of[person_id]] = record.conf[p]
        _put(arrays, "raw", f, slot_of, record.raw, confidence=False)
        if record.refined is not None:
            _put(arrays, "refined", f, slot_of, record.refined, confidence=True)
    if safety_names is not None:
        arrays.update(_safety_arrays(records, slots_per_frame, safety_names))
    t0 = arrays["stamp_ns"][0] if frames else 0
    arrays["time_s"] = (arrays["stamp_ns"] - t0) * 1e-9
    np.savez_compressed(partial_path(path), **arrays, layout=np.array(skeleton.name),
                        joint_names=np.array(skeleton.names), source=np.array(source),
                        fps=np.array(np.nan if fps is None else fps))
    publish(path)


def _put(arrays: dict, prefix: str, f: int, slot_of: dict[int, int], skeletons: SkeletonFrame,
         confidence: bool) -> None:
    for p, person_id in enumerate(skeletons.person_ids.tolist()):
        slot = slot_of[person_id]
        arrays[f"{prefix}_positions"][f, slot] = skeletons.positions[p]
        arrays[f"{prefix}_error"][f, slot] = skeletons.error[p]
        arrays[f"{prefix}_status"][f, slot] = skeletons.status[p]
        if confidence:
            arrays[f"{prefix}_confidence"][f, slot] = skeletons.confidence[p]


# Per-object columns of a SafetyReport and their npz dtype.
_SAFETY_COLUMNS = {"state": np.uint8, "causes": np.uint16, "distance": np.float32, "inflated_distance": np.float32,
                   "stop_distance": np.float32, "warning_distance": np.float32, "approach_speed": np.float32,
                   "person_id": np.int64, "joint": np.int64, "joint_point": np.float32, "object_point": np.float32}
_SAFETY_PER_PERSON = {"person_distance": np.float32, "person_joint": np.int64, "person_speed": np.float32}


def _safety_arrays(records: list[FrameRecord], slots_per_frame: list[list[int]], names: tuple[str, ...]) -> dict:
    """``safety_*`` arrays: (F, O[, 3]) per object, (F, O, P) per object and person slot."""
    frames, objects = len(records), len(names)
    slots = max((len(ids) for ids in slots_per_frame), default=0)
    arrays = {"safety_objects": np.array(names), "safety_evaluated_ns": np.zeros(frames, np.int64),
              "safety_nan_joints": np.zeros(frames, np.int64)}
    for key, dtype in _SAFETY_COLUMNS.items():
        shape = (frames, objects, 3) if key.endswith("_point") else (frames, objects)
        fill = -1 if np.issubdtype(dtype, np.signedinteger) else (0 if np.issubdtype(dtype, np.integer) else np.nan)
        arrays[f"safety_{key}"] = np.full(shape, fill, dtype)
    for key, dtype in _SAFETY_PER_PERSON.items():
        arrays[f"safety_{key}"] = np.full((frames, objects, slots), -1 if dtype is np.int64 else np.nan, dtype)
    for f, (record, ids) in enumerate(zip(records, slots_per_frame, strict=True)):
        report = record.safety
        arrays["safety_evaluated_ns"][f] = report.stamp_ns
        arrays["safety_nan_joints"][f] = report.nan_joints
        for key in _SAFETY_COLUMNS:
            arrays[f"safety_{key}"][f] = getattr(report, key)
        columns = [ids.index(int(person_id)) for person_id in report.person_ids]
        for key in _SAFETY_PER_PERSON:
            arrays[f"safety_{key}"][f][:, columns] = getattr(report, key)
    return arrays
