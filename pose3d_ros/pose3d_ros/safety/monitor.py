"""The safety monitor: skeletons and object poses in, one state per monitored object out.

Everything the ROS node would decide is here, so that the node only converts messages, looks up TF and calls
:meth:`SafetyMonitor.update` per skeleton message and :meth:`SafetyMonitor.check` on a timer. ``pose3d run
--safety`` calls the same with the static poses of the YAML.

Per frame, for every object (one vectorised call over all people and joints): the signed distance of each
monitored joint to the object's surface, reduced by k·sigma (the joint's predicted error), the joint that
decides for each person, that joint's approach speed along the line to the object, the person's stop distance
and clearance, and the object's state from the person with the least clearance.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pose3d_ros.node_logic.temporal_frames import SkeletonFrame
from pose3d_ros.skeleton import WHOLEBODY133, JointStatus

from .config import SafetyConfig
from .geometry import Pose
from .states import SafetyState, StateMachine, UnknownCause

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class SafetyReport:
    """The monitor's output at one time: per object (O,) arrays in the order of the config's objects.

    Distances are signed metres (negative inside the object); NaN and -1 where nobody is measured or the
    object's pose is unknown. Points are in ``frame_id`` (the skeletons' frame).
    """

    stamp_ns: int
    """When it was evaluated (the caller's clock)."""
    image_stamp_ns: int
    """Stamp of the skeletons (their image) it rests on; 0 before any."""
    frame_id: str
    names: tuple[str, ...]
    state: np.ndarray
    """(O,) uint8 :class:`SafetyState`."""
    causes: np.ndarray
    """(O,) uint16 :class:`UnknownCause` bits; non-zero exactly where the state is UNKNOWN."""
    distance: np.ndarray
    """(O,) the deciding joint's distance to the object's surface."""
    inflated_distance: np.ndarray
    """(O,) that distance minus k·sigma: what the thresholds are compared with."""
    stop_distance: np.ndarray
    """(O,) the protective-stop threshold in effect (for the deciding person's approach speed)."""
    warning_distance: np.ndarray
    approach_speed: np.ndarray
    """(O,) m/s of the deciding joint towards the object (negative: moving away); NaN until measured."""
    person_id: np.ndarray
    """(O,) int64 deciding person, -1 if none."""
    joint: np.ndarray
    """(O,) int64 deciding joint (COCO-WholeBody index), -1 if none."""
    joint_point: np.ndarray
    """(O, 3) that joint's position."""
    object_point: np.ndarray
    """(O, 3) the nearest point of the object's surface to it."""
    person_ids: np.ndarray
    """(P,) int64 the people of the frame."""
    person_distance: np.ndarray
    """(O, P) each person's deciding joint's distance (NaN: not measured)."""
    person_joint: np.ndarray
    """(O, P) int64 that joint, -1 if none."""
    person_speed: np.ndarray
    """(O, P) its approach speed."""
    nan_joints: int = 0
    """Monitored joints of this frame that were ignored because their position was NaN."""

    @property
    def worst(self) -> SafetyState:
        """The most severe state over the objects (UNKNOWN is the most severe)."""
        return SafetyState(int(self.state.max())) if len(self.state) else SafetyState.CLEAR

    @classmethod
    def unknown(cls, names: tuple[str, ...], stamp_ns: int, causes: UnknownCause, frame_id: str = "",
                image_stamp_ns: int = 0) -> SafetyReport:
        """Every object UNKNOWN for ``causes``, nothing measured."""
        count = len(names)
        nan = np.full(count, np.nan)
        return cls(stamp_ns, image_stamp_ns, frame_id, names, np.full(count, SafetyState.UNKNOWN, np.uint8),
                   np.full(count, int(causes), np.uint16), nan, nan.copy(), nan.copy(), nan.copy(), nan.copy(),
                   np.full(count, -1, np.int64), np.full(count, -1, np.int64), np.full((count, 3), np.nan),
                   np.full((count, 3), np.nan), np.zeros(0, np.int64), np.zeros((count, 0)),
                   np.zeros((count, 0), np.int64), np.zeros((count, 0)))


class SafetyMonitor:
    """Distances, states and fail-safe checks for the objects of a :class:`SafetyConfig` (see the module doc)."""

    def __init__(self, config: SafetyConfig) -> None:
        self.config = config
        self.names = tuple(o.name for o in config.objects)
        self._machines = [StateMachine(config.states.hysteresis_m, config.states.min_hold_s) for _ in config.objects]
        self._tracks: dict[int, tuple[int, np.ndarray]] = {}  # person -> (stamp, (M, 3) previous positions)
        self._filled_since: dict[int, int] = {}  # person -> first stamp of the current run of filled-only frames
        self._drops: deque[tuple[int, int]] = deque()  # (arrival, frames the 2D stage dropped before it)
        self._last_arrival_ns: int | None = None
        self._last: SafetyReport | None = None
        self.nan_joints = 0
        """Monitored joints ignored so far because their position was NaN."""

    def update(self, skeletons: SkeletonFrame, now_ns: int, poses: Mapping[str, Pose | None],
               dropped_frames: int = 0) -> SafetyReport:
        """Evaluate one skeleton message.

        ``poses``: the pose of each object's frame in the skeletons' frame at their stamp (TF on ROS,
        :meth:`SafetyConfig.static_poses` offline); a frame that is missing or None is a failed lookup and makes
        its objects UNKNOWN. Objects in the skeletons' own frame need none. ``dropped_frames``: input frames the
        2D stage dropped since the previous call. ``now_ns``: the caller's clock (the time of arrival).
        """
        joints = self.config.joints
        failsafe = self.config.failsafe
        positions = np.asarray(skeletons.positions)
        if positions.ndim != 3 or positions.shape[1:] != (WHOLEBODY133.num_joints, 3):
            raise ValueError(f"the safety monitor needs {WHOLEBODY133.name} skeletons (P, 133, 3), got "
                             f"{positions.shape}")
        stamp = int(skeletons.stamp_ns)
        self._last_arrival_ns = int(now_ns)
        causes = UnknownCause(0)
        if abs(now_ns - stamp) > failsafe.max_stamp_age_s * 1e9:
            causes |= UnknownCause.STALE
        if self._dropping(int(now_ns), int(dropped_frames)):
            causes |= UnknownCause.DROPPING_FRAMES

        ids = np.asarray(skeletons.person_ids, dtype=np.int64)
        points = positions[:, joints.indices].astype(np.float64)  # (P, M, 3)
        status = np.asarray(skeletons.status)[:, joints.indices]
        finite = np.isfinite(points).all(axis=-1)
        nan_joints = int((~finite).sum())
        if nan_joints:
            self.nan_joints += nan_joints
            LOG.debug("%d monitored joints with NaN positions ignored at %d ns", nan_joints, stamp)
        usable = finite & (status != JointStatus.MISSING)
        points = np.where(usable[..., None], points, np.nan)
        if (~usable.any(axis=1)).any():
            causes |= UnknownCause.UNMEASURED_PERSON
        if self._filled_too_long(ids, usable & (status != JointStatus.FILLED), stamp):
            causes |= UnknownCause.FILLED_TOO_LONG
        velocity = self._velocities(ids, points, stamp)
        error = np.asarray(skeletons.error, dtype=np.float64)[:, joints.indices]
        sigma = np.where(np.isfinite(error) & (error >= 0), error, joints.unknown_error_m)

        report = SafetyReport.unknown(self.names, int(now_ns), UnknownCause(0), skeletons.frame_id, stamp)
        report = dataclasses.replace(report, person_ids=ids, person_distance=np.full((len(self.names), len(ids)),
                                                                                     np.nan),
                                     person_joint=np.full((len(self.names), len(ids)), -1, np.int64),
                                     person_speed=np.full((len(self.names), len(ids)), np.nan), nan_joints=nan_joints)
        for o, obj in enumerate(self.config.objects):
            pose = Pose.identity() if obj.frame == skeletons.frame_id else poses.get(obj.frame)
            object_causes = causes if pose is not None else causes | UnknownCause.TRANSFORM
            clearance = np.inf
            if pose is not None:
                clearance = self._measure(report, o, obj, pose, points, usable, sigma * joints.error_k, velocity)
            report.causes[o] = int(object_causes)
            if object_causes:
                report.state[o] = SafetyState.UNKNOWN
            else:
                margin = obj.thresholds.warning_margin_m
                report.state[o] = self._machines[o].update(clearance, margin, stamp)
        self._last = report
        return report

    def check(self, now_ns: int) -> SafetyReport:
        """The state now, without new skeletons (a timer on ROS): the last report, UNKNOWN everywhere when no
        skeletons came for ``skeleton_timeout_s`` (or none yet) or the last ones are too old by now.
        """
        failsafe = self.config.failsafe
        if self._last is None:
            return SafetyReport.unknown(self.names, int(now_ns), UnknownCause.NO_SKELETONS)
        causes = UnknownCause(0)
        if now_ns - self._last_arrival_ns > failsafe.skeleton_timeout_s * 1e9:
            causes |= UnknownCause.NO_SKELETONS
        if abs(now_ns - self._last.image_stamp_ns) > failsafe.max_stamp_age_s * 1e9:
            causes |= UnknownCause.STALE
        all_causes = self._last.causes | np.uint16(causes)
        state = np.where(all_causes != 0, np.uint8(SafetyState.UNKNOWN), self._last.state).astype(np.uint8)
        return dataclasses.replace(self._last, stamp_ns=int(now_ns), causes=all_causes, state=state)

    # ---- parts of an update -------------------------------------------------------------------------

    def _measure(self, report: SafetyReport, o: int, obj, pose: Pose, points: np.ndarray, usable: np.ndarray,
                 inflation: np.ndarray, velocity: np.ndarray) -> float:
        """Fill object ``o``'s distances into ``report``; returns its clearance (inf when nobody is measured)."""
        people, monitored = usable.shape
        thresholds = obj.thresholds
        stop_if_nobody = float(thresholds.stop_distance(np.array(np.nan)))
        report.stop_distance[o] = stop_if_nobody
        report.warning_distance[o] = stop_if_nobody + thresholds.warning_margin_m
        measured = usable.any(axis=1)
        if not measured.any():
            return np.inf
        local = pose.inverse_apply(np.nan_to_num(points.reshape(-1, 3)))
        distance, nearest = obj.shape.surface(local)
        distance = np.where(usable, distance.reshape(people, monitored), np.inf)
        inflated = distance - inflation
        joint = inflated.argmin(axis=1)
        rows = np.arange(people)
        joint_distance, joint_inflated = distance[rows, joint], inflated[rows, joint]
        joint_point = points[rows, joint]
        object_point = pose.apply(nearest.reshape(people, monitored, 3)[rows, joint])
        with np.errstate(divide="ignore", invalid="ignore"):
            # -gradient of the signed distance: towards the surface from outside, deeper from inside.
            towards = (object_point - joint_point) / joint_distance[:, None]
            speed = np.where(joint_distance != 0, (velocity[rows, joint] * towards).sum(axis=1), np.nan)
        stop = thresholds.stop_distance(speed)
        clearance = np.where(measured, joint_inflated - stop, np.inf)
        p = int(clearance.argmin())
        indices = self.config.joints.indices
        report.person_distance[o] = np.where(measured, joint_distance, np.nan)
        report.person_joint[o] = np.where(measured, indices[joint], -1)
        report.person_speed[o] = np.where(measured, speed, np.nan)
        report.distance[o], report.inflated_distance[o] = joint_distance[p], joint_inflated[p]
        report.stop_distance[o], report.warning_distance[o] = stop[p], stop[p] + thresholds.warning_margin_m
        report.approach_speed[o] = speed[p]
        report.person_id[o], report.joint[o] = report.person_ids[p], indices[joint[p]]
        report.joint_point[o], report.object_point[o] = joint_point[p], object_point[p]
        return float(clearance[p])

    def _dropping(self, now_ns: int, dropped: int) -> bool:
        """Whether the 2D stage dropped more than max_drop_ratio of its frames over the last drop_window_s."""
        failsafe = self.config.failsafe
        self._drops.append((now_ns, max(dropped, 0)))
        while self._drops and self._drops[0][0] < now_ns - failsafe.drop_window_s * 1e9:
            self._drops.popleft()
        lost = sum(count for _, count in self._drops)
        return lost > failsafe.max_drop_ratio * (lost + len(self._drops))

    def _filled_too_long(self, ids: np.ndarray, seen: np.ndarray, stamp_ns: int) -> bool:
        """Whether a person has had no monitored joint other than FILLED for longer than max_filled_s."""
        only_filled = ~seen.any(axis=1)
        self._filled_since = {int(pid): self._filled_since.get(int(pid), stamp_ns)
                              for pid, filled in zip(ids.tolist(), only_filled, strict=True) if filled}
        limit = self.config.failsafe.max_filled_s * 1e9
        return any(stamp_ns - since > limit for since in self._filled_since.values())

    def _velocities(self, ids: np.ndarray, points: np.ndarray, stamp_ns: int) -> np.ndarray:
        """(P, M, 3) m/s of each joint since the person's previous frame (NaN: no previous frame within
        skeleton_timeout_s, or the joint was not measured in both).
        """
        velocity = np.full(points.shape, np.nan)
        limit = self.config.failsafe.skeleton_timeout_s * 1e9
        for p, pid in enumerate(ids.tolist()):
            previous = self._tracks.get(pid)
            if previous is not None and 0 < stamp_ns - previous[0] <= limit:
                velocity[p] = (points[p] - previous[1]) / ((stamp_ns - previous[0]) / 1e9)
        self._tracks = {pid: (stamp_ns, points[p]) for p, pid in enumerate(ids.tolist())}
        return velocity
