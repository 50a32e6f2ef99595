"""Training and evaluation sequences for the refiner: what the lifter really produces, next to the truth.

:func:`lifted_sequences` takes the data engineer's sequence set (real Human3.6M motion, random cameras, the
detector's noise and run-based occlusions, whole frames lost) and runs a trained :class:`~pose3d_ros.lifting.Lifter`
on every frame, exactly as the pipeline does. A frame in which the detector found no joint at all is *absent*
(the pipeline would have no person there). :func:`synthetic_lifter_errors` is the documented stand-in for when no
trained lifter exists (development and tests): the truth plus per-joint errors that are static over a window,
slowly varying and white, larger on joints the 2D stage did not observe.

:func:`training_batch` cuts streaming-like windows from those sequences: each window ends at a random frame and
its missing frames are pre-filled from that frame and the ones before it only, as the streaming refiner does.
:func:`offline_training_batch` cuts windows anywhere, pre-filled from both sides as the offline refiner does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from ..skeleton import get_layout
from .baselines import fill_gaps
from .offline import prefill
from .trajectory import root_centre

LOG = logging.getLogger(__name__)


@dataclass
class Sequences:
    """S sequences of T frames at ``fps`` (float32 / bool numpy arrays)."""

    layout: str
    fps: float
    poses: np.ndarray  # (S, T, J, 3) lifter output, root-relative (zeros where absent)
    roots: np.ndarray  # (S, T, 3) lifter root translation in the camera frame
    confidence: np.ndarray  # (S, T, J) 2D confidence
    observed: np.ndarray  # (S, T, J) bool: status OBSERVED (the lifter's confidence threshold)
    present: np.ndarray  # (S, T) bool: the detector found the person
    target: np.ndarray  # (S, T, J, 3) true pose, root-relative
    target_roots: np.ndarray  # (S, T, 3) true root in the camera frame
    source: str  # how ``poses`` were made (for the training record)
    key: str = ""  # JSON of everything that made these sequences, for a cache to be checked against (see commands)

    ARRAYS: ClassVar[tuple[str, ...]] = ("poses", "roots", "confidence", "observed", "present", "target",
                                         "target_roots")
    """The per-sequence arrays: what a subset indexes and a cache file stores."""

    def __len__(self) -> int:
        return len(self.poses)

    def subset(self, index: np.ndarray) -> Sequences:
        return replace(self, **{name: getattr(self, name)[index] for name in self.ARRAYS})

    def save(self, path) -> None:
        np.savez(path, layout=self.layout, fps=self.fps, source=self.source, key=self.key,
                 **{name: getattr(self, name) for name in self.ARRAYS})

    @classmethod
    def load(cls, path) -> Sequences:
        """Sequences written by :meth:`save`; a file that is not such an .npz raises ValueError naming it."""
        try:
            archive = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path} is not a readable sequence cache (.npz): {err}") from err
        with archive as data:
            missing = [name for name in ("layout", "fps", "source", *cls.ARRAYS) if name not in data.files]
            if missing:
                raise ValueError(f"{path} is not a sequence cache written by pose3d_ros: it lacks {', '.join(missing)}")
            key = str(data["key"]) if "key" in data.files else ""
            return cls(str(data["layout"]), float(data["fps"]), **{name: data[name] for name in cls.ARRAYS},
                       source=str(data["source"]), key=key)


def lifted_sequences(data: dict[str, np.ndarray], layout: str, fps: float, lifter, batch: int = 4096,
                     ) -> Sequences:
    """Run ``lifter`` on every frame of a sequence set (``make_sequence_set``'s dict)."""
    from tqdm import tqdm

    layout_obj = get_layout(layout)
    if lifter.layout.name != layout:
        raise ValueError(f"the lifter is for layout {lifter.layout.name}, the sequences are {layout}")
    S, T, J = data["conf"].shape
    kp2d = data["kp2d"].reshape(S * T, J, 2)
    conf = data["conf"].reshape(S * T, J)
    K = data["K"].reshape(S * T, 3, 3)
    poses = np.empty((S * T, J, 3), np.float32)
    roots = np.empty((S * T, 3), np.float32)
    status = np.empty((S * T, J), np.uint8)
    for start in tqdm(range(0, S * T, batch), desc="lifting", unit="batch", leave=False):
        chunk = slice(start, start + batch)
        result = lifter.lift(kp2d[chunk], conf[chunk], K[chunk])
        poses[chunk], roots[chunk], status[chunk] = result.root_relative, result.root_translation, result.status
    present = (data["conf"] > 0).any(axis=-1)
    target = data["pose3d"]
    target_roots = root_centre(layout_obj, target)
    poses = poses.reshape(S, T, J, 3) * present[..., None, None]
    return Sequences(layout, fps, poses, roots.reshape(S, T, 3), data["conf"].astype(np.float32),
                     (status.reshape(S, T, J) == 1) & present[..., None], present,
                     (target - target_roots[:, :, None]).astype(np.float32), target_roots.astype(np.float32),
                     source="lifter")


# Standard deviations (metres, per coordinate) of the stand-in error model, by part: static over a window,
# slowly varying (AR(1), 0.5 s), white; multiplied by UNOBSERVED_FACTOR on joints the 2D stage did not observe.
SYNTHETIC_SIGMA = {"body": (0.030, 0.015, 0.008), "face": (0.020, 0.010, 0.006), "hands": (0.035, 0.020, 0.012)}
SYNTHETIC_ROOT_SIGMA = (0.15, 0.05, 0.03)  # root depth is the lifter's weakest coordinate: applied along z
UNOBSERVED_FACTOR = 2.5
SLOW_TIME_CONSTANT_S = 0.5
SYNTHETIC_SOURCE = "synthetic error model"


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], rho: float) -> np.ndarray:
    """Unit-variance AR(1) noise along axis 1."""
    innovations = rng.standard_normal(shape)
    out = np.empty(shape)
    out[:, 0] = innovations[:, 0]
    for t in range(1, shape[1]):
        out[:, t] = rho * out[:, t - 1] + np.sqrt(1.0 - rho**2) * innovations[:, t]
    return out


def synthetic_lifter_errors(data: dict[str, np.ndarray], layout: str, fps: float, seed: int = 0,
                            conf_threshold: float = 0.3) -> Sequences:
    """The stand-in for a trained lifter: the true sequences plus the error model above."""
    layout_obj = get_layout(layout)
    rng = np.random.default_rng(seed)
    S, T, J = data["conf"].shape
    sigma = np.zeros((J, 3))
    for part, joints in layout_obj.parts.items():
        sigma[joints] = SYNTHETIC_SIGMA.get(part, SYNTHETIC_SIGMA["body"])
    observed = data["conf"] > conf_threshold
    scale = np.where(observed, 1.0, UNOBSERVED_FACTOR)[..., None]  # (S, T, J, 1)
    rho = np.exp(-1.0 / (fps * SLOW_TIME_CONSTANT_S))
    error = (sigma[:, 0, None] * rng.standard_normal((S, 1, J, 3))
             + sigma[:, 1, None] * _ar1(rng, (S, T, J, 3), rho)
             + sigma[:, 2, None] * rng.standard_normal((S, T, J, 3))) * scale
    target_roots = root_centre(layout_obj, data["pose3d"])
    target = data["pose3d"] - target_roots[:, :, None]
    poses = target + error
    poses -= root_centre(layout_obj, poses)[:, :, None]
    s_static, s_slow, s_white = SYNTHETIC_ROOT_SIGMA
    root_error = np.zeros((S, T, 3))
    root_error[..., 2] = (s_static * rng.standard_normal((S, 1)) + s_slow * _ar1(rng, (S, T), rho)
                          + s_white * rng.standard_normal((S, T)))
    present = (data["conf"] > 0).any(axis=-1)
    return Sequences(layout, fps, (poses * present[..., None, None]).astype(np.float32),
                     (target_roots + root_error).astype(np.float32), data["conf"].astype(np.float32),
                     observed & present[..., None], present, target.astype(np.float32),
                     target_roots.astype(np.float32), source=SYNTHETIC_SOURCE)


def training_batch(sequences: Sequences, window: int, batch: int, rng: np.random.Generator,
                   start_fraction: float = 0.15, consecutive: int = 1) -> dict[str, np.ndarray]:
    """``batch`` samples of ``consecutive`` windows of ``window`` frames each, as the streaming refiner builds them.

    A sample's windows end at consecutive frames (the last at a random frame of a random sequence), like the
    windows of consecutive streaming steps; absent frames are pre-filled (linear interpolation in time, the last
    value held at the end) from the frames up to each window's end only. With probability ``start_fraction`` the
    sample sits at the start of a track: the frames before a random start are invalid and hold the first frame.
    Arrays are (batch * consecutive, window, ...), sample-major.
    """
    S, T = sequences.present.shape
    if T < window + consecutive - 1:
        raise ValueError(f"sequences of {T} frames are too short for {consecutive} windows of {window} frames")
    stamps = np.arange(T) / sequences.fps
    J = sequences.poses.shape[2]
    count = batch * consecutive
    out = {"poses": np.empty((count, window, J, 3), np.float32), "observed": np.empty((count, window, J), bool),
           "valid": np.empty((count, window, J), bool), "target": np.empty((count, window, J, 3), np.float32)}
    for b in range(batch):
        s = rng.integers(S)
        last = rng.integers(window + consecutive - 1, T + 1)
        present = sequences.present[s, :last].copy()
        if rng.random() < start_fraction:
            present[: last - rng.integers(1, window)] = False
        if not present[: last - consecutive + 1].any():
            present[last - consecutive] = True
        for c in range(consecutive):
            end = last - consecutive + 1 + c
            i = b * consecutive + c
            valid = np.broadcast_to(present[:end, None], (end, J))
            filled = fill_gaps(stamps[:end], sequences.poses[s, :end], valid)
            out["poses"][i] = filled[end - window:]
            out["valid"][i] = valid[end - window:]
            out["observed"][i] = sequences.observed[s, end - window:end] & valid[end - window:]
            out["target"][i] = sequences.target[s, end - window:end]
    return out


def offline_training_batch(sequences: Sequences, window: int, batch: int, rng: np.random.Generator,
                           max_gap_s: float, edge_fraction: float = 0.15) -> dict[str, np.ndarray]:
    """``batch`` windows of ``window`` frames at random places, as the offline refiner builds them: absent frames
    pre-filled from both sides over the whole sequence (:func:`.offline.prefill`). With probability
    ``edge_fraction`` the window holds a track's start or end: the frames before (or after) a random frame of the
    window are absent.
    """
    S, T = sequences.present.shape
    if T < window:
        raise ValueError(f"sequences of {T} frames are too short for windows of {window} frames")
    stamps = np.arange(T) / sequences.fps
    J = sequences.poses.shape[2]
    out = {"poses": np.empty((batch, window, J, 3), np.float32), "observed": np.empty((batch, window, J), bool),
           "valid": np.empty((batch, window, J), bool), "target": np.empty((batch, window, J, 3), np.float32)}
    for b in range(batch):
        s = rng.integers(S)
        first = rng.integers(0, T - window + 1)
        present = sequences.present[s].copy()
        if rng.random() < edge_fraction:
            cut = first + rng.integers(1, window)
            present[slice(None, cut) if rng.random() < 0.5 else slice(cut, None)] = False
        if not present[first:first + window].any():
            present[first + window // 2] = True
        valid = np.broadcast_to(present[:, None], (T, J))
        filled = prefill(stamps, sequences.poses[s], valid, max_gap_s)
        frames = slice(first, first + window)
        out["poses"][b] = filled[frames]
        out["valid"][b] = valid[frames]
        out["observed"][b] = sequences.observed[s, frames] & valid[frames]
        out["target"][b] = sequences.target[s, frames]
    return out
