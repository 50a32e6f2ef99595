"""Safety states, the reasons for ``unknown``, the protective separation distance, and the per-object state
machine with hysteresis and a minimum hold time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag

import numpy as np


class SafetyState(IntEnum):
    """Per-object state; the values are those of pose3d_ros_msgs/SafetyState's STATE_*. Ordered by severity."""

    CLEAR = 0
    WARNING = 1
    PROTECTIVE_STOP = 2
    UNKNOWN = 3  # the monitor cannot vouch for its numbers: consumers must treat it as PROTECTIVE_STOP


class UnknownCause(IntFlag):
    """Why a state is UNKNOWN (bits of pose3d_ros_msgs/SafetyState's CAUSE_*)."""

    NO_SKELETONS = 1  # no skeleton message for longer than failsafe.skeleton_timeout_s (or none yet)
    STALE = 2  # the newest skeletons' image is older than failsafe.max_stamp_age_s (or that far in the future)
    TRANSFORM = 4  # the pose of the object's frame is not known (a failed TF lookup)
    DROPPING_FRAMES = 8  # the 2D stage drops more than failsafe.max_drop_ratio of its input frames
    FILLED_TOO_LONG = 16  # a person has been only filled in by the temporal stage for longer than max_filled_s
    UNMEASURED_PERSON = 32  # a person is in the message but none of the monitored joints has a position


@dataclass(frozen=True)
class FixedThresholds:
    """Fixed distances (m) from the object's surface: stop at or below ``stop_distance_m``, warn at or below
    ``warning_distance_m``.
    """

    stop_distance_m: float
    warning_distance_m: float

    def stop_distance(self, approach_speed_m_s: np.ndarray) -> np.ndarray:
        return np.full(np.shape(approach_speed_m_s), self.stop_distance_m)

    @property
    def warning_margin_m(self) -> float:
        return self.warning_distance_m - self.stop_distance_m


@dataclass(frozen=True)
class SeparationThresholds:
    """The protective separation distance of speed-and-separation monitoring (ISO/TS 15066 5.5.4, after
    ISO 13855), evaluated per person with that person's approach speed:

        S_p = v_h * (T_r + T_s) + v_r * T_r + S_s + C + Z_d + Z_r

    v_h = max(measured approach speed, ``min_human_speed_m_s``) (m/s; the floor also stands in when no speed is
    measured yet), T_r ``reaction_time_s`` (s, the whole chain: camera, pipeline with its look-ahead, this
    monitor, the robot controller), T_s ``stopping_time_s`` (s), v_r ``robot_speed_m_s`` (m/s, towards the
    person), S_s ``stopping_distance_m`` (m, the robot's travel while stopping), C ``intrusion_distance_m`` (m,
    reach of a body part past the detection, ISO 13855), Z_d ``human_uncertainty_m`` and Z_r
    ``robot_uncertainty_m`` (m, position uncertainties; the per-joint k·sigma inflation comes on top). The warning
    distance is S_p + ``warning_margin_m``.
    """

    reaction_time_s: float
    stopping_time_s: float
    robot_speed_m_s: float
    stopping_distance_m: float
    intrusion_distance_m: float
    human_uncertainty_m: float
    robot_uncertainty_m: float
    min_human_speed_m_s: float
    warning_margin_m: float

    def stop_distance(self, approach_speed_m_s: np.ndarray) -> np.ndarray:
        speed = np.asarray(approach_speed_m_s, dtype=np.float64)
        human = np.fmax(np.nan_to_num(speed, nan=-np.inf), self.min_human_speed_m_s)
        return (human * (self.reaction_time_s + self.stopping_time_s) + self.robot_speed_m_s * self.reaction_time_s
                + self.stopping_distance_m + self.intrusion_distance_m + self.human_uncertainty_m
                + self.robot_uncertainty_m)


Thresholds = FixedThresholds | SeparationThresholds


class StateMachine:
    """One object's clear / warning / protective_stop from its clearance (distance minus stop distance, m).

    A more severe state is entered at once: protective_stop at clearance <= 0, warning at clearance <=
    ``warning_margin``. A state is left only once the clearance has been beyond its threshold plus
    ``hysteresis_m`` for ``min_hold_s`` without interruption (times are the images' stamps), and then straight
    to the state that clearance calls for.
    """

    def __init__(self, hysteresis_m: float, min_hold_s: float) -> None:
        self.hysteresis_m = hysteresis_m
        self.min_hold_ns = round(min_hold_s * 1e9)
        self.state = SafetyState.CLEAR
        self._held_at_ns: int | None = None  # the newest stamp at which the current state was still called for

    @staticmethod
    def _level(clearance: float, warning_margin: float) -> SafetyState:
        if clearance <= 0:
            return SafetyState.PROTECTIVE_STOP
        return SafetyState.WARNING if clearance <= warning_margin else SafetyState.CLEAR

    def update(self, clearance: float, warning_margin: float, stamp_ns: int) -> SafetyState:
        target = self._level(clearance, warning_margin)
        relaxed = self._level(clearance - self.hysteresis_m, warning_margin)
        if target > self.state or self._held_at_ns is None:
            self.state = max(target, self.state)
            self._held_at_ns = stamp_ns
        elif relaxed >= self.state:
            self._held_at_ns = stamp_ns
        elif stamp_ns - self._held_at_ns >= self.min_hold_ns:
            self.state = relaxed
            self._held_at_ns = stamp_ns
        return self.state
