"""Training sets for the lifter (single frames) and the temporal refiner (windows of frames).

Both take real Human3.6M motion, express it in a skeleton layout (the H36M-17 subset, or 133 whole-body joints
synthesised from the 32-joint body), look at it through randomly sampled cameras and turn it into 2D detections
with the detector model of :mod:`pose3d_ros.data.detector`. Everything is deterministic given ``seed``: each
sequence draws from its own random stream seeded by ``(seed, sequence key)``, so a sequence's samples do not
depend on which other subjects are loaded.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from ..camera import CAMERA_SETUPS, Cameras, project, sample_cameras, setup_cameras
from ..skeleton import get_layout
from .detector import NOISE_KINDS, detect, random_occlusion
from .h36m import SOURCE_FPS, TRAIN_SUBJECTS, load_h36m, to_h36m17

SET_LAYOUTS = ("wholebody133", "h36m17")
PELVIS_32 = 0
MOCAP_BODY_HEIGHT_M = 1.72
"""Standing height of the motion file's one skeleton: its head joint is 1.61 m above the floor when standing (the
median over S1's frames), the crown about 11 cm higher."""


def _rng(seed: int, key: str, purpose: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode()), zlib.crc32(purpose.encode())])


def _check_layout(layout: str) -> None:
    if layout not in SET_LAYOUTS:
        raise ValueError(f"training sets exist for layouts {', '.join(SET_LAYOUTS)}, not {layout!r}")


def poses_in_layout(poses32: np.ndarray, times_s: np.ndarray, layout: str, key: str, seed: int) -> np.ndarray:
    """World poses (T, J, 3) in ``layout`` from 32-joint poses at times ``times_s`` (seconds) of sequence ``key``.

    For wholebody133 the synthetic person (face and hand shape, expression and finger motion) is drawn from the
    stream of ``(seed, key)``, so the same sequence and seed always give the same person.
    """
    if layout == "h36m17":
        return to_h36m17(poses32)
    from .wholebody import sample_identity, synthesize_wholebody

    return synthesize_wholebody(poses32, times_s, sample_identity(_rng(seed, key, "identity")))


def scale_bodies(points_world: np.ndarray, pelvis: np.ndarray, heights_m: np.ndarray) -> np.ndarray:
    """World poses (N, ..., J, 3) of the motion file's skeleton made ``heights_m`` (N,) tall: scaled about the floor
    point under each pelvis (N, 3) (the floor is z = 0), so the feet stay on the floor.
    """
    scale = (np.asarray(heights_m, dtype=np.float64) / MOCAP_BODY_HEIGHT_M).reshape((-1,) + (1,) * (
        points_world.ndim - 1))
    anchor = np.asarray(pelvis, dtype=np.float64) * np.array([1.0, 1.0, 0.0])
    anchor = anchor.reshape((len(anchor),) + (1,) * (points_world.ndim - 2) + (3,))
    return (anchor + scale * (points_world - anchor)).astype(points_world.dtype)


def _finish(points_world: np.ndarray, cameras: Cameras, layout_name: str, noise: str, rng: np.random.Generator,
            occluded: np.ndarray | None, fps: float | None) -> dict[str, np.ndarray]:
    """Camera-frame poses and detections for world poses (B, T, J, 3), one camera per leading index."""
    layout = get_layout(layout_name)
    points_cam = cameras.world_to_camera(points_world)
    kp2d, conf = detect(points_cam, cameras.K, cameras.image_size, layout, rng, noise=noise, occluded=occluded,
                        fps=fps)
    B, T = points_world.shape[:2]
    return {
        "kp2d": kp2d,
        "conf": conf,
        "K": np.broadcast_to(cameras.K[:, None], (B, T, 3, 3)).astype(np.float32),
        "image_size": np.broadcast_to(cameras.image_size[:, None], (B, T, 2)).astype(np.float32),
        "pose3d": points_cam.astype(np.float32),
        "up": np.broadcast_to(cameras.up[:, None], (B, T, 3)).astype(np.float32),
    }


def outside_image(points_world: np.ndarray, cameras: Cameras) -> np.ndarray:
    """(B, T, J) bool: the points (B, T, J, 3) that fall outside the picture or behind the camera."""
    points_cam = cameras.world_to_camera(points_world)
    pixels = project(points_cam, cameras.K)
    size = cameras.image_size[:, None, None].astype(np.float64)
    inside = (pixels >= 0).all(-1) & (pixels < size).all(-1)  # NaN (behind the camera) compares False
    return ~inside


def _concatenate(parts: list[dict[str, np.ndarray]], layout_name: str, frames: int) -> dict[str, np.ndarray]:
    if not parts:
        J = get_layout(layout_name).num_joints
        empty = {"kp2d": (J, 2), "conf": (J,), "K": (3, 3), "image_size": (2,), "pose3d": (J, 3), "up": (3,),
                 "observed": (J,)}
        return {k: np.zeros((0, frames) + shape, dtype=bool if k == "observed" else np.float32)
                for k, shape in empty.items()}
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def make_lifting_set(mocap_path: str | Path, layout: str = "wholebody133", subjects=TRAIN_SUBJECTS, *,
                     frame_step: int = 5, cameras_per_pose: int = 1, camera_kind: str = "mixed",
                     noise: str = "detector", body_heights_m: tuple[float, float] | None = None,
                     h36m17_targets: bool = False, seed: int = 0) -> dict[str, np.ndarray]:
    """Single-frame 2D->3D pairs for the lifter.

    Takes every ``frame_step``-th frame (50 Hz source; from a random offset per sequence) of the subjects'
    sequences, and views each pose through ``cameras_per_pose`` independent random cameras of ``camera_kind``
    ("h36m" | "robot" | "mixed" | "mounts"). ``noise`` is "detector" (the detector model with independent per-frame
    drop-outs) or "none" (exact projections, every joint at confidence 1). With "mounts", which puts people at and
    beyond the picture's edges, joints outside the picture are missing (confidence 0) as the 2D stage gives them,
    also with exact projections. ``body_heights_m`` (min, max): each pose scaled to a uniformly drawn standing
    height (:func:`scale_bodies`; None: the motion file's one body, :data:`MOCAP_BODY_HEIGHT_M`).

    Returns float32 arrays: ``kp2d`` (N, J, 2) pixels, ``conf`` (N, J), ``K`` (N, 3, 3), ``image_size`` (N, 2)
    (width, height), ``pose3d`` (N, J, 3) metres in the camera's optical frame (absolute, not root-relative),
    ``up`` (N, 3) the world's up in the camera's frame. ``h36m17_targets`` (wholebody133 only) adds
    ``pose3d_h36m17`` (N, 17, 3): the same people's H36M-17 joints in the same camera frames, the targets of a body
    expert that lifts whole-body 2D (:mod:`pose3d_ros.lifting.body_expert`).
    """
    _check_layout(layout)
    if h36m17_targets and layout != "wholebody133":
        raise ValueError("h36m17_targets is for wholebody133 sets (the h36m17 set's targets are its pose3d)")
    if frame_step < 1 or cameras_per_pose < 1:
        raise ValueError(f"frame_step and cameras_per_pose must be >= 1, got {frame_step} and {cameras_per_pose}")
    if noise not in NOISE_KINDS:
        raise ValueError(f"unknown noise model {noise!r}; expected one of {', '.join(NOISE_KINDS)}")
    parts = []
    for key, poses32 in load_h36m(mocap_path, subjects).items():
        rng = _rng(seed, key, "lifting")
        frames = np.arange(rng.integers(frame_step), len(poses32), frame_step)
        if len(frames) == 0:
            continue
        world = poses_in_layout(poses32[frames], frames / SOURCE_FPS, layout, key, seed)
        world = np.repeat(world, cameras_per_pose, axis=0)[:, None]  # (N, 1, J, 3): one frame per sample
        body = np.repeat(to_h36m17(poses32[frames]), cameras_per_pose, axis=0)[:, None] if h36m17_targets else None
        targets = np.repeat(poses32[frames, PELVIS_32], cameras_per_pose, axis=0)
        if body_heights_m is not None:
            heights = rng.uniform(*body_heights_m, len(world))
            world = scale_bodies(world, targets, heights)
            body = None if body is None else scale_bodies(body, targets, heights)
        occluded = random_occlusion(get_layout(layout), rng, len(world), 1, None) if noise == "detector" else None
        cameras = sample_cameras(targets, camera_kind, rng)
        if camera_kind == "mounts":
            missing = outside_image(world, cameras)
            occluded = missing if occluded is None else occluded | missing
        part = _finish(world, cameras, layout, noise, rng, occluded, None)
        if body is not None:
            part["pose3d_h36m17"] = cameras.world_to_camera(body).astype(np.float32)
        parts.append(part)
    out = _concatenate(parts, layout, 1)
    out.pop("observed", None)
    return {key: value[:, 0] for key, value in out.items()}


def make_setup_sets(mocap_path: str | Path, layout: str = "wholebody133", subjects="S9", *, frame_step: int = 5,
                    max_samples: int = 0, noise: str = "none", seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """The same poses seen through each camera set-up of :data:`pose3d_ros.camera.CAMERA_SETUPS`, for comparing
    where the camera is and where the person stands in its picture.

    Every ``frame_step``-th frame of the subjects' sequences (from a random offset per sequence), at most
    ``max_samples`` of them spread evenly (0: all). Every set-up draws its distances, azimuths and sides from the
    same seed, so the set-ups differ only by the camera. Returns ``{set-up name: arrays}``, the arrays of
    :func:`make_lifting_set`; ``noise`` as there, without the extra random occlusions.
    """
    _check_layout(layout)
    if frame_step < 1 or max_samples < 0:
        raise ValueError(f"need frame_step >= 1 and max_samples >= 0, got {frame_step} and {max_samples}")
    motion = load_h36m(mocap_path, subjects)
    frames = {key: np.arange(_rng(seed, key, "setups").integers(frame_step), len(poses32), frame_step)
              for key, poses32 in motion.items()}
    total = sum(len(f) for f in frames.values())
    if max_samples and total > max_samples:  # thinned out before the whole body is synthesised (the slow part)
        keep = np.zeros(total, dtype=bool)
        keep[np.linspace(0, total - 1, max_samples).round().astype(int)] = True
        parts = np.split(keep, np.cumsum([len(f) for f in frames.values()])[:-1])
        frames = {key: f[kept] for (key, f), kept in zip(frames.items(), parts, strict=True)}
    frames = {key: f for key, f in frames.items() if len(f)}
    world = np.concatenate([poses_in_layout(motion[key][f], f / SOURCE_FPS, layout, key, seed)
                            for key, f in frames.items()])[:, None]  # (N, 1, J, 3): one frame per sample
    targets = np.concatenate([motion[key][f, PELVIS_32] for key, f in frames.items()])
    sets = {}
    for name, setup in CAMERA_SETUPS.items():
        rng = np.random.default_rng(seed)
        sample = _finish(world, setup_cameras(targets, setup, rng), layout, noise, rng, None, None)
        sets[name] = {key: value[:, 0] for key, value in sample.items()}
    return sets


def resample(poses: np.ndarray, times_s: np.ndarray, source_fps: float = SOURCE_FPS) -> np.ndarray:
    """Poses (T, ...) sampled at ``source_fps``, linearly interpolated at ``times_s`` (within the sequence)."""
    position = np.clip(np.asarray(times_s) * source_fps, 0.0, len(poses) - 1.0)
    lower = np.minimum(np.floor(position).astype(np.int64), len(poses) - 2) if len(poses) > 1 else \
        np.zeros(len(position), dtype=np.int64)
    weight = (position - lower).reshape((-1,) + (1,) * (poses.ndim - 1))
    upper = np.minimum(lower + 1, len(poses) - 1)
    return ((1.0 - weight) * poses[lower] + weight * poses[upper]).astype(poses.dtype)


def make_sequence_set(mocap_path: str | Path, layout: str = "wholebody133", subjects=TRAIN_SUBJECTS, *,
                      window: int = 27, fps: float = 25.0, stride: int | None = None, camera_kind: str = "mixed",
                      noise: str = "detector", occlusion: bool = True, seed: int = 0) -> dict[str, np.ndarray]:
    """Windows of ``window`` consecutive frames at ``fps`` (the 50 Hz source linearly resampled) for the temporal
    refiner, one fixed random camera per window.

    Windows start every ``stride`` frames (default: ``window``, no overlap) from a random offset per sequence.
    ``noise`` as in :func:`make_lifting_set` (with temporally correlated jitter); ``occlusion`` adds the
    run-based drop-outs (joints, hands, face, arms, lower body and whole frames missing for runs of frames).

    Returns float32 arrays ``kp2d`` (S, T, J, 2), ``conf`` (S, T, J), ``K`` (S, T, 3, 3), ``image_size`` (S, T, 2),
    ``pose3d`` (S, T, J, 3) (camera frame, metres) and ``observed`` (S, T, J) bool (= conf > 0).
    """
    _check_layout(layout)
    if window < 1 or not 0.0 < fps <= SOURCE_FPS:
        raise ValueError(f"need window >= 1 and 0 < fps <= {SOURCE_FPS:g}, got window={window}, fps={fps}")
    stride = window if stride is None else stride
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if noise not in NOISE_KINDS:
        raise ValueError(f"unknown noise model {noise!r}; expected one of {', '.join(NOISE_KINDS)}")
    layout_obj = get_layout(layout)
    parts = []
    for key, poses32 in load_h36m(mocap_path, subjects).items():
        rng = _rng(seed, key, "sequence")
        duration = (len(poses32) - 1) / SOURCE_FPS
        span = (window - 1) / fps
        offset = rng.uniform(0.0, stride / fps)
        starts = np.arange(offset, duration - span + 1e-9, stride / fps)
        if len(starts) == 0:
            continue
        times = starts[:, None] + np.arange(window)[None] / fps  # (S, T) seconds
        window32 = resample(poses32, times.ravel())
        world = poses_in_layout(window32, times.ravel(), layout, key, seed)
        world = world.reshape(len(starts), window, layout_obj.num_joints, 3)
        targets = window32.reshape(len(starts), window, 32, 3)[:, :, PELVIS_32].mean(axis=1)
        occluded = random_occlusion(layout_obj, rng, len(starts), window, fps) if occlusion else None
        sample = _finish(world, sample_cameras(targets, camera_kind, rng), layout, noise, rng, occluded, fps)
        sample["observed"] = sample["conf"] > 0
        parts.append(sample)
    return _concatenate(parts, layout, window)


SET_KEYS = ("kp2d", "conf", "K", "image_size", "pose3d")


def save_set(path: str | Path, data: dict[str, np.ndarray], settings: dict[str, str]) -> None:
    """Write a lifting or sequence set to an uncompressed .npz, with the settings that made it (as JSON)."""
    import json

    missing = [key for key in SET_KEYS if key not in data]
    if missing:
        raise ValueError(f"not a lifting or sequence set: keys {', '.join(missing)} missing")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, settings=np.array(json.dumps(settings, sort_keys=True)), **data)


def load_set(path: str | Path) -> dict[str, np.ndarray]:
    """Read a set written by :func:`save_set` (``pose3d data cache``); the settings are under ``"settings"`` as a
    JSON string.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cached set {path} not found")
    with np.load(path, allow_pickle=False) as archive:
        data = {key: archive[key] for key in archive.files}
    missing = [key for key in SET_KEYS + ("settings",) if key not in data]
    if missing:
        raise ValueError(f"{path} is not a cached set (made by `pose3d data cache`): {', '.join(missing)} missing")
    data["settings"] = str(data["settings"])
    return data
