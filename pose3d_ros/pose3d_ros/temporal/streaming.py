"""Streaming refinement: per-person ring buffers that feed windows to the 3D-UGCN with a fixed look-ahead.

Semantics (docs/temporal.md has the long version):

* A *frame* of a person is either a pose pushed with :meth:`StreamingRefiner.push` (or in :meth:`push_frame`) or an
  absence: :meth:`mark_absent`, or a person that :meth:`push_frame` tracks but was not given at that stamp. A
  person that is simply not pushed at some stamp has no frame there and gets no output for it.
* Look-ahead ``L`` (frames): the output for a person's frame ``t`` is returned by the call that adds that person's
  frame ``t + L``. ``L = 0`` is causal. :meth:`flush` returns everything still pending.
* Status of each output joint: OBSERVED or INFERRED input -> REFINED; missing (an absent frame, or an input joint
  with status MISSING) and filled from the neighbouring frames -> FILLED; missing for more than ``max_gap``
  consecutive frames -> MISSING (confidence 0; the position is the last estimate). Frames in which every joint
  would be MISSING are not returned. Giving up is logged and counted in :attr:`StreamingRefiner.events`.
* A stamp earlier than the person's previous one (a bag replayed in a loop) or a return after more than
  ``reset_after_s`` without being seen flushes the person's pending outputs and restarts the track; an equal stamp
  is a duplicate and is skipped (counted). People not seen for ``reset_after_s`` are dropped (flushed) and at most
  ``max_people`` tracks are kept, so memory stays bounded.
* Frame rates: the network runs at the rate it was trained for (``fps`` in its config). Each step resamples the
  person's buffer, by linear interpolation in time, onto a grid of ``window`` instants at that rate ending at the
  newest frame, and interpolates the refined grid back to the stamp of the output frame, so input at any (even
  irregular) rate works; at the training rate the grid coincides with the frames.
* Root: the network refines root-relative poses; the root (pelvis) trajectory is smoothed and filled separately
  (:mod:`.trajectory`) from the roots up to the newest frame.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..inference import frozen_trace, resolve_device
from ..skeleton import JointStatus, Layout, get_layout
from . import DEFAULT_LOOKAHEAD, DEFAULT_MAX_GAP, DEFAULT_ROOT_BANDWIDTH_S
from .baselines import fill_gaps
from .model import UGCN
from .trajectory import local_linear, root_joints
from .weights import load_weights

LOG = logging.getLogger(__name__)

DEFAULT_RESET_AFTER_S = 1.0
DEFAULT_MAX_PEOPLE = 32
MAX_BUFFER_FRAMES = 512  # memory guard for very high input rates


@dataclass(frozen=True)
class RefinedPose:
    """One person's refined skeleton at one stamp."""

    person_id: Hashable
    stamp: float
    positions: np.ndarray
    """(J, 3) float32 metres, the frame of the input positions."""
    confidence: np.ndarray
    """(J,) float32 in [0, 1]."""
    status: np.ndarray
    """(J,) uint8 :class:`JointStatus`: REFINED, FILLED or MISSING."""


@dataclass(frozen=True)
class _Frame:
    """One person's input at one stamp (all False / zeros for an absent frame)."""

    positions: np.ndarray  # (J, 3), zeros where not valid
    confidence: np.ndarray  # (J,)
    valid: np.ndarray  # (J,) bool: has an estimate (status OBSERVED or INFERRED)
    observed: np.ndarray  # (J,) bool: status OBSERVED


class _Track:
    """The ring buffer of one person: the recent frames, and how many of the newest are still unpublished."""

    def __init__(self) -> None:
        self.stamps: deque[float] = deque(maxlen=MAX_BUFFER_FRAMES)
        self.frames: deque[_Frame] = deque(maxlen=MAX_BUFFER_FRAMES)
        self.missing_run: deque[np.ndarray] = deque(maxlen=MAX_BUFFER_FRAMES)
        self.pending = 0
        self.last_seen = -np.inf  # stamp of the newest frame in which the person was present

    def __len__(self) -> int:
        return len(self.stamps)

    def append(self, stamp: float, frame: _Frame) -> None:
        previous_run = self.missing_run[-1] if self.missing_run else np.zeros(len(frame.valid), dtype=np.int64)
        self.stamps.append(stamp)
        self.frames.append(frame)
        self.missing_run.append(np.where(frame.valid, 0, previous_run + 1))
        self.pending += 1
        if frame.valid.any():
            self.last_seen = stamp

    def trim(self, horizon_s: float) -> None:
        """Forget published frames that are older than ``horizon_s`` before the newest one."""
        newest = self.stamps[-1]
        while len(self.stamps) > self.pending + 1 and self.stamps[1] < newest - horizon_s:
            for buffer in (self.stamps, self.frames, self.missing_run):
                buffer.popleft()


@dataclass
class _Job:
    """One output that is due: frame ``index`` of a person's track."""

    person_id: Hashable
    track: _Track
    index: int


class StreamingRefiner:
    """Refine and fill 3D skeletons of several people as frames arrive (see the module docstring)."""

    def __init__(self, model: UGCN | None, *, layout: str | None = None, window: int | None = None,
                 fps: float | None = None, lookahead: int = DEFAULT_LOOKAHEAD, max_gap: int = DEFAULT_MAX_GAP,
                 reset_after_s: float = DEFAULT_RESET_AFTER_S, max_people: int = DEFAULT_MAX_PEOPLE,
                 root_bandwidth_s: float = DEFAULT_ROOT_BANDWIDTH_S, device: str = "auto") -> None:
        """``model`` None gives a refiner without a network (pre-fill and root smoothing only), which needs
        ``layout``, ``window`` and ``fps``; with a network they default to (and must agree with) its config.
        """
        if model is not None:
            config = model.config
            if config.centred:
                raise ValueError("these temporal weights were trained for offline refinement (centred windows); "
                                 "streaming needs streaming weights (the shipped temporal_ugcn_wholebody133)")
            if layout not in (None, config.layout):
                raise ValueError(f"the network is for layout {config.layout}, not {layout}")
            if window not in (None, config.window) and config.temporal_mix:
                raise ValueError(f"this network was trained for windows of {config.window} frames, not {window}")
            layout, fps = config.layout, config.fps if fps is None else fps
            window = config.window if window is None else window
        elif layout is None or window is None or fps is None:
            raise ValueError("a StreamingRefiner without a network needs layout, window and fps")
        self.layout: Layout = get_layout(layout)
        self.window = int(window)
        if self.window < 2 or not fps > 0:
            raise ValueError(f"need window >= 2 frames and fps > 0, got {window} and {fps}")
        if lookahead < 0 or max_gap < 0:
            raise ValueError(f"lookahead and max_gap must be >= 0, got {lookahead} and {max_gap}")
        if not (reset_after_s > 0 and root_bandwidth_s > 0 and max_people >= 1):
            raise ValueError("reset_after_s and root_bandwidth_s must be positive and max_people >= 1")
        self.fps = float(fps)
        self.lookahead = int(lookahead)
        self.max_gap = int(max_gap)
        self.reset_after_s = float(reset_after_s)
        self.max_people = int(max_people)
        self.root_bandwidth_s = float(root_bandwidth_s)
        self.root = list(root_joints(self.layout))
        self.device = resolve_device(device, "the temporal refiner")
        self.model = None if model is None else model.to(self.device).eval()
        self._network = None  # the model traced and frozen for inference: by load(), or on first use
        self.tracks: dict[Hashable, _Track] = {}
        self.events: Counter[str] = Counter()
        """Counts of noteworthy events: ``gave_up`` (joint runs reported MISSING), ``reset_backwards``,
        ``reset_gap``, ``dropped`` (people forgotten), ``duplicate`` (stamps skipped), ``bad_input`` (rejected)."""

    @classmethod
    def load(cls, weights: str | Path | None = None, window: int | None = None, lookahead: int = DEFAULT_LOOKAHEAD,
             max_gap: int = DEFAULT_MAX_GAP, device: str = "auto", **options) -> StreamingRefiner:
        """Load trained weights (None: the shipped wholebody133 model); ``window`` None = the trained window.
        ``options``: ``reset_after_s``, ``max_people``, ``root_bandwidth_s``.
        """
        model, _ = load_weights(weights)
        refiner = cls(model, window=window, lookahead=lookahead, max_gap=max_gap, device=device, **options)
        refiner._network = refiner._trace()  # now rather than on the first frame, which must not stall
        return refiner

    @property
    def num_joints(self) -> int:
        return self.layout.num_joints

    # ------------------------------------------------------------------------------------------------ input

    def push(self, person_id: Hashable, stamp_s: float, positions: np.ndarray, confidence: np.ndarray,
             status: np.ndarray) -> list[RefinedPose]:
        """Add one person's pose at ``stamp_s``; returns the outputs that became due (one frame, or more when the
        person's track was restarted and its pending frames flushed).
        """
        stamp = self._check_stamp(stamp_s)
        frame = self._present(positions, confidence, status)
        return self._step(stamp, [(person_id, frame)])

    def mark_absent(self, person_id: Hashable, stamp_s: float) -> list[RefinedPose]:
        """Record that a tracked person was not detected at ``stamp_s`` (their frame is then filled or MISSING).
        Unknown people are ignored.
        """
        stamp = self._check_stamp(stamp_s)
        return self._step(stamp, [(person_id, self._absent())] if person_id in self.tracks else [])

    def push_frame(self, stamp_s: float, person_ids: Iterable[Hashable], positions: np.ndarray,
                   confidence: np.ndarray, status: np.ndarray) -> list[RefinedPose]:
        """Add every person of one camera frame ((P, J, 3), (P, J), (P, J); P may be 0) with one batched network
        pass; tracked people not listed are marked absent at this stamp.
        """
        stamp = self._check_stamp(stamp_s)
        person_ids = list(person_ids)
        if not (len(positions) == len(confidence) == len(status) == len(person_ids)):
            self.events["bad_input"] += 1
            raise ValueError(f"push_frame needs one pose per person id: {len(person_ids)} ids, "
                             f"{len(positions)} poses, {len(confidence)} confidences, {len(status)} statuses")
        if len(set(person_ids)) != len(person_ids):
            self.events["bad_input"] += 1
            raise ValueError(f"push_frame got duplicate person ids {person_ids}")
        frames = [(p, self._present(positions[i], confidence[i], status[i])) for i, p in enumerate(person_ids)]
        seen = set(person_ids)
        frames += [(p, self._absent()) for p in self.tracks if p not in seen]
        return self._step(stamp, frames)

    def flush(self) -> list[RefinedPose]:
        """End of stream: return every pending output (with the look-ahead that exists) and forget all people."""
        jobs = [job for person_id in list(self.tracks) for job in self._close(person_id)]
        return self._run(jobs)

    def reset(self) -> None:
        """Forget everyone without returning anything (e.g. the source changed)."""
        self.tracks.clear()

    # ------------------------------------------------------------------------------------------------ internals

    def _check_stamp(self, stamp_s: float) -> float:
        stamp = float(stamp_s)
        if not np.isfinite(stamp):
            self.events["bad_input"] += 1
            raise ValueError(f"stamp must be finite, got {stamp_s}")
        return stamp

    def _present(self, positions, confidence, status) -> _Frame:
        """One person's checked input; a ValueError (counted as ``bad_input``) before any state changes."""
        joints = self.num_joints
        positions = np.asarray(positions, dtype=np.float32)
        confidence = np.asarray(confidence, dtype=np.float32)
        status = np.asarray(status)
        if positions.shape != (joints, 3) or confidence.shape != (joints,) or status.shape != (joints,):
            self.events["bad_input"] += 1
            raise ValueError(f"expected positions ({joints}, 3), confidence ({joints},) and status ({joints},) for "
                             f"layout {self.layout.name}, got {positions.shape}, {confidence.shape}, {status.shape}")
        valid = status != JointStatus.MISSING
        if not np.isfinite(positions[valid]).all() or not np.isfinite(confidence).all():
            self.events["bad_input"] += 1
            raise ValueError("positions or confidence contain NaN or infinite values")
        return _Frame(np.where(valid[:, None], positions, 0.0).astype(np.float32), confidence, valid,
                      status == JointStatus.OBSERVED)

    def _absent(self) -> _Frame:
        joints = self.num_joints
        nothing = np.zeros(joints, dtype=bool)
        return _Frame(np.zeros((joints, 3), np.float32), np.zeros(joints, np.float32), nothing, nothing)

    def _step(self, stamp: float, frames: list[tuple[Hashable, _Frame]]) -> list[RefinedPose]:
        """Add the frames of one stamp, refine what became due in one batch, drop stale people."""
        jobs: list[_Job] = []
        for person_id, frame in frames:
            jobs.extend(self._add(person_id, stamp, frame))
        for person_id in self._stale(stamp):
            self.events["dropped"] += 1
            LOG.debug("person %s not seen since %.3f: dropped", person_id, self.tracks[person_id].last_seen)
            jobs.extend(self._close(person_id))
        return self._run(jobs)

    def _add(self, person_id: Hashable, stamp: float, frame: _Frame) -> list[_Job]:
        """Append a frame to a person's track; returns the jobs that became due (the frame ``lookahead`` back, and
        the pending frames of a track that had to be restarted).
        """
        jobs: list[_Job] = []
        track = self.tracks.get(person_id)
        if track is not None:
            if stamp == track.stamps[-1]:
                self.events["duplicate"] += 1
                LOG.debug("person %s: duplicate stamp %.6f skipped", person_id, stamp)
                return []
            if not frame.valid.any() and stamp - track.last_seen > self.reset_after_s:
                # Absent for longer than reset_after_s (e.g. the clock jumped minutes ahead): the person is gone,
                # not to be filled in at this stamp from a pose seen that long ago.
                self.events["dropped"] += 1
                return self._close(person_id)
            reason = "reset_backwards" if stamp < track.stamps[-1] else (
                "reset_gap" if frame.valid.any() and stamp - track.last_seen > self.reset_after_s else None)
            if reason is not None:
                self.events[reason] += 1
                LOG.info("person %s: %s at stamp %.3f (previous %.3f); track restarted", person_id,
                         "time jumped backwards" if reason == "reset_backwards" else "long gap", stamp,
                         track.stamps[-1])
                jobs = self._close(person_id)
                track = None
        if track is None:
            if not frame.valid.any():  # nothing to start a track from
                return jobs
            track = self.tracks[person_id] = _Track()
        track.append(stamp, frame)
        track.trim(self._horizon_s())
        if track.pending > self.lookahead:
            track.pending -= 1
            jobs.append(_Job(person_id, track, len(track) - self.lookahead - 1))
        return jobs

    def _close(self, person_id: Hashable) -> list[_Job]:
        """Forget a person; their pending frames become due with the look-ahead that exists."""
        track = self.tracks.pop(person_id)
        jobs = [_Job(person_id, track, index) for index in range(len(track) - track.pending, len(track))]
        track.pending = 0
        return jobs

    def _stale(self, stamp: float) -> list[Hashable]:
        """People not seen for ``reset_after_s`` (either way in time: a replayed bag), and the least recently seen
        beyond ``max_people``.
        """
        stale = [p for p, t in self.tracks.items() if abs(stamp - t.last_seen) > self.reset_after_s]
        excess = len(self.tracks) - len(stale) - self.max_people
        if excess > 0:
            by_age = sorted((t.last_seen, i, p) for i, (p, t) in enumerate(self.tracks.items()) if p not in stale)
            stale += [p for _, _, p in by_age[:excess]]
        return stale

    def _horizon_s(self) -> float:
        return (self.window + 1) / self.fps + 3.0 * self.root_bandwidth_s

    def _grid(self, stamps: np.ndarray, due: float) -> np.ndarray:
        """The model-rate instants of the window: ending at the newest frame, but at most half a window after the
        due frame (a longer look-ahead adds latency, not context).
        """
        end = min(stamps[-1], due + (self.window // 2) / self.fps)
        return end - np.arange(self.window - 1, -1, -1) / self.fps

    def _prepare(self, job: _Job) -> dict[str, np.ndarray]:
        """The network input of one job, and what is needed to turn its output into poses."""
        track = job.track
        stamps = np.fromiter(track.stamps, dtype=np.float64, count=len(track))
        positions = np.stack([f.positions for f in track.frames])
        valid = np.stack([f.valid for f in track.frames])
        observed = np.stack([f.observed for f in track.frames])
        root_valid = valid[:, self.root].all(axis=1)
        roots = fill_gaps(stamps, positions[:, self.root].mean(axis=1), root_valid)
        relative = fill_gaps(stamps, positions - roots[:, None], valid)
        grid = self._grid(stamps, stamps[job.index])
        # Linear interpolation of the frames at the grid instants; flags from the nearest frame, which must lie
        # within about half a frame period of the instant, else the instant is in a gap of the stream.
        upper = np.clip(np.searchsorted(stamps, grid), 1, len(stamps) - 1) if len(stamps) > 1 else \
            np.zeros(len(grid), dtype=np.int64)
        lower = np.maximum(upper - 1, 0)
        span = stamps[upper] - stamps[lower]
        weight = np.clip((grid - stamps[lower]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
        window_poses = (1.0 - weight)[:, None, None] * relative[lower] + weight[:, None, None] * relative[upper]
        nearest = np.where(weight < 0.5, lower, upper)
        period = float(np.median(np.diff(stamps))) if len(stamps) > 1 else 0.0
        tolerance = 0.6 * max(1.0 / self.fps, period)
        near = np.abs(stamps[nearest] - grid) <= tolerance
        return {
            "poses": window_poses.astype(np.float32),
            "valid": valid[nearest] & near[:, None],
            "observed": observed[nearest] & near[:, None],
            "grid": grid,
            "stamps": stamps,
            "relative": relative,
            "roots": positions[:, self.root].mean(axis=1),
            "root_valid": root_valid,
        }

    @torch.inference_mode()
    def _refine(self, inputs: list[dict[str, np.ndarray]]) -> np.ndarray:
        """Root-relative refined windows (N, T, J, 3) for N prepared jobs, in one forward pass."""
        poses = np.stack([x["poses"] for x in inputs])
        if self.model is None:
            return poses
        tensors = [torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(self.device) for a in
                   (poses, np.stack([x["observed"] for x in inputs]), np.stack([x["valid"] for x in inputs]))]
        if self._network is None:
            self._network = self._trace()
        return self._network(*tensors).float().cpu().numpy()

    def _trace(self) -> torch.jit.ScriptModule:
        """The network frozen for this refiner's window (:func:`pose3d_ros.inference.frozen_trace`)."""
        shape = (1, self.window, self.num_joints)
        example = (torch.zeros(*shape, 3, device=self.device), torch.ones(shape, dtype=torch.bool, device=self.device),
                   torch.ones(shape, dtype=torch.bool, device=self.device))
        return frozen_trace(self.model, example)

    def _run(self, jobs: list[_Job]) -> list[RefinedPose]:
        if not jobs:
            return []
        inputs = [self._prepare(job) for job in jobs]
        refined = self._refine(inputs)
        poses = (self._output(job, x, window) for job, x, window in zip(jobs, inputs, refined, strict=True))
        return [pose for pose in poses if pose is not None]

    def _output(self, job: _Job, x: dict[str, np.ndarray], window: np.ndarray) -> RefinedPose | None:
        track, index = job.track, job.index
        stamp = x["stamps"][index]
        run = track.missing_run[index]
        missing = run > self.max_gap
        newly_given_up = run == self.max_gap + 1
        if newly_given_up.any():
            self.events["gave_up"] += int(newly_given_up.sum())
            LOG.info("person %s: %d joints missing for more than %d frames at stamp %.3f; reported MISSING",
                     job.person_id, int(newly_given_up.sum()), self.max_gap, stamp)
        if missing.all():
            return None
        # The refined window at this frame's stamp (exact when the frame lies on the grid).
        grid = x["grid"]
        position = np.interp(stamp, grid, np.arange(len(grid), dtype=np.float64))
        lo = int(np.floor(position))
        hi = min(lo + 1, len(grid) - 1)
        w = position - lo
        relative = (1.0 - w) * window[lo] + w * window[hi]
        # The root from every frame received so far, i.e. up to the look-ahead.
        root = local_linear(x["stamps"], x["roots"], x["root_valid"], stamp, self.root_bandwidth_s)
        if root is None:  # no valid root within reach: keep the one the pre-fill gives
            root = fill_gaps(x["stamps"], x["roots"], x["root_valid"])[index]
        frame = track.frames[index]
        valid = frame.valid
        status = np.where(valid, JointStatus.REFINED, np.where(missing, JointStatus.MISSING, JointStatus.FILLED))
        confidence = np.where(valid, frame.confidence,
                              np.where(missing, 0.0, _filled_confidence(track, index, self.max_gap)))
        return RefinedPose(job.person_id, float(stamp), (relative + root).astype(np.float32),
                           confidence.astype(np.float32), status.astype(np.uint8))


def _filled_confidence(track: _Track, index: int, max_gap: int) -> np.ndarray:
    """Confidence of filled joints: the last valid confidence, fading linearly over the allowed gap."""
    run = track.missing_run[index]
    last = np.zeros(len(run), dtype=np.float32)
    for back in range(index, -1, -1):
        frame = track.frames[back]
        last = np.where(frame.valid & (last == 0), frame.confidence, last)
        if (last > 0).all() or back < index - max_gap - 1:
            break
    return last * (1.0 - run / (max_gap + 1.0))
