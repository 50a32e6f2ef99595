"""The temporal stage's stamps in, refined frames out: what temporal_node publishes and pose3d run writes."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SkeletonFrame:
    """The 3D skeletons of one camera frame, the content of a Skeleton3DArray: the lifter's raw output or the
    refined people of one input stamp.
    """

    stamp_ns: int
    frame_id: str
    person_ids: np.ndarray
    """(P,) int64."""
    positions: np.ndarray
    """(P, J, 3) float32 metres, camera optical frame."""
    confidence: np.ndarray
    """(P, J) float32, the 2D confidence each joint was lifted from."""
    error: np.ndarray
    """(P, J) float32, the lifter's predicted error in metres (NaN: no prediction)."""
    status: np.ndarray
    """(P, J) uint8 :class:`~pose3d_ros.skeleton.JointStatus`."""
    placement: np.ndarray | None = None
    """(P,) uint8 :class:`~pose3d_ros.skeleton.PlacementSource`; None: not said (the temporal stage's frames)."""


class TemporalFrames:
    """Feeds a StreamingRefiner frame by frame (``push_frame``: one batched pass, people missing from a frame are
    marked absent) and turns what it returns into one output frame per input frame, in input order.

    The refiner answers ``lookahead`` frames late (a person it drops or restarts: at once) and returns nothing for
    a stamp at which nobody is tracked (or every joint of everyone is MISSING); every stamp comes out once, when it
    is ``lookahead`` frames old, with the people refined there or with none, so that consumers (and REP-155's
    tracked list) learn that nobody is there. This keeps each input stamp's frame_id and the lifter's error (the
    refiner does not predict one; NaN for a person filled in at a stamp where the lifter had no pose of them) until
    the stamp comes out, and keeps stamps exact to the nanosecond by giving the refiner seconds since the first
    frame.

    Clock trouble, counted in ``events``: a stamp that is already pending or equal to the previous one
    (``duplicate_stamp``) is skipped, since outputs are keyed by stamp; a stamp before the previous one
    (``clock_jumped_back``: a bag played in a loop, a restarted simulation) or more than the refiner's
    ``reset_after_s`` after it (``clock_jumped_forward``) first flushes everything held (every track would be
    restarted or dropped there anyway) and restarts the seconds from that stamp, so that stamps stay exact.
    """

    def __init__(self, refiner: Any, num_joints: int, history: int = 512):
        self.refiner = refiner
        self.num_joints = num_joints
        self.lookahead = int(getattr(refiner, "lookahead", 0))
        self.jump_ns = round(1e9 * float(getattr(refiner, "reset_after_s", 1.0)))
        self.history = max(history, self.lookahead + 1)  # every frame the refiner may still hold
        self._origin_ns: int | None = None
        self._last_ns: int | None = None
        self._frames: dict[int, tuple[str, dict[int, np.ndarray]]] = {}
        self._pending: deque[int] = deque()  # input stamps not yet output, in input order
        self._held: list[SkeletonFrame] = []  # flushed by a clock jump, returned with the next output
        self._answers: dict[int, list] = {}  # refined poses by input stamp, until the stamp is due
        self._events: Counter[str] = Counter()

    @property
    def events(self) -> Counter[str]:
        """This stage's clock events and the refiner's own (resets, drops, duplicates, people given up)."""
        return self._events + Counter(getattr(self.refiner, "events", {}))

    def _seconds(self, stamp_ns: int) -> float:
        return (stamp_ns - self._origin_ns) / 1e9

    def _stamp_ns(self, seconds: float) -> int:
        return self._origin_ns + round(seconds * 1e9)

    def push(self, stamp_ns: int, frame_id: str, person_ids: np.ndarray, positions: np.ndarray,
             confidence: np.ndarray, error: np.ndarray, status: np.ndarray) -> list[SkeletonFrame]:
        """One input frame (P people, P may be 0); returns the frames that became due, oldest first."""
        stamp_ns = int(stamp_ns)
        if stamp_ns == self._last_ns or stamp_ns in self._pending:
            self._events["duplicate_stamp"] += 1
            return []
        if self._last_ns is not None and not 0 < stamp_ns - self._last_ns <= self.jump_ns:
            self._events["clock_jumped_back" if stamp_ns < self._last_ns else "clock_jumped_forward"] += 1
            self._held += self._due(self.refiner.flush(), final=True)
            self._origin_ns = None
        if self._origin_ns is None:
            self._origin_ns = stamp_ns
        ids = [int(i) for i in np.asarray(person_ids).reshape(-1)]
        # A frame the refiner refuses (ValueError) leaves no trace here; what a jump flushed waits in _held.
        refined = self.refiner.push_frame(self._seconds(stamp_ns), ids, positions, confidence, status)
        self._last_ns = stamp_ns
        self._frames[stamp_ns] = (frame_id, {pid: np.asarray(error[p]) for p, pid in enumerate(ids)})
        while len(self._frames) > self.history:  # oldest first, also when a replay made stamps jump back
            del self._frames[next(iter(self._frames))]
        self._pending.append(stamp_ns)
        due, self._held = self._held + self._due(refined, final=False), []
        return due

    @property
    def held(self) -> int:
        """Input frames not output yet."""
        return len(self._pending)

    def flush(self) -> list[SkeletonFrame]:
        """Every frame still held (end of stream or deactivation)."""
        due, self._held = self._held + self._due(self.refiner.flush() if self._origin_ns is not None else [],
                                                 final=True), []
        return due

    def _due(self, refined: list, final: bool) -> list[SkeletonFrame]:
        for pose in refined:
            self._answers.setdefault(self._stamp_ns(pose.stamp), []).append(pose)
        # A stamp is complete once the refiner no longer holds it: lookahead frames old for the streaming refiner,
        # older than the frames the offline one says it still holds (pending_frames). Answers that come earlier (a
        # person dropped or restarted: their pending frames at once) wait for the others', or the stamp would come
        # out twice.
        held = getattr(self.refiner, "pending_frames", self.lookahead)
        count = len(self._pending) if final else max(0, len(self._pending) - held)
        frames = []
        for _ in range(count):
            stamp = self._pending.popleft()
            frames.append(self._frame(stamp, self._answers.pop(stamp, [])))
        # Poses of a stamp already output (not expected from the refiner's contract): late rather than lost.
        late = sorted(stamp for stamp in self._answers if stamp not in self._pending)
        return frames + [self._frame(stamp, self._answers.pop(stamp)) for stamp in late]

    def _frame(self, stamp: int, poses: list) -> SkeletonFrame:
        poses = sorted(poses, key=lambda pose: int(pose.person_id))
        frame_id, errors = self._frames.get(stamp, ("", {}))
        joints = self.num_joints
        # A person the lifter did not see at this stamp (a frame the refiner filled) has no predicted error:
        # NaN, which fails every "error < limit" test a consumer may make, rather than a reassuring 0.
        unknown = np.full(joints, np.nan, dtype=np.float32)
        return SkeletonFrame(
            stamp_ns=stamp, frame_id=frame_id,
            person_ids=np.array([int(pose.person_id) for pose in poses], dtype=np.int64),
            positions=np.array([pose.positions for pose in poses], dtype=np.float32).reshape(-1, joints, 3),
            confidence=np.array([pose.confidence for pose in poses], dtype=np.float32).reshape(-1, joints),
            error=np.array([errors.get(int(pose.person_id), unknown) for pose in poses],
                           dtype=np.float32).reshape(-1, joints),
            status=np.array([pose.status for pose in poses], dtype=np.uint8).reshape(-1, joints),
        )
