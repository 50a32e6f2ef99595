"""Offline refinement of recordings: the 3D-UGCN on windows centred on each frame, looking both ways in time.

For recorded input latency does not matter, and what the streaming refiner cannot see -- the frames after the
present, where an occluded joint reappears -- is there. :class:`OfflineRefiner` has the streaming refiner's
frame interface (``push_frame`` / ``flush``) but releases frames in chunks, once enough of the future is known:

* Memory: it holds ``chunk_frames`` frames plus ``context_s`` seconds on either side (what one output depends on:
  the longest gap it fills, half a window, the root fit), never the whole recording. Outputs do not depend on the
  chunking: chunked and one-pass results agree to float precision (tested), except next to a joint missing for
  longer than ``max_gap_s``, whose held value the network sees in its input.
* Windows: the network runs on windows of its trained length on a grid at its trained rate, anchored at the
  first stamp, starting every ``hop`` grid instants; every grid instant is covered by ``window / hop`` windows
  whose outputs are blended with triangular weights (most weight where the instant is central in a window). The
  blended grid is interpolated back to the frames' stamps, so any (irregular) input rate works.
* Flip test (``flip_test``, on by default): each window is also refined seen in a mirror (camera x negated, left
  and right exchanged) and the two outputs averaged, as the lifter does, at twice the network's time; it makes the
  refinement of a mirrored recording exactly the mirror of the refinement (tested).
* Gaps: a joint missing (status MISSING, or the person absent from a frame) between two estimates at most
  ``max_gap_s`` apart is pre-filled by linear interpolation between those two ends, refined with the rest and
  reported FILLED: short gaps are shaped by the network, gaps longer than its window stay the interpolation
  (plus the network's residual). Longer gaps, and frames before a person's first or after their last estimate,
  are MISSING (confidence 0); frames in which every joint of a person is MISSING are not returned. Estimated
  joints (OBSERVED or INFERRED) come out REFINED.
* Root: as in streaming, the network refines root-relative poses and the pelvis trajectory is a local linear fit
  (:mod:`.trajectory`), here over the frames on both sides; interpolation where no root is near.
* Input checks: stamps must increase (ValueError otherwise: a caller reading a file skips and counts such
  frames), poses must have the network's joints.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..inference import frozen_trace, resolve_device
from ..skeleton import JointStatus, get_layout
from . import DEFAULT_OFFLINE_MAX_GAP_S, DEFAULT_ROOT_BANDWIDTH_S
from .model import UGCN
from .streaming import RefinedPose
from .trajectory import local_linear, root_joints
from .weights import DEFAULT_OFFLINE_WEIGHTS, load_weights

DEFAULT_CHUNK_FRAMES = 256
NETWORK_BATCH = 64
"""Windows per network pass (bounds the activations' memory when many people are refined at once)."""
MAX_CONTEXT_FRAMES = 1024
"""At most this many frames of context are awaited or kept on either side (memory guard for high input rates)."""


def gap_ends(stamps: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stamps of the nearest valid sample at or before / at or after each sample, per element (-inf / +inf where
    there is none). ``stamps`` (T,), ``valid`` (T, ...).
    """
    index = np.arange(len(stamps)).reshape((-1,) + (1,) * (valid.ndim - 1))
    previous = np.maximum.accumulate(np.where(valid, index, -1), axis=0)
    following = np.flip(np.minimum.accumulate(np.flip(np.where(valid, index, len(stamps)), axis=0), axis=0), axis=0)
    padded = np.concatenate(([-np.inf], np.asarray(stamps, np.float64), [np.inf]))
    return padded[previous + 1], padded[following + 1]


def bridged(stamps: np.ndarray, valid: np.ndarray, max_gap_s: float) -> np.ndarray:
    """(T, ...) bool: invalid samples between two valid ones at most ``max_gap_s`` apart (the gaps that are filled)."""
    before, after = gap_ends(stamps, valid)
    return ~valid & (after - before <= max_gap_s)


def prefill(stamps: np.ndarray, values: np.ndarray, valid: np.ndarray, max_gap_s: float) -> np.ndarray:
    """Invalid samples of ``values`` (T, ..., D) replaced: by linear interpolation in time between the two ends of
    a gap at most ``max_gap_s`` long, else by the nearer valid value (held). Elements never valid are left as they
    are. This is the network's input in training and in use alike.
    """
    stamps = np.asarray(stamps, np.float64)
    valid = np.asarray(valid, bool)
    frames = len(stamps)
    if frames == 0 or valid.all() or not valid.any():
        return np.array(values, copy=True)
    index = np.arange(frames).reshape((-1,) + (1,) * (valid.ndim - 1))
    lo = np.maximum.accumulate(np.where(valid, index, -1), axis=0)
    hi = np.flip(np.minimum.accumulate(np.flip(np.where(valid, index, frames), axis=0), axis=0), axis=0)
    has_lo, has_hi = lo >= 0, hi < frames
    t = np.broadcast_to(stamps.reshape(index.shape), lo.shape)
    t_lo = np.where(has_lo, stamps[np.clip(lo, 0, frames - 1)], -np.inf)
    t_hi = np.where(has_hi, stamps[np.clip(hi, 0, frames - 1)], np.inf)
    interpolate = has_lo & has_hi & (t_hi - t_lo <= max_gap_s) & (hi != lo)
    nearer_lo = has_lo & (~has_hi | (t - t_lo <= t_hi - t))
    weight = np.where(interpolate, (t - t_lo) / np.where(interpolate, t_hi - t_lo, 1.0), np.where(nearer_lo, 0.0, 1.0))
    lo = np.where(has_lo, lo, np.where(has_hi, hi, index))
    hi = np.where(has_hi, hi, lo)
    trailing = (1,) * (np.ndim(values) - valid.ndim)
    low = np.take_along_axis(values, lo.reshape(lo.shape + trailing), axis=0)
    high = np.take_along_axis(values, hi.reshape(hi.shape + trailing), axis=0)
    weight = weight.reshape(weight.shape + trailing)
    return ((1.0 - weight) * low + weight * high).astype(np.asarray(values).dtype, copy=False)


def blend_weights(window: int) -> np.ndarray:
    """Triangular weights over a window's positions: an output counts most where its frame is central."""
    position = np.arange(window)
    return np.minimum(position + 1, window - position).astype(np.float64)


@dataclass
class _Held:
    """One input frame: its stamp and each person's (positions, confidence, valid, observed)."""

    stamp: float
    people: dict[Hashable, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


class OfflineRefiner:
    """Refine and fill the 3D skeletons of a recording, frame by frame in, chunk by chunk out (module docstring)."""

    def __init__(self, model: UGCN, *, max_gap_s: float = DEFAULT_OFFLINE_MAX_GAP_S,
                 chunk_frames: int = DEFAULT_CHUNK_FRAMES, hop: int | None = None,
                 root_bandwidth_s: float = DEFAULT_ROOT_BANDWIDTH_S, flip_test: bool = True,
                 device: str = "auto") -> None:
        config = model.config
        if not config.centred:
            raise ValueError("these temporal weights were trained for streaming (the window ends at the output "
                             "frame); offline refinement needs weights trained with --offline")
        self.layout = get_layout(config.layout)
        self.window, self.fps = config.window, config.fps
        self.hop = self.window // 4 if hop is None else int(hop)
        if not 1 <= self.hop <= self.window:
            raise ValueError(f"hop must lie in 1..{self.window} (the window), got {hop}")
        if not (max_gap_s >= 0 and root_bandwidth_s > 0 and chunk_frames >= 1):
            raise ValueError("need max_gap_s >= 0, root_bandwidth_s > 0 and chunk_frames >= 1")
        self.max_gap_s, self.chunk_frames, self.root_bandwidth_s = float(max_gap_s), int(chunk_frames), root_bandwidth_s
        self.context_s = self.max_gap_s + (self.window + 1) / self.fps + 3.0 * root_bandwidth_s
        self.lookahead = self.chunk_frames + MAX_CONTEXT_FRAMES
        """The most frames an input frame waits before its output is returned."""
        self.root = list(root_joints(self.layout))
        self.flip_test = bool(flip_test)
        """Also refine each window seen in a mirror and average the two (as the lifter's flip test)."""
        self._flip = list(self.layout.flip)
        self.device = resolve_device(device, "the temporal refiner")
        self.model = model.to(self.device).eval()
        shape = (1, self.window, self.layout.num_joints)
        example = (torch.zeros(*shape, 3, device=self.device), torch.ones(shape, dtype=torch.bool, device=self.device),
                   torch.ones(shape, dtype=torch.bool, device=self.device))
        self._network = frozen_trace(self.model, example)
        self._held: list[_Held] = []
        self._released = 0  # how many of the held frames are output already (the left context)
        self._origin: float | None = None
        self.events: Counter[str] = Counter()
        """``gave_up`` (joint runs reported MISSING), ``bad_input`` (rejected frames)."""

    @classmethod
    def load(cls, weights: str | Path | None = None, **options) -> OfflineRefiner:
        """Load trained offline weights (None: the shipped ones); ``options`` as the constructor's."""
        model, _ = load_weights(DEFAULT_OFFLINE_WEIGHTS if weights is None else weights)
        return cls(model, **options)

    @property
    def num_joints(self) -> int:
        return self.layout.num_joints

    @property
    def pending_frames(self) -> int:
        """Input frames held whose output has not been returned yet."""
        return len(self._held) - self._released

    def push_frame(self, stamp_s: float, person_ids: Iterable[Hashable], positions: np.ndarray,
                   confidence: np.ndarray, status: np.ndarray) -> list[RefinedPose]:
        """Add every person of one frame ((P, J, 3), (P, J), (P, J); P may be 0); returns the refined poses of the
        frames that became final (a chunk at a time), oldest first.
        """
        stamp = float(stamp_s)
        person_ids = list(person_ids)
        joints = self.num_joints
        positions = np.asarray(positions, np.float32).reshape(len(person_ids), -1, 3) if len(person_ids) else \
            np.zeros((0, joints, 3), np.float32)
        confidence = np.asarray(confidence, np.float32).reshape(len(person_ids), -1)
        status = np.asarray(status).reshape(len(person_ids), -1)
        problem = None
        if not np.isfinite(stamp):
            problem = f"stamp must be finite, got {stamp_s}"
        elif self._held and stamp <= self._held[-1].stamp:
            problem = f"stamps must increase: {stamp!r} s after {self._held[-1].stamp!r} s"
        elif positions.shape[1] != joints or confidence.shape[1:] != (joints,) or status.shape[1:] != (joints,):
            problem = (f"this refiner is for {joints}-joint skeletons ({self.layout.name}), got positions "
                       f"{positions.shape}, confidence {confidence.shape}, status {status.shape}")
        elif len(set(person_ids)) != len(person_ids):
            problem = f"duplicate person ids {person_ids}"
        valid = status != JointStatus.MISSING
        if problem is None and not (np.isfinite(positions[valid]).all() and np.isfinite(confidence).all()):
            problem = "positions or confidence contain NaN or infinite values"
        if problem is not None:
            self.events["bad_input"] += 1
            raise ValueError(problem)
        if self._origin is None:
            self._origin = stamp
        people = {pid: (np.where(valid[p, :, None], positions[p], 0.0).astype(np.float32), confidence[p], valid[p],
                        status[p] == JointStatus.OBSERVED) for p, pid in enumerate(person_ids) if valid[p].any()}
        self._held.append(_Held(stamp, people))
        outputs: list[RefinedPose] = []
        while self.pending_frames >= self.chunk_frames:
            last = self._held[self._released + self.chunk_frames - 1].stamp
            future = len(self._held) - self._released - self.chunk_frames
            if stamp - last < self.context_s and future < MAX_CONTEXT_FRAMES:
                break
            outputs += self._release(self.chunk_frames)
        return outputs

    def flush(self) -> list[RefinedPose]:
        """End of the recording: every pending output; the refiner is then empty (ready for another recording)."""
        outputs = self._release(self.pending_frames) if self.pending_frames else []
        self._held, self._released, self._origin = [], 0, None
        return outputs

    def refine(self, stamps: np.ndarray, positions: np.ndarray, confidence: np.ndarray,
               status: np.ndarray) -> list[RefinedPose]:
        """One person's whole track ((T,), (T, J, 3), (T, J), (T, J)) in one call, e.g. for a recording in memory."""
        outputs = []
        for t, stamp in enumerate(np.asarray(stamps, np.float64)):
            outputs += self.push_frame(stamp, [0], positions[t][None], confidence[t][None], status[t][None])
        return outputs + self.flush()

    # ------------------------------------------------------------------------------------------------ internals

    def _release(self, count: int) -> list[RefinedPose]:
        first = self._released
        out = range(first, first + count)
        stamps = np.array([held.stamp for held in self._held], np.float64)
        people = list(dict.fromkeys(pid for index in out for pid in self._held[index].people))
        jobs = [self._prepare(pid, stamps, out) for pid in people]
        jobs = [job for job in jobs if job is not None]
        windows = [w for job in jobs for w in job["windows"]]
        refined = self._run([w[0] for w in windows], [w[1] for w in windows], [w[2] for w in windows])
        outputs, start = [], 0
        for job in jobs:
            count_windows = len(job["windows"])
            outputs += self._output(job, stamps, out, refined[start:start + count_windows])
            start += count_windows
        outputs.sort(key=lambda pose: pose.stamp)
        self._released += count
        # Keep the left context the next chunk needs, and nothing older.
        reference = stamps[min(self._released, len(stamps) - 1)]
        keep_from = max(int(np.searchsorted(stamps, reference - self.context_s)), self._released - MAX_CONTEXT_FRAMES)
        del self._held[:keep_from]
        self._released -= keep_from
        return outputs

    def _prepare(self, person_id: Hashable, stamps: np.ndarray, out: range) -> dict | None:
        """A person's network windows for the output frames ``out`` of the held frames, and what the output needs."""
        joints = self.num_joints
        frames = len(stamps)
        positions = np.zeros((frames, joints, 3), np.float32)
        confidence = np.zeros((frames, joints), np.float32)
        valid = np.zeros((frames, joints), bool)
        observed = np.zeros((frames, joints), bool)
        for t, held in enumerate(self._held):
            entry = held.people.get(person_id)
            if entry is not None:
                positions[t], confidence[t], valid[t], observed[t] = entry
        status = np.where(valid, JointStatus.REFINED,
                          np.where(bridged(stamps, valid, self.max_gap_s), JointStatus.FILLED, JointStatus.MISSING))
        shown = [t for t in out if (status[t] != JointStatus.MISSING).any()]
        if not shown:
            return None
        root_valid = valid[:, self.root].all(axis=1)
        roots = positions[:, self.root].mean(axis=1)
        filled_roots = prefill(stamps, roots, root_valid, np.inf)
        relative = prefill(stamps, positions - filled_roots[:, None], valid, self.max_gap_s)
        # Global grid instants k (origin + k / fps) that the output stamps fall between, and the windows over them.
        position = (stamps[shown] - self._origin) * self.fps
        k0, k1 = int(np.floor(position.min())), int(np.ceil(position.max()))
        first = -(-(k0 - self.window + 1) // self.hop) * self.hop  # the first window start that reaches k0
        starts = np.arange(first, k1 + 1, self.hop)
        period = float(np.median(np.diff(stamps))) if frames > 1 else 0.0
        tolerance = 0.6 * max(1.0 / self.fps, period)
        windows = []
        for start in starts:
            instants = self._origin + (start + np.arange(self.window)) / self.fps
            upper = np.clip(np.searchsorted(stamps, instants), 1, frames - 1) if frames > 1 else \
                np.zeros(self.window, np.int64)
            lower = np.maximum(upper - 1, 0)
            span = stamps[upper] - stamps[lower]
            weight = np.clip((instants - stamps[lower]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
            poses = (1.0 - weight)[:, None, None] * relative[lower] + weight[:, None, None] * relative[upper]
            nearest = np.where(weight < 0.5, lower, upper)
            near = (np.abs(stamps[nearest] - instants) <= tolerance)[:, None]
            windows.append((poses.astype(np.float32), observed[nearest] & near, valid[nearest] & near))
        return {"person_id": person_id, "shown": shown, "status": status, "confidence": confidence,
                "valid": valid, "roots": roots, "root_valid": root_valid, "filled_roots": filled_roots,
                "relative": relative, "starts": starts, "k0": k0, "k1": k1, "windows": windows}

    @torch.inference_mode()
    def _run(self, poses: list, observed: list, valid: list) -> np.ndarray:
        if not poses:
            return np.zeros((0, self.window, self.num_joints, 3), np.float32)
        outputs = []
        for start in range(0, len(poses), NETWORK_BATCH):
            batch = slice(start, start + NETWORK_BATCH)
            windows, seen, usable = (np.stack(a[batch]) for a in (poses, observed, valid))
            refined = self._network_output(windows, seen, usable)
            if self.flip_test:  # the windows seen in a mirror (Layout.flip_points), refined, and mirrored back
                mirrored = self._network_output(self.layout.flip_points(windows), seen[..., self._flip],
                                                usable[..., self._flip])
                refined = 0.5 * (refined + self.layout.flip_points(mirrored))
            outputs.append(refined)
        return np.concatenate(outputs)

    def _network_output(self, poses: np.ndarray, observed: np.ndarray, valid: np.ndarray) -> np.ndarray:
        tensors = (torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in (poses, observed, valid))
        return self._network(*tensors).float().cpu().numpy()

    def _output(self, job: dict, stamps: np.ndarray, out: range, refined: np.ndarray) -> list[RefinedPose]:
        # Blend the windows' outputs on the grid instants k0..k1.
        k0, k1 = job["k0"], job["k1"]
        total = np.zeros((k1 - k0 + 1, self.num_joints, 3))
        weights = np.zeros(k1 - k0 + 1)
        blend = blend_weights(self.window)
        for start, window in zip(job["starts"], refined, strict=True):
            lo, hi = max(start, k0), min(start + self.window - 1, k1)
            inside = slice(lo - start, hi - start + 1)
            total[lo - k0:hi - k0 + 1] += blend[inside, None, None] * window[inside]
            weights[lo - k0:hi - k0 + 1] += blend[inside]
        grid = total / weights[:, None, None]
        status, relative = job["status"], job["relative"]
        before, after = gap_ends(stamps, job["valid"])
        end_confidence = prefill(stamps, job["confidence"], job["valid"], self.max_gap_s)
        outputs = []
        for t in job["shown"]:
            stamp = stamps[t]
            position = (stamp - self._origin) * self.fps - k0
            lo = min(int(np.floor(position)), len(grid) - 1)
            hi = min(lo + 1, len(grid) - 1)
            w = position - lo
            pose = (1.0 - w) * grid[lo] + w * grid[hi]
            missing = status[t] == JointStatus.MISSING
            pose = np.where(missing[:, None], relative[t], pose)
            root = local_linear(stamps, job["roots"], job["root_valid"], stamp, self.root_bandwidth_s)
            if root is None:
                root = job["filled_roots"][t]
            filled = status[t] == JointStatus.FILLED
            if t > 0:
                self.events["gave_up"] += int((missing & (status[t - 1] != JointStatus.MISSING)).sum())
            # A filled joint's confidence: the interpolated confidence of the gap's ends, fading to half at the
            # middle of the longest gap filled.
            distance = np.minimum(stamp - before[t], after[t] - stamp)
            fade = 1.0 - np.minimum(distance / max(self.max_gap_s, 1e-9), 0.5)
            confidence = np.where(filled, end_confidence[t] * fade, np.where(missing, 0.0, job["confidence"][t]))
            outputs.append(RefinedPose(job["person_id"], float(stamp), (pose + root).astype(np.float32),
                                       confidence.astype(np.float32), status[t].astype(np.uint8)))
        return outputs
