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

import io
import math
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
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
    flat. Each record is a fixed sequence of .npy arrays (written without pickle, so reading it back runs no code);
    the file has a partial name, so a killed run's file is found and removed like its other partial files.
    ``shape`` follows the npz's shape as records are appended, so that writing it needs no pass just for that.
    """

    NAME = "records.npy-stream"

    def __init__(self, out_dir: Path) -> None:
        self.path = partial_path(Path(out_dir) / self.NAME)
        self._file = open(self.path, "wb")  # noqa: SIM115 -- open until close()
        self._count = 0
        self.shape = RowShape()

    def append(self, record: FrameRecord) -> None:
        for array in _record_arrays(record):
            np.lib.format.write_array(self._file, array, version=(1, 0), allow_pickle=False)
        self._count += 1
        self.shape.add(record)

    def __len__(self) -> int:
        return self._count

    def __iter__(self):
        self._file.flush()
        with open(self.path, "rb") as file:
            read = _ArrayReader(file)
            for _ in range(self._count):
                yield _read_record(read)

    def close(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> FrameRecords:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _ArrayReader:
    """Reads the .npy arrays (version 1.0) of a records file one after the other. Their headers repeat, frame after
    frame, so each distinct one is parsed once: numpy's read_array parses every one, 2/3 of its time here.
    """

    _PREFIX = np.lib.format.magic(1, 0)

    def __init__(self, file) -> None:
        self._file = file
        self._headers: dict[bytes, tuple] = {}

    def __call__(self) -> np.ndarray:
        prefix = self._file.read(len(self._PREFIX) + 2)
        if prefix[: len(self._PREFIX)] != self._PREFIX:
            raise ValueError(f"{self._file.name} is damaged: no .npy array where one should begin")
        header = self._file.read(int.from_bytes(prefix[-2:], "little"))
        if header not in self._headers:
            self._headers[header] = np.lib.format.read_array_header_1_0(io.BytesIO(prefix[-2:] + header))
        shape, fortran_order, dtype = self._headers[header]
        array = np.fromfile(self._file, dtype, math.prod(shape))
        return array.reshape(shape, order="F" if fortran_order else "C")


def _record_arrays(record: FrameRecord) -> list[np.ndarray]:
    """A record as the arrays :func:`_read_record` reads back: a head of its numbers and what follows."""
    head = [record.index, record.stamp_ns, *record.image_size, record.refined is not None, record.safety is not None]
    arrays = [np.array(head, np.int64), np.asarray(record.K), np.asarray(record.person_ids_2d),
              np.asarray(record.kp2d), np.asarray(record.conf), *_skeleton_arrays(record.raw)]
    if record.refined is not None:
        arrays += _skeleton_arrays(record.refined)
    if record.safety is not None:
        report = record.safety
        arrays += [np.array([report.stamp_ns, report.image_stamp_ns, report.nan_joints], np.int64),
                   np.array(report.frame_id), np.array(report.names, str),
                   *(np.asarray(getattr(report, key)) for key in _REPORT_ARRAYS)]
    return arrays


def _skeleton_arrays(skeletons: SkeletonFrame) -> list[np.ndarray]:
    arrays = [np.array([skeletons.stamp_ns, skeletons.placement is not None], np.int64),
              np.array(skeletons.frame_id),
              *(np.asarray(getattr(skeletons, key)) for key in _SKELETON_ARRAYS)]
    return arrays if skeletons.placement is None else [*arrays, np.asarray(skeletons.placement)]


def _read_record(read) -> FrameRecord:
    """The record whose :func:`_record_arrays` ``read()`` returns one after the other."""
    index, stamp_ns, width, height, refined, safety = read().tolist()
    record = FrameRecord(index, stamp_ns, read(), (width, height), read(), read(), read(), _read_skeletons(read),
                         _read_skeletons(read) if refined else None)
    if safety:
        report_stamp_ns, image_stamp_ns, nan_joints = read().tolist()
        frame_id, names = read().item(), tuple(read().tolist())
        record.safety = SafetyReport(report_stamp_ns, image_stamp_ns, frame_id, names,
                                     **{key: read() for key in _REPORT_ARRAYS}, nan_joints=nan_joints)
    return record


def _read_skeletons(read) -> SkeletonFrame:
    stamp_ns, placement = read().tolist()
    frame_id = read().item()
    arrays = [read() for _ in _SKELETON_ARRAYS]
    return SkeletonFrame(stamp_ns, frame_id, *arrays, read() if placement else None)


_SKELETON_ARRAYS = ("person_ids", "positions", "confidence", "error", "status")


@dataclass
class RowShape:
    """What the npz's shape depends on besides the number of frames: the most people in one frame, and whether any
    frame has refined skeletons.
    """

    slots: int = 0
    with_refined: bool = False

    def add(self, record: FrameRecord) -> None:
        self.slots = max(self.slots, len(_slot_ids(record)))
        self.with_refined |= record.refined is not None

    @classmethod
    def of(cls, records: list[FrameRecord]) -> RowShape:
        shape = cls()
        for record in records:
            shape.add(record)
        return shape


def _slot_ids(record: FrameRecord) -> list[int]:
    """The person ids of a record's slots: everyone with 2D keypoints, raw or refined skeletons, sorted."""
    ids = set(record.person_ids_2d.tolist()) | set(record.raw.person_ids.tolist())
    if record.refined is not None:
        ids |= set(record.refined.person_ids.tolist())
    return sorted(int(i) for i in ids)


BLOCK_FRAMES = 256
"""Rows of every array held in memory at once while the npz is written."""


def write_skeletons_npz(path: Path, records: list[FrameRecord] | FrameRecords, layout: str, source: str,
                        fps: float | None, safety_names: tuple[str, ...] | None = None) -> None:
    """Write the records (in frame order) as DIR/skeletons.npz, through its partial name; see the module
    docstring for the layout. ``safety_names``: the monitored objects, when the records carry safety reports.

    Memory does not grow with the frames: one pass over the records puts each array's rows, ``BLOCK_FRAMES`` at a
    time, into its own .npy file (the header says the whole shape) in a temporary folder beside ``path``; each
    file is then compressed into the zip as its entry (a zip's entries are written one after the other, and
    reading the records once per entry would read them up to 31 times instead of once).
    """
    skeleton = get_layout(layout)
    shape = records.shape if isinstance(records, FrameRecords) else RowShape.of(records)
    columns = _columns(shape, skeleton.num_joints, safety_names)
    frames = len(records)
    with tempfile.TemporaryDirectory(prefix=f"{PARTIAL_PREFIX}{path.stem}-rows-", dir=path.parent) as scratch:
        files = {key: open(Path(scratch) / f"{key}.npy", "wb") for key in columns}  # noqa: SIM115 -- closed below
        try:
            for key, (row_shape, dtype, _) in columns.items():
                np.lib.format.write_array_header_1_0(files[key], {
                    "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                    "shape": (frames, *row_shape)})
            blocks = {key: np.full((BLOCK_FRAMES, *row_shape), fill, dtype)
                      for key, (row_shape, dtype, fill) in columns.items()}
            first_ns, b = None, 0
            for record in records:
                first_ns = record.stamp_ns if first_ns is None else first_ns
                _put_row(blocks, b, record, first_ns)
                b += 1
                if b == BLOCK_FRAMES:
                    _flush(blocks, b, files, columns)
                    b = 0
            _flush(blocks, b, files, columns)
        finally:
            for file in files.values():
                file.close()
        with zipfile.ZipFile(partial_path(path), "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            for key in columns:
                archive.write(Path(scratch) / f"{key}.npy", f"{key}.npy")
            constants = {"layout": np.array(skeleton.name), "joint_names": np.array(skeleton.names),
                         "source": np.array(source), "fps": np.array(np.nan if fps is None else fps)}
            if safety_names is not None:
                constants["safety_objects"] = np.array(safety_names)
            for key, value in constants.items():
                with archive.open(f"{key}.npy", "w", force_zip64=True) as entry:
                    np.lib.format.write_array(entry, value, allow_pickle=False)
    publish(path)


def npz_rows(path: Path, keys: tuple[str, ...]) -> Iterator[dict[str, np.ndarray]]:
    """The rows (first-axis entries) of the ``keys`` arrays of an .npz, frame by frame, each entry decompressed as
    it is read: memory is a row's, not the file's (``pose3d refine`` of a long recording). ValueError when an
    entry is not an array of rows, the entries differ in length, or the file ends early.
    """
    with zipfile.ZipFile(path) as archive:
        readers, lengths = {}, set()
        for key in keys:
            entry = archive.open(f"{key}.npy")
            version = np.lib.format.read_magic(entry)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"{path}: {key} is a .npy of version {version}, not 1.0 or 2.0")
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, fortran_order, dtype = read_header(entry)
            if fortran_order or dtype.hasobject or not shape:
                raise ValueError(f"{path}: {key} is not an array of rows (shape {shape}, {dtype})")
            readers[key] = (entry, shape[1:], dtype, math.prod(shape[1:]) * dtype.itemsize)
            lengths.add(shape[0])
        if len(lengths) > 1:
            raise ValueError(f"{path}: the arrays {', '.join(keys)} differ in length ({sorted(lengths)})")
        for _ in range(lengths.pop() if lengths else 0):
            row = {}
            for key, (entry, row_shape, dtype, size) in readers.items():
                data = entry.read(size)
                if len(data) != size:
                    raise ValueError(f"{path} is damaged: {key} ends early")
                row[key] = np.frombuffer(data, dtype).reshape(row_shape)
            yield row


def _columns(shape: RowShape, joints: int, safety_names: tuple[str, ...] | None) -> dict:
    """Per array growing with the frames: the shape of one row, the dtype and the value of an empty slot."""
    slots = shape.slots
    columns = {"stamp_ns": ((), np.int64, 0), "frame_index": ((), np.int64, 0), "K": ((3, 3), np.float64, 0),
               "image_size": ((2,), np.int64, 0), "person_ids": ((slots,), np.int64, -1)}
    per_joint = [("kp2d", (2,), np.float32), ("conf", (), np.float32), ("raw_positions", (3,), np.float32),
                 ("raw_error", (), np.float32), ("raw_status", (), np.uint8)]
    if shape.with_refined:
        per_joint += [("refined_positions", (3,), np.float32), ("refined_confidence", (), np.float32),
                      ("refined_error", (), np.float32), ("refined_status", (), np.uint8)]
    columns.update({key: ((slots, joints, *tail), dtype, np.nan if dtype is np.float32 else 0)
                    for key, tail, dtype in per_joint})
    if safety_names is not None:
        objects = len(safety_names)
        columns.update({"safety_evaluated_ns": ((), np.int64, 0), "safety_nan_joints": ((), np.int64, 0)})
        for key, dtype in _SAFETY_COLUMNS.items():
            fill = -1 if np.issubdtype(dtype, np.signedinteger) else (0 if np.issubdtype(dtype, np.integer) else np.nan)
            columns[f"safety_{key}"] = ((objects, 3) if key.endswith("_point") else (objects,), dtype, fill)
        for key, dtype in _SAFETY_PER_PERSON.items():
            columns[f"safety_{key}"] = ((objects, slots), dtype, -1 if dtype is np.int64 else np.nan)
    columns["time_s"] = ((), np.float64, 0)
    return columns


def _put_row(blocks: dict, b: int, record: FrameRecord, first_ns: int) -> None:
    """Row ``b`` of the blocks from one record."""
    ids = _slot_ids(record)
    slot_of = {person_id: s for s, person_id in enumerate(ids)}
    blocks["stamp_ns"][b] = record.stamp_ns
    blocks["frame_index"][b] = record.index
    blocks["K"][b] = np.reshape(record.K, (3, 3))
    blocks["image_size"][b] = record.image_size
    blocks["time_s"][b] = (np.int64(record.stamp_ns) - np.int64(first_ns)) * 1e-9
    blocks["person_ids"][b, : len(ids)] = ids
    for p, person_id in enumerate(record.person_ids_2d.tolist()):
        blocks["kp2d"][b, slot_of[person_id]] = record.kp2d[p]
        blocks["conf"][b, slot_of[person_id]] = record.conf[p]
    _put(blocks, "raw", b, slot_of, record.raw, confidence=False)
    if record.refined is not None:
        _put(blocks, "refined", b, slot_of, record.refined, confidence=True)
    if "safety_state" in blocks:
        report = record.safety
        blocks["safety_evaluated_ns"][b] = report.stamp_ns
        blocks["safety_nan_joints"][b] = report.nan_joints
        for key in _SAFETY_COLUMNS:
            blocks[f"safety_{key}"][b] = getattr(report, key)
        columns = [ids.index(int(person_id)) for person_id in report.person_ids]
        for key in _SAFETY_PER_PERSON:
            blocks[f"safety_{key}"][b][:, columns] = getattr(report, key)


def _flush(blocks: dict, rows: int, files: dict, columns: dict) -> None:
    """Append the first ``rows`` rows of every block to its file and empty the blocks."""
    for key, block in blocks.items():
        files[key].write(block[:rows].tobytes())
        block.fill(columns[key][2])


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
_REPORT_ARRAYS = (*_SAFETY_COLUMNS, "person_ids", *_SAFETY_PER_PERSON)
