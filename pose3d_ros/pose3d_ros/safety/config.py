"""The safety YAML: monitored objects, thresholds, fail-safe limits and static transforms, checked at load.

Every mistake is refused at load with ``FILE:LINE:`` (ruamel.yaml keeps the lines), including keys the format
does not have, so that a typo never silently disables a check. docs/safety.md describes the format;
config/safety_example.yaml is a complete example.

The same file serves ROS and ``pose3d run --safety``: on ROS the pose of every object's frame comes from TF at the
skeletons' stamp; offline it comes from the ``transforms:`` section (static transforms from ``camera_frame``,
the frame the skeletons are in), resolved by :meth:`SafetyConfig.static_poses`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from pose3d_ros.skeleton import WHOLEBODY133

from .geometry import Box, Capsule, Cylinder, ExtrudedPolygon, Pose, Shape, polygon_area
from .states import FixedThresholds, SeparationThresholds, Thresholds

# Joint groups of COCO-WholeBody that ``joints.parts`` can name.
PARTS: dict[str, slice] = {
    "body": slice(0, 17), "feet": slice(17, 23), "face": slice(23, 91),
    "left_hand": slice(91, 112), "right_hand": slice(112, 133), "hands": slice(91, 133),
}
DEFAULT_PARTS = ("body", "feet", "hands")
SHAPES = ("capsule", "box", "cylinder", "polygon")
DEFAULT_PROFILE = "default"


class SafetyConfigError(ValueError):
    """A safety YAML that cannot be used; the message starts with ``FILE:LINE:``."""


@dataclass(frozen=True)
class MonitoredObject:
    """A solid shape in a frame (a robot link's TF frame or any fixed frame) and the thresholds it is judged by."""

    name: str
    frame: str
    shape: Shape
    thresholds: Thresholds
    line: int


@dataclass(frozen=True)
class JointSettings:
    indices: np.ndarray
    """(M,) the monitored joints of COCO-WholeBody, in order."""
    error_k: float
    """Distances are reduced by error_k times the joint's predicted error (sigma, m)."""
    unknown_error_m: float
    """Sigma used where the lifter gave no prediction (NaN error)."""


@dataclass(frozen=True)
class FailSafeSettings:
    skeleton_timeout_s: float
    max_stamp_age_s: float
    max_filled_s: float
    max_drop_ratio: float
    drop_window_s: float


@dataclass(frozen=True)
class StateSettings:
    hysteresis_m: float
    min_hold_s: float


@dataclass(frozen=True)
class StaticTransform:
    parent: str
    child: str
    pose: Pose
    """Pose of ``child`` in ``parent``."""
    line: int


@dataclass(frozen=True)
class SafetyConfig:
    objects: tuple[MonitoredObject, ...]
    joints: JointSettings
    failsafe: FailSafeSettings
    states: StateSettings
    camera_frame: str | None
    transforms: tuple[StaticTransform, ...]
    path: str

    @classmethod
    def load(cls, path: str | Path) -> SafetyConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"safety config {path} does not exist")
        return cls.parse(path.read_text(encoding="utf-8"), str(path))

    @classmethod
    def parse(cls, text: str, path: str = "<safety>") -> SafetyConfig:
        from ruamel.yaml import YAML, YAMLError

        try:
            document = YAML(typ="rt").load(text)
        except YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            context, context_mark = getattr(err, "context", None), getattr(err, "context_mark", None)
            where = f" ({context} at line {context_mark.line + 1})" if context and context_mark else ""
            raise SafetyConfigError(f"{path}:{mark.line + 1 if mark else 1}: not valid YAML: "
                                    f"{getattr(err, 'problem', None) or err}{where}") from err
        except RecursionError:
            raise SafetyConfigError(f"{path}:1: the YAML is nested too deeply to be a safety config") from None
        root = _Map(document, path, None, "the file")
        root.only("camera_frame", "transforms", "joints", "failsafe", "states", "thresholds", "objects")
        profiles = _profiles(root.child("thresholds", required=True))
        objects = tuple(_object(item, profiles) for item in root.items("objects", required=True))
        for obj in objects:
            first = next(o for o in objects if o.name == obj.name)
            if first is not obj:
                raise SafetyConfigError(f"{path}:{obj.line}: object name {obj.name!r} is used twice (first at line "
                                        f"{first.line})")
        config = cls(objects=objects, joints=_joints(root.child("joints")), failsafe=_failsafe(root.child("failsafe")),
                     states=_states(root.child("states")), camera_frame=root.text("camera_frame", None),
                     transforms=tuple(_transform(item) for item in root.items("transforms")), path=path)
        config._check_transform_tree()
        return config

    @property
    def frames(self) -> tuple[str, ...]:
        """The frames whose pose the monitor needs (the ROS node looks these up in TF)."""
        return tuple(dict.fromkeys(o.frame for o in self.objects))

    def _check_transform_tree(self) -> None:
        parents: dict[str, StaticTransform] = {}
        for transform in self.transforms:
            if transform.child in parents:
                raise SafetyConfigError(f"{self.path}:{transform.line}: frame {transform.child!r} already has a "
                                        f"parent (line {parents[transform.child].line}); each frame has one")
            parents[transform.child] = transform
        for transform in self.transforms:
            seen, frame = {transform.child}, transform.parent
            while frame in parents:
                if frame in seen:
                    raise SafetyConfigError(f"{self.path}:{transform.line}: the transforms form a cycle "
                                            f"through {frame!r}")
                seen.add(frame)
                frame = parents[frame].parent

    def static_poses(self) -> dict[str, Pose]:
        """The pose of every object's frame in ``camera_frame`` from the ``transforms:`` section (for offline use).

        An object whose frame is not ``camera_frame`` and is not connected to it by the transforms is refused
        with the object's line.
        """
        parents = {t.child: t for t in self.transforms}

        def to_root(frame: str) -> tuple[str, Pose]:
            pose = Pose.identity()
            while frame in parents:
                pose = parents[frame].pose * pose
                frame = parents[frame].parent
            return frame, pose

        poses: dict[str, Pose] = {}
        for obj in self.objects:
            if obj.frame == self.camera_frame:
                poses[obj.frame] = Pose.identity()
                continue
            if self.camera_frame is None:
                raise SafetyConfigError(f"{self.path}:{obj.line}: object {obj.name!r} is in frame {obj.frame!r}: "
                                        "offline use needs camera_frame (the frame of the skeletons) and "
                                        "transforms that connect the two")
            root, object_in_root = to_root(obj.frame)
            camera_root, camera_in_root = to_root(self.camera_frame)
            if root != camera_root:
                known = sorted({self.camera_frame} | {t.child for t in self.transforms}
                               | {t.parent for t in self.transforms})
                raise SafetyConfigError(f"{self.path}:{obj.line}: object {obj.name!r}: frame {obj.frame!r} is not "
                                        f"connected to camera_frame {self.camera_frame!r} by the transforms "
                                        f"(frames known: {', '.join(known)})")
            poses[obj.frame] = camera_in_root.inverse() * object_in_root
        return poses


# --------------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------------


def _joints(section: _Map) -> JointSettings:
    section.only("parts", "error_k", "unknown_error_m")
    parts = section.value("parts", list(DEFAULT_PARTS))
    if not isinstance(parts, list) or not parts or not all(isinstance(p, str) for p in parts):
        section.fail("parts", f"parts must be a list of some of {', '.join(PARTS)}")
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        section.fail("parts", f"unknown part(s) {unknown}; parts: {', '.join(PARTS)}")
    indices = sorted({j for p in parts for j in range(WHOLEBODY133.num_joints)[PARTS[p]]})
    return JointSettings(np.array(indices, dtype=np.int64), section.number("error_k", 2.0),
                         section.number("unknown_error_m", 0.10))


def _failsafe(section: _Map) -> FailSafeSettings:
    section.only("skeleton_timeout_s", "max_stamp_age_s", "max_filled_s", "max_drop_ratio", "drop_window_s")
    return FailSafeSettings(section.number("skeleton_timeout_s", 0.5, positive=True),
                            section.number("max_stamp_age_s", 0.5, positive=True),
                            section.number("max_filled_s", 1.0),
                            section.number("max_drop_ratio", 0.3, maximum=1.0),
                            section.number("drop_window_s", 2.0, positive=True))


def _states(section: _Map) -> StateSettings:
    section.only("hysteresis_m", "min_hold_s")
    return StateSettings(section.number("hysteresis_m", 0.05), section.number("min_hold_s", 0.5))


_SEPARATION_KEYS = ("reaction_time_s", "stopping_time_s", "robot_speed_m_s", "stopping_distance_m",
                    "intrusion_distance_m", "human_uncertainty_m", "robot_uncertainty_m", "min_human_speed_m_s",
                    "warning_margin_m")


def _profiles(section: _Map) -> dict[str, Thresholds]:
    profiles = {}
    for name in section.keys():
        if not isinstance(name, str):
            section.fail(name, f"a thresholds profile needs a name (a string), got {name!r}")
        profile = section.child(name, required=True)
        mode = profile.text("mode")
        if mode == "fixed":
            profile.only("mode", "stop_distance_m", "warning_distance_m")
            stop = profile.number("stop_distance_m")
            warning = profile.number("warning_distance_m")
            if warning < stop:
                profile.fail("warning_distance_m", f"warning_distance_m ({warning:g}) is below stop_distance_m "
                             f"({stop:g})")
            profiles[name] = FixedThresholds(stop, warning)
        elif mode == "separation":
            profile.only("mode", *_SEPARATION_KEYS)
            profiles[name] = SeparationThresholds(*(profile.number(key) for key in _SEPARATION_KEYS))
        else:
            profile.fail("mode", f"mode must be fixed or separation, got {mode!r}")
    return profiles


def _object(item: _Map, profiles: dict[str, Thresholds]) -> MonitoredObject:
    item.only("name", "frame", "thresholds", *SHAPES)
    name = item.text("name")
    shapes = [key for key in SHAPES if key in item.data]
    if len(shapes) != 1:
        item.fail(None, f"object {name!r} needs exactly one shape of {', '.join(SHAPES)}, got {shapes or 'none'}")
    profile = item.text("thresholds", DEFAULT_PROFILE)
    if profile not in profiles:
        item.fail("thresholds", f"object {name!r}: no thresholds profile {profile!r} (profiles: "
                  f"{', '.join(profiles)})")
    shape = _shape(shapes[0], item.child(shapes[0], required=True))
    return MonitoredObject(name, item.text("frame"), shape, profiles[profile], item.line(None))


def _shape(kind: str, spec: _Map) -> Shape:
    if kind == "capsule":
        spec.only("start", "end", "radius")
        start = spec.vector("start", 3, [0.0, 0.0, 0.0])
        return Capsule(start, spec.vector("end", 3, start.tolist()), spec.number("radius"))
    if kind == "box":
        spec.only("centre", "size")
        return Box(spec.vector("centre", 3, [0.0, 0.0, 0.0]), spec.vector("size", 3, minimum=0.0) / 2)
    z_min, z_max = spec.number("z_min", minimum=None), spec.number("z_max", minimum=None)
    if z_max <= z_min:
        spec.fail("z_max", f"z_max ({z_max:g}) must be above z_min ({z_min:g})")
    if kind == "cylinder":
        spec.only("centre", "radius", "z_min", "z_max")
        return Cylinder(spec.vector("centre", 2, [0.0, 0.0]), spec.number("radius"), z_min, z_max)
    spec.only("points", "z_min", "z_max")
    points = spec.value("points")
    try:
        vertices = np.array(points, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        vertices = np.zeros((0,))
    if vertices.ndim != 2 or vertices.shape[1] != 2 or len(vertices) < 3 or not np.isfinite(vertices).all():
        spec.fail("points", "points must be a list of at least 3 [x, y] pairs (metres)")
    if abs(polygon_area(vertices)) < 1e-9:
        spec.fail("points", "the polygon has no area")
    return ExtrudedPolygon(vertices, z_min, z_max)


def _transform(item: _Map) -> StaticTransform:
    item.only("parent", "child", "translation", "quaternion_xyzw", "rpy_deg")
    translation = item.vector("translation", 3, [0.0, 0.0, 0.0])
    if "quaternion_xyzw" in item.data and "rpy_deg" in item.data:
        item.fail("rpy_deg", "give the rotation either as quaternion_xyzw or as rpy_deg, not both")
    if "rpy_deg" in item.data:
        pose = Pose(Rotation.from_euler("xyz", item.vector("rpy_deg", 3), degrees=True), translation)
    else:
        quaternion = item.vector("quaternion_xyzw", 4, [0.0, 0.0, 0.0, 1.0])
        try:
            pose = Pose.from_quaternion(translation, quaternion)
        except ValueError as err:
            item.fail("quaternion_xyzw", str(err))
    parent, child = item.text("parent"), item.text("child")
    if parent == child:
        item.fail("child", f"a transform from {parent!r} to itself")
    return StaticTransform(parent, child, pose, item.line(None))


# --------------------------------------------------------------------------------------------------
# A YAML mapping that knows where it is
# --------------------------------------------------------------------------------------------------

_REQUIRED = object()


def _is_finite_number(value: Any) -> bool:
    """An int or float that is finite as a float (YAML ints have no size limit: 1e400 as an int is not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return bool(np.isfinite(float(value)))
    except OverflowError:
        return False


class _Map:
    """A mapping of the parsed document, whose errors name the file and the line of the offending key."""

    def __init__(self, data: Any, path: str, line: int | None, what: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise SafetyConfigError(f"{path}:{line or 1}: {what} must be a mapping of keys to values")
        self.data, self.path, self._line, self.what = data, path, line, what

    def line(self, key: str | None) -> int:
        """1-based line of ``key`` (or of the mapping itself)."""
        lc = getattr(self.data, "lc", None)
        if key is not None and lc is not None and key in self.data:
            return lc.key(key)[0] + 1
        if lc is not None and lc.line is not None:
            return lc.line + 1
        return self._line or 1

    def fail(self, key: str | None, message: str):
        raise SafetyConfigError(f"{self.path}:{self.line(key)}: {message}")

    def only(self, *keys: str) -> None:
        for key in self.data:
            if key not in keys:
                self.fail(key, f"{self.what}: unknown key {key!r}; known: {', '.join(keys)}")

    def keys(self) -> list[str]:
        return list(self.data)

    def value(self, key: str, default: Any = _REQUIRED) -> Any:
        if key not in self.data:
            if default is _REQUIRED:
                self.fail(None, f"{self.what}: {key} is missing")
            return default
        return self.data[key]

    def text(self, key: str, default: Any = _REQUIRED) -> Any:
        value = self.value(key, default)
        if value is not default and (not isinstance(value, str) or not value):
            self.fail(key, f"{key} must be a non-empty string, got {value!r}")
        return value

    def number(self, key: str, default: Any = _REQUIRED, *, minimum: float | None = 0.0, maximum: float | None = None,
               positive: bool = False) -> float:
        value = self.value(key, default)
        if not _is_finite_number(value):
            self.fail(key, f"{key} must be a number, got {value!r}")
        if minimum is not None and (value < minimum or (positive and value <= minimum)):
            self.fail(key, f"{key} must be {'above' if positive else 'at least'} {minimum:g}, got {value!r}")
        if maximum is not None and value > maximum:
            self.fail(key, f"{key} must be at most {maximum:g}, got {value!r}")
        return float(value)

    def vector(self, key: str, size: int, default: Any = _REQUIRED, *, minimum: float | None = None) -> np.ndarray:
        value = self.value(key, default)
        if not isinstance(value, list) or len(value) != size or not all(_is_finite_number(v) for v in value):
            self.fail(key, f"{key} must be a list of {size} numbers, got {value!r}")
        if minimum is not None and min(value) < minimum:
            self.fail(key, f"{key} must not be below {minimum:g}, got {value!r}")
        return np.array(value, dtype=np.float64)

    def child(self, key: str, required: bool = False) -> _Map:
        value = self.value(key, _REQUIRED if required else None)
        return _Map(value, self.path, self.line(key), f"{key}")

    def items(self, key: str, required: bool = False) -> list[_Map]:
        value = self.value(key, _REQUIRED if required else [])
        if not isinstance(value, list) or (required and not value):
            self.fail(key, f"{key} must be a non-empty list" if required else f"{key} must be a list")
        lc = getattr(value, "lc", None)
        return [_Map(entry, self.path, lc.item(i)[0] + 1 if lc is not None else self.line(key), f"{key}[{i}]")
                for i, entry in enumerate(value)]
