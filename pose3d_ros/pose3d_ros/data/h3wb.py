"""H3WB (Human3.6M 3D WholeBody, ICCV 2023) for users who have it: the official JSON and npz files, the 5-fold
cross-validation split, the test-set layout, the submission format and the metric.

The files (https://github.com/wholebody3d/wholebody3d) are not part of this project and never needed by it.

* JSON (``2Dto3D_train.json``, ``2Dto3D_test_2d.json``, ``I2Dto3D_test_2d.json``, ``RGBto3D_train.json``): a dict
  keyed by the sample id as a string; each sample has ``keypoints_2d`` and/or ``keypoints_3d``, dicts keyed by the
  joint index as a string ("0".."132") of ``{"x", "y"}`` (pixels) / ``{"x", "y", "z"}`` (millimetres), and
  optionally ``image_path`` and ``bbox`` (``x_min``, ``y_min``, ``x_max``, ``y_max``). The 3D points have the
  camera's orientation (x right, y down, z forward) but not its origin (the public examples put the nose 1.5 m
  "above" the origin), so only root-aligned comparisons are meaningful -- which is what the official metric does.
  Test files carry 2D only; their ids are not contiguous (``2Dto3D_test_2d.json`` has ids 8k..8k+3,
  ``I2Dto3D_test_2d.json`` 8k+4..8k+7).
* npz (``h3wb_train.npz``): ``train_data`` = {subject: {action: {"frame_id": (T,), camera id: {"pose_2d":
  (T, 133, 2) px, "camera_3d": (T, 133, 3) mm}}}}, plus ``metadata`` and ``bbox``. These are pickled Python objects
  inside the npz, so loading one runs pickle: load only files you obtained from the official source.
* Cross-validation (the benchmark has no validation set): fold k in 1..5 validates on the samples at positions
  ``[(n // 5) * (k - 1), (n // 5) * k)`` of the training file in id order and trains on the rest.
* Submission: a JSON {id: {"keypoints_3d": {"0": {"x", "y", "z"}, ...}}} in millimetres, for every test id.
* Metric: :func:`pose3d_ros.metrics.h3wb_errors` (pelvis-aligned MPJPE for all/body/face/hands, nose-aligned face,
  wrist-aligned hands), in millimetres.

In this package 2D is float32 pixels with a confidence (1 where H3WB gives a point, 0 + ``fill_missing`` where a
point is absent or null, as in the incomplete-2D task) and 3D is float32 metres.
"""

from __future__ import annotations

import json
import math
import pickle
import re
from pathlib import Path

import numpy as np

from ..metrics import h3wb_errors
from ..skeleton import WHOLEBODY133

NUM_JOINTS = 133
FOLDS = 5
# The four Human3.6M cameras (published calibration): focal lengths and principal points in pixels, image size.
H36M_CAMERAS = {
    "54138969": {"f": (1145.0494, 1143.7811), "c": (512.5415, 515.4515), "size": (1000, 1002)},
    "55011271": {"f": (1149.6757, 1147.5917), "c": (508.8486, 508.0649), "size": (1000, 1000)},
    "58860488": {"f": (1149.1407, 1148.7990), "c": (519.8159, 501.4026), "size": (1000, 1000)},
    "60457274": {"f": (1145.5114, 1144.7739), "c": (514.9682, 501.8820), "size": (1000, 1002)},
}
_CAMERA_IN_PATH = re.compile(r"(54138969|55011271|58860488|60457274)")


def camera_intrinsics(camera_id: str) -> tuple[np.ndarray, np.ndarray]:
    """K (3, 3) and image size (width, height) of a Human3.6M camera."""
    try:
        camera = H36M_CAMERAS[str(camera_id)]
    except KeyError:
        raise ValueError(f"unknown Human3.6M camera {camera_id!r}; known: {', '.join(H36M_CAMERAS)}") from None
    (fx, fy), (cx, cy) = camera["f"], camera["c"]
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]), np.array(camera["size"], dtype=np.float64)


def _points(sample_id: str, sample: dict, key: str, dims: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(133, len(dims)) coordinates and (133,) presence of one sample's keypoint dict."""
    table = sample.get(key)
    if not isinstance(table, dict):
        raise ValueError(f"{path}: sample {sample_id!r} has no {key!r} dict of joints")
    out = np.zeros((NUM_JOINTS, len(dims)))
    present = np.zeros(NUM_JOINTS, dtype=bool)
    for joint_key, point in table.items():
        if not (isinstance(joint_key, str) and joint_key.isdigit() and int(joint_key) < NUM_JOINTS):
            raise ValueError(f"{path}: sample {sample_id!r} {key} has joint key {joint_key!r}; expected '0'..'132'")
        if point is None:
            continue
        if not isinstance(point, dict) or any(axis not in point for axis in dims):
            raise ValueError(f"{path}: sample {sample_id!r} {key}[{joint_key!r}] must be a dict with {', '.join(dims)}")
        values = [point[axis] for axis in dims]
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
            continue
        try:
            out[int(joint_key)] = [float(v) for v in values]
        except (TypeError, ValueError):
            raise ValueError(f"{path}: sample {sample_id!r} {key}[{joint_key!r}] is not numeric: {point}") from None
        present[int(joint_key)] = True
    return out, present


def load_h3wb_json(path: str | Path) -> dict[str, np.ndarray]:
    """Load an official H3WB JSON file (train or test layout), samples sorted by numeric id.

    Returns ``ids`` (N,) int64, and where the file has them: ``kp2d`` (N, 133, 2) float32 pixels with ``conf``
    (N, 133) (1 present, 0 absent; absent points filled in by ``fill_missing``), ``pose3d`` (N, 133, 3) float32
    metres (a file with some 3D points absent is refused: the metric needs all of them), ``bbox`` (N, 4)
    (x_min, y_min, x_max, y_max), ``image_path`` (N,) str, and ``K`` (N, 3, 3) / ``image_size`` (N, 2) when every
    image path names its Human3.6M camera.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"H3WB file {path} not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected a non-empty dict of samples keyed by id")
    bad = [key for key in data if not (isinstance(key, str) and key.isdigit())]
    if bad:
        raise ValueError(f"{path}: sample ids must be non-negative integers as strings, found {bad[0]!r}")
    ids = sorted(data, key=int)
    first = data[ids[0]]
    if not isinstance(first, dict):
        raise ValueError(f"{path}: sample {ids[0]!r} is not a dict")
    out: dict[str, np.ndarray] = {"ids": np.array([int(i) for i in ids], dtype=np.int64)}
    for key, dims, name in (("keypoints_2d", "xy", "kp2d"), ("keypoints_3d", "xyz", "pose3d")):
        if key not in first:
            continue
        points, present = zip(*(_points(i, data[i], key, dims, path) for i in ids), strict=True)
        points, present = np.stack(points), np.stack(present)
        if name == "kp2d":
            out["kp2d"] = WHOLEBODY133.fill_missing(points, present).astype(np.float32)
            out["conf"] = present.astype(np.float32)
        else:
            if not present.all():
                sample = ids[int(np.nonzero(~present.all(axis=1))[0][0])]
                raise ValueError(f"{path}: sample {sample!r} lacks some 3D keypoints")
            out["pose3d"] = (points / 1000.0).astype(np.float32)
    if "kp2d" not in out and "pose3d" not in out:
        raise ValueError(f"{path}: samples have neither 'keypoints_2d' nor 'keypoints_3d'")
    if "bbox" in first:
        try:
            out["bbox"] = np.array([[data[i]["bbox"][k] for k in ("x_min", "y_min", "x_max", "y_max")] for i in ids],
                                   dtype=np.float32)
        except (KeyError, TypeError) as err:
            raise ValueError(f"{path}: malformed 'bbox' ({err})") from err
    if "image_path" in first:
        out["image_path"] = np.array([str(data[i].get("image_path", "")) for i in ids])
        cameras = [_CAMERA_IN_PATH.search(p) for p in out["image_path"]]
        if all(cameras):
            intrinsics = [camera_intrinsics(match.group(1)) for match in cameras]
            out["K"] = np.stack([k for k, _ in intrinsics]).astype(np.float32)
            out["image_size"] = np.stack([s for _, s in intrinsics]).astype(np.float32)
    return out


def load_h3wb_npz(path: str | Path, subjects=None) -> dict[str, dict[str, np.ndarray]]:
    """Load the official ``h3wb_train.npz``: ``"S1/Directions/54138969"`` (subject/action/camera) -> ``kp2d``
    (T, 133, 2) float32 px, ``conf`` (T, 133) ones, ``pose3d`` (T, 133, 3) float32 metres (camera frame), ``K``
    (3, 3), ``image_size`` (2,), ``frame_id`` (T,). ``subjects`` restricts the subjects (e.g. ``("S1", "S5")``).
    """
    from .h36m import normalise_subjects

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"H3WB file {path} not found")
    wanted = normalise_subjects(subjects)
    with path.open("rb") as file:
        if file.read(4) != b"PK\x03\x04":
            raise ValueError(f"{path} is not an .npz (zip) file")
    try:
        with np.load(path, allow_pickle=True) as archive:  # the official format stores pickled dicts
            if "train_data" not in archive.files:
                raise ValueError(f"{path}: no 'train_data' entry; this is not an H3WB npz (found "
                                 f"{', '.join(archive.files) or 'nothing'})")
            tree = archive["train_data"].item()
    except (OSError, EOFError, pickle.UnpicklingError) as err:
        raise ValueError(f"{path} is not a readable H3WB .npz file: {err}") from err
    if not isinstance(tree, dict):
        raise ValueError(f"{path}: 'train_data' must hold a dict of subjects")
    if wanted is not None:
        absent = [s for s in wanted if s not in tree]
        if absent:
            raise ValueError(f"{path}: subjects {', '.join(absent)} not in the file (it has {', '.join(tree)})")
    sequences = {}
    for subject in sorted(tree):
        if wanted is not None and subject not in wanted:
            continue
        for action, entry in sorted(tree[subject].items()):
            for camera in sorted(k for k in entry if k in H36M_CAMERAS):
                name = f"{subject}/{action}/{camera}"
                try:
                    kp2d = np.asarray(entry[camera]["pose_2d"], dtype=np.float32).reshape(-1, NUM_JOINTS, 2)
                    pose3d = np.asarray(entry[camera]["camera_3d"], dtype=np.float64).reshape(-1, NUM_JOINTS, 3)
                except (KeyError, TypeError, ValueError) as err:
                    raise ValueError(f"{path}: {name} needs 'pose_2d' (T, 133, 2) and 'camera_3d' (T, 133, 3): "
                                     f"{err}") from err
                if len(kp2d) != len(pose3d):
                    raise ValueError(f"{path}: {name} has {len(kp2d)} 2D but {len(pose3d)} 3D frames")
                if not (np.isfinite(kp2d).all() and np.isfinite(pose3d).all()):
                    raise ValueError(f"{path}: {name} contains NaN or infinite values")
                K, size = camera_intrinsics(camera)
                frame_id = np.asarray(entry.get("frame_id", np.arange(len(kp2d))))
                sequences[name] = {"kp2d": kp2d, "conf": np.ones(kp2d.shape[:2], dtype=np.float32),
                                   "pose3d": (pose3d / 1000.0).astype(np.float32), "K": K.astype(np.float32),
                                   "image_size": size.astype(np.float32), "frame_id": frame_id}
    if not sequences:
        raise ValueError(f"{path}: no sequences found")
    return sequences


def cross_validation_split(num_samples: int, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """The official 5-fold split of a training file of ``num_samples`` samples (positions in id order):
    (train positions, validation positions) for ``fold`` in 1..5. The last ``num_samples % 5`` samples are never
    validated, as in the official evaluation script.
    """
    if not 1 <= fold <= FOLDS:
        raise ValueError(f"fold must be in 1..{FOLDS}, got {fold}")
    size = num_samples // FOLDS
    positions = np.arange(num_samples)
    validation = (positions >= size * (fold - 1)) & (positions < size * fold)
    return positions[~validation], positions[validation]


def write_h3wb_predictions(path: str | Path, ids: np.ndarray, pose3d_m: np.ndarray) -> None:
    """Write predictions (N, 133, 3) in metres for sample ``ids`` (N,) in the official submission format
    (millimetres). A file for a cross-validation fold k should have ``cv<k>`` in its name for the official script.
    """
    ids = np.asarray(ids)
    pose3d_m = np.asarray(pose3d_m, dtype=np.float64)
    if pose3d_m.shape != (len(ids), NUM_JOINTS, 3):
        raise ValueError(f"predictions must be ({len(ids)}, 133, 3) for {len(ids)} ids, got {pose3d_m.shape}")
    if not np.isfinite(pose3d_m).all():
        raise ValueError("predictions contain NaN or infinite values")
    if len(set(ids.tolist())) != len(ids):
        raise ValueError("sample ids are not unique")
    millimetres = pose3d_m * 1000.0
    out = {str(int(i)): {"keypoints_3d": {str(j): {"x": float(p[0]), "y": float(p[1]), "z": float(p[2])}
                                          for j, p in enumerate(pose)}}
           for i, pose in zip(ids, millimetres, strict=True)}
    Path(path).write_text(json.dumps(out))


def score_h3wb(pred_m: np.ndarray, gt_m: np.ndarray) -> dict[str, float]:
    """The official H3WB errors in millimetres for predictions and ground truth (N, 133, 3) in metres."""
    return h3wb_errors(np.asarray(pred_m, dtype=np.float64) * 1000.0, np.asarray(gt_m, dtype=np.float64) * 1000.0)


def score_h3wb_files(prediction_path: str | Path, truth_path: str | Path, fold: int | None = None,
                     ) -> dict[str, float]:
    """Score a prediction file against a file with 3D ground truth; with ``fold`` only that fold's validation
    samples are scored (the ground truth being the training file). Every scored id needs a prediction.
    """
    truth = load_h3wb_json(truth_path)
    if "pose3d" not in truth:
        raise ValueError(f"{truth_path} has no 3D keypoints to score against")
    positions = np.arange(len(truth["ids"])) if fold is None else cross_validation_split(len(truth["ids"]), fold)[1]
    predicted = load_h3wb_json(prediction_path)
    if "pose3d" not in predicted:
        raise ValueError(f"{prediction_path} has no 'keypoints_3d'")
    index = {int(i): k for k, i in enumerate(predicted["ids"])}
    missing = [int(truth["ids"][p]) for p in positions if int(truth["ids"][p]) not in index]
    if missing:
        raise ValueError(f"{prediction_path} lacks predictions for {len(missing)} ids (first: {missing[0]})")
    pred = predicted["pose3d"][[index[int(truth["ids"][p])] for p in positions]]
    return score_h3wb(pred, truth["pose3d"][positions])
