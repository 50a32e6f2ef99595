"""numpy <-> pose3d_ros_msgs messages, for any library's message classes (rclpy's or rosbags').

The conversions take a :class:`MessageTypes`, the set of classes to build with, so the same code fills rclpy
messages inside the ROS nodes and rosbags messages (generated from this package's own .msg files) in the MCAP
writer and the tests. Only keyword construction is used, which both libraries support.

Unbounded numeric sequences (``float32[]``, ``uint8[]``) are where the libraries differ. rclpy's generated setters
take an ``array.array`` of the right type code as is, but reject a numpy array (it is no ``collections.abc.Sequence``,
so the type assertion fails -- under ``__debug__`` in Humble, under ``check_fields`` in Jazzy) and would iterate
element by element through a list; ``array.array(code, ndarray.tobytes())`` is one memcpy. rosbags' serializer
needs numpy arrays. ``MessageTypes.sequences`` chooses the container; reading accepts both through the buffer
protocol.

Nothing here imports rclpy: ``pose3d_ros.ros.interfaces`` builds the rclpy class set.
"""

from __future__ import annotations

import array
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pose3d_ros.node_logic.temporal_frames import SkeletonFrame
from pose3d_ros.safety import SafetyReport, SafetyState
from pose3d_ros.skeleton import JointStatus, Layout, PlacementSource, get_layout

PACKAGE_MSGS = ("WholeBody2D", "WholeBody2DArray", "Skeleton3D", "Skeleton3DArray", "SafetyState", "SafetyStateArray")
ROSBAGS_DISTROS = ("humble", "jazzy")
_MAX_UINT32 = 2**32 - 1
_INT32_RANGE = (-(2**31), 2**31 - 1)
_STATUS_MAX = max(JointStatus)
_NUMPY_DTYPES = {"float32": np.float32, "float64": np.float64, "int8": np.int8, "uint8": np.uint8,
                 "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32,
                 "int64": np.int64, "uint64": np.uint64, "byte": np.uint8, "char": np.uint8}


@dataclass(frozen=True)
class MessageTypes:
    """The message classes of one library, by the short names this package uses."""

    WholeBody2D: type
    WholeBody2DArray: type
    Skeleton3D: type
    Skeleton3DArray: type
    SafetyState: type
    SafetyStateArray: type
    Header: type
    Time: type
    Duration: type
    Marker: type
    MarkerArray: type
    Point: type
    Pose: type
    Quaternion: type
    Vector3: type
    ColorRGBA: type
    sequences: str = "numpy"
    """Container for unbounded numeric sequences: "numpy" (rosbags) or "array" (rclpy's array.array)."""
    typestore: Any = None
    """rosbags typestore; used to give the fields a conversion does not set their zero value (rosbags
    classes have no defaults, and e.g. Marker has more fields in newer distributions)."""

    def __post_init__(self) -> None:
        if self.sequences not in ("numpy", "array"):
            raise ValueError(f"sequences must be 'numpy' or 'array', not {self.sequences!r}")

    def new(self, cls: type, **fields: Any) -> Any:
        """Build a message of ``cls`` from keyword fields; fields left out get their zero value."""
        if self.typestore is not None and dataclasses.is_dataclass(cls):
            # Only the fields left out get a zero value: a marker's hundreds of Points give every field.
            _, definitions = self.typestore.fielddefs[cls.__msgtype__]
            for name, desc in definitions:
                if name not in fields:
                    fields[name] = _rosbags_zero(self.typestore, desc)
        return cls(**fields)

    def float32_sequence(self, values: np.ndarray) -> Any:
        """A ``float32[]`` field value from any array-like, in one copy."""
        flat = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
        if self.sequences == "array":
            return array.array("f", flat.tobytes())
        return flat

    def uint8_sequence(self, values: np.ndarray) -> Any:
        """A ``uint8[]`` field value from any array-like, in one copy."""
        flat = np.ascontiguousarray(values, dtype=np.uint8).reshape(-1)
        if self.sequences == "array":
            return array.array("B", flat.tobytes())
        return flat


def _rosbags_defaults(typestore: Any, msgtype: str) -> dict[str, Any]:
    """Zero values of every field of a rosbags message type (recursively for nested messages)."""
    _, fields = typestore.fielddefs[msgtype]
    return {name: _rosbags_zero(typestore, desc) for name, desc in fields}


def _rosbags_zero(typestore: Any, desc: tuple) -> Any:
    kind, detail = desc
    kind = int(kind)  # rosbags' Nodetype: BASE 1, NAME 2, ARRAY 3, SEQUENCE 4
    if kind == 1:
        typename = detail[0]
        if typename == "string":
            return ""
        if typename == "bool":
            return False
        return 0.0 if typename.startswith("float") else 0
    if kind == 2:
        cls = typestore.types[detail]
        return cls(**_rosbags_defaults(typestore, detail))
    element, length = detail
    if int(element[0]) == 1 and element[1][0] in _NUMPY_DTYPES:
        return np.zeros(length if kind == 3 else 0, dtype=_NUMPY_DTYPES[element[1][0]])
    return [_rosbags_zero(typestore, element) for _ in range(length if kind == 3 else 0)]


def msg_definitions() -> dict[str, str]:
    """The text of this project's .msg files, by type name ("pose3d_ros_msgs/msg/WholeBody2D").

    They ship inside the Python package (``pose3d_ros/msg`` links to ``pose3d_ros_msgs/msg``, the one source),
    so that they are there on a pip install without ROS.
    """
    # Next to this file rather than importlib.resources.files("pose3d_ros"): run from the repository root, the
    # outer pose3d_ros/ folder shadows the package as a namespace package and files() would look there.
    folder = Path(__file__).resolve().parent / "msg"
    return {f"pose3d_ros_msgs/msg/{name}": (folder / f"{name}.msg").read_text(encoding="utf-8")
            for name in PACKAGE_MSGS}


def load_typestore(distro: str = "jazzy") -> Any:
    """A rosbags typestore with the ROS 2 standard types of ``distro`` plus this project's messages."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    if distro not in ROSBAGS_DISTROS:
        raise ValueError(f"unknown ROS 2 distribution {distro!r}; choose one of {', '.join(ROSBAGS_DISTROS)}")
    typestore = get_typestore(Stores.ROS2_HUMBLE if distro == "humble" else Stores.ROS2_JAZZY)
    types: dict = {}
    for name, text in msg_definitions().items():
        types.update(get_types_from_msg(text, name))
    typestore.register(types)
    return typestore


def load_message_types(distro: str = "jazzy") -> MessageTypes:
    """The rosbags classes for this project's messages and the standard ones the conversions use (no ROS needed).

    ``types.typestore`` serializes them: ``types.typestore.serialize_cdr(msg, msg.__msgtype__)``.
    """
    typestore = load_typestore(distro)
    names = {
        "WholeBody2D": "pose3d_ros_msgs/msg/WholeBody2D",
        "WholeBody2DArray": "pose3d_ros_msgs/msg/WholeBody2DArray",
        "Skeleton3D": "pose3d_ros_msgs/msg/Skeleton3D",
        "Skeleton3DArray": "pose3d_ros_msgs/msg/Skeleton3DArray",
        "SafetyState": "pose3d_ros_msgs/msg/SafetyState",
        "SafetyStateArray": "pose3d_ros_msgs/msg/SafetyStateArray",
        "Header": "std_msgs/msg/Header",
        "Time": "builtin_interfaces/msg/Time",
        "Duration": "builtin_interfaces/msg/Duration",
        "Marker": "visualization_msgs/msg/Marker",
        "MarkerArray": "visualization_msgs/msg/MarkerArray",
        "Point": "geometry_msgs/msg/Point",
        "Pose": "geometry_msgs/msg/Pose",
        "Quaternion": "geometry_msgs/msg/Quaternion",
        "Vector3": "geometry_msgs/msg/Vector3",
        "ColorRGBA": "std_msgs/msg/ColorRGBA",
    }
    return MessageTypes(**{key: typestore.types[name] for key, name in names.items()},
                        sequences="numpy", typestore=typestore)


# --------------------------------------------------------------------------------------------------
# Header and time
# --------------------------------------------------------------------------------------------------


def make_header(types: MessageTypes, stamp_ns: int, frame_id: str) -> Any:
    """A std_msgs/Header from an integer time in nanoseconds (integers keep the stamp exact)."""
    return types.new(types.Header, stamp=make_time(types, stamp_ns), frame_id=frame_id)


def make_time(types: MessageTypes, stamp_ns: int) -> Any:
    """A builtin_interfaces/Time from integer nanoseconds; ValueError outside the int32 seconds the message holds
    (rather than a failure in the serializer or an rclpy assertion later).
    """
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    if not _INT32_RANGE[0] <= sec <= _INT32_RANGE[1]:
        raise ValueError(f"stamp {stamp_ns} ns does not fit builtin_interfaces/Time (int32 seconds)")
    return types.new(types.Time, sec=sec, nanosec=nanosec)


def stamp_ns(header: Any) -> int:
    """The header's stamp in integer nanoseconds."""
    return time_ns(header.stamp)


def time_ns(time: Any) -> int:
    """A builtin_interfaces/Time in integer nanoseconds."""
    return int(time.sec) * 1_000_000_000 + int(time.nanosec)


def make_duration(types: MessageTypes, seconds: float) -> Any:
    sec, nanosec = divmod(round(seconds * 1e9), 1_000_000_000)
    return types.new(types.Duration, sec=int(sec), nanosec=int(nanosec))


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


def _layout_of(layout: str | Layout) -> Layout:
    return layout if isinstance(layout, Layout) else get_layout(layout)


def _people_of(name: str, values: Any, skeleton: Layout, channels: int) -> int:
    """P of a (P, J, C) array, with an error that names the layout when J or C is wrong."""
    shape = np.shape(values)
    if len(shape) != 3 or shape[1:] != (skeleton.num_joints, channels):
        raise ValueError(f"{name} has shape {shape}, expected (P, {skeleton.num_joints}, {channels}) for layout "
                         f"{skeleton.name}")
    return shape[0]


def _person_ids(person_ids: Any, people: int) -> np.ndarray:
    ids = np.asarray(person_ids).reshape(-1)
    if ids.shape != (people,):
        raise ValueError(f"person_ids has {ids.size} entries for {people} people")
    if people and (not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() > _MAX_UINT32):
        raise ValueError(f"person_ids must be integers in [0, 2**32), got {ids.tolist()}")
    if len(set(ids.tolist())) != people:
        raise ValueError(f"person_ids must be unique within one frame, got {ids.tolist()}")
    return ids.astype(np.int64)


def _check_array(name: str, values: Any, shape: tuple[int, ...], *, finite: bool = True) -> np.ndarray:
    """``values`` as an array of ``shape``; with ``finite``, also finite once stored as float32 (a float64 beyond
    float32's range would become an infinity in the message, which its reader then refuses).
    """
    values = np.asarray(values)
    if values.shape != shape:
        raise ValueError(f"{name} has shape {values.shape}, expected {shape}")
    if finite and values.size and not np.isfinite(_as_float32(values)).all():
        raise ValueError(f"{name} contains NaN, infinite or beyond-float32 values (the message contract forbids them)")
    return values


def _as_float32(values: np.ndarray) -> np.ndarray:
    """The float32 values a message would carry (beyond float32's range: infinite, without an overflow warning)."""
    with np.errstate(over="ignore"):
        return values.astype(np.float32)


def _check_error(error: np.ndarray, what: str) -> None:
    """Skeleton3D.error: metres >= 0, or NaN where there is no prediction (a person filled in by the temporal
    stage); never infinite.
    """
    known = error[~np.isnan(error)]
    if known.size and (not np.isfinite(known).all() or known.min() < 0.0):
        raise ValueError(f"{what} must hold errors >= 0 in metres or NaN (no prediction), got "
                         f"[{known.min():g}, {known.max():g}]")


def _check_confidence(confidence: np.ndarray, what: str = "confidence") -> None:
    if confidence.size and (confidence.min() < 0.0 or confidence.max() > 1.0):
        raise ValueError(f"{what} must lie in [0, 1], got [{confidence.min():g}, {confidence.max():g}]")


def _check_status(status: np.ndarray) -> None:
    if status.size and (not np.issubdtype(status.dtype, np.integer) or status.min() < 0
                        or status.max() > _STATUS_MAX):
        raise ValueError(f"status must hold JointStatus values 0..{int(_STATUS_MAX)}")


def _check_read_ids(ids: np.ndarray, what: str) -> None:
    """The reader's side of :func:`_person_ids`: people of one message are told apart by their ids."""
    if len(set(ids.tolist())) != len(ids):
        raise ValueError(f"{what} has duplicate person ids {ids.tolist()}")


def _message_layout(items: list, expected: str | None, what: str) -> Layout | None:
    """The one layout of all people of a message, checked against what the consumer expects."""
    names = {item.layout for item in items}
    if len(names) > 1:
        raise ValueError(f"{what} mixes skeleton layouts {sorted(names, key=str)}; one message must use one layout")
    name = names.pop() if names else expected
    if expected is not None and name != expected:
        raise ValueError(f"{what} carries layout {name!r} but this consumer needs {expected!r}")
    return None if name is None else get_layout(name)


def _read(field: Any, dtype: type, count: int, what: str, *, finite: bool = True) -> np.ndarray:
    """A flat numeric field (array.array, numpy or list) as numpy, checked for length (and finiteness)."""
    try:
        with np.errstate(over="ignore"):
            values = np.asarray(field, dtype=dtype).reshape(-1)
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"{what} is not a sequence of numbers: {err}") from err
    if values.size != count:
        raise ValueError(f"{what} has {values.size} values, expected {count}")
    if finite and values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return values


# --------------------------------------------------------------------------------------------------
# WholeBody2DArray
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keypoints2DFrame:
    """The content of one WholeBody2DArray as arrays (contract 1 of the pipeline)."""

    layout: str | None
    kp2d: np.ndarray
    """(P, J, 2) float32 pixels."""
    conf: np.ndarray
    """(P, J) float32 in [0, 1]."""
    person_ids: np.ndarray
    """(P,) int64."""
    image_size: tuple[int, int]
    """(width, height) in pixels; (0, 0) when the message has no people."""


def wholebody2d_array(types: MessageTypes, header: Any, kp2d: np.ndarray, conf: np.ndarray, person_ids: Any,
                      image_size: tuple[int, int], layout: str | Layout = "wholebody133") -> Any:
    """A WholeBody2DArray from (P, J, 2) pixels and (P, J) confidences; ``header`` is the image's header."""
    skeleton = _layout_of(layout)
    people = _people_of("kp2d", kp2d, skeleton, 2)
    kp2d = _check_array("kp2d", kp2d, (people, skeleton.num_joints, 2))
    conf = _check_array("conf", conf, (people, skeleton.num_joints))
    _check_confidence(conf)
    ids = _person_ids(person_ids, people)
    try:
        width, height = (int(v) for v in image_size)
    except (TypeError, ValueError, OverflowError):
        width = height = 0
    if not (0 < width <= _MAX_UINT32 and 0 < height <= _MAX_UINT32):
        raise ValueError(f"image_size must be two positive integers (width, height), got {image_size}")
    people_msgs = [
        types.new(types.WholeBody2D, layout=skeleton.name, num_joints=skeleton.num_joints, person_id=int(ids[p]),
                  keypoints=types.float32_sequence(kp2d[p]), confidence=types.float32_sequence(conf[p]),
                  image_width=width, image_height=height)
        for p in range(people)
    ]
    return types.new(types.WholeBody2DArray, header=header, people=people_msgs)


def wholebody2d_to_numpy(msg: Any, layout: str | None = "wholebody133") -> Keypoints2DFrame:
    """Arrays from a WholeBody2DArray; ``layout`` is what the consumer needs (None accepts any one layout)."""
    people = list(msg.people)
    skeleton = _message_layout(people, layout, "WholeBody2DArray")
    joints = 0 if skeleton is None else skeleton.num_joints
    kp2d = np.zeros((len(people), joints, 2), dtype=np.float32)
    conf = np.zeros((len(people), joints), dtype=np.float32)
    sizes = set()
    for p, person in enumerate(people):
        what = f"WholeBody2D of person {person.person_id}"
        if person.num_joints != joints:
            raise ValueError(f"{what}: num_joints {person.num_joints} does not match layout "
                             f"{skeleton.name} ({joints} joints)")
        kp2d[p] = _read(person.keypoints, np.float32, joints * 2, f"{what}: keypoints").reshape(joints, 2)
        conf[p] = _read(person.confidence, np.float32, joints, f"{what}: confidence")
        _check_confidence(conf[p], f"{what}: confidence")
        size = (int(person.image_width), int(person.image_height))
        if min(size) <= 0:
            raise ValueError(f"{what}: image size {size[0]}x{size[1]} is not a picture's size")
        sizes.add(size)
    if len(sizes) > 1:
        raise ValueError(f"WholeBody2DArray mixes image sizes {sorted(sizes)}")
    ids = np.array([int(person.person_id) for person in people], dtype=np.int64)
    _check_read_ids(ids, "WholeBody2DArray")
    return Keypoints2DFrame(layout=None if skeleton is None else skeleton.name, kp2d=kp2d, conf=conf,
                            person_ids=ids, image_size=sizes.pop() if sizes else (0, 0))


# --------------------------------------------------------------------------------------------------
# Skeleton3DArray
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skeletons3DFrame:
    """The content of one Skeleton3DArray as arrays."""

    layout: str | None
    positions: np.ndarray
    """(P, J, 3) float32 metres in the header's frame."""
    confidence: np.ndarray
    """(P, J) float32."""
    error: np.ndarray
    """(P, J) float32 metres."""
    status: np.ndarray
    """(P, J) uint8, values of :class:`pose3d_ros.skeleton.JointStatus`."""
    person_ids: np.ndarray
    """(P,) int64."""
    placement: np.ndarray
    """(P,) uint8, values of :class:`pose3d_ros.skeleton.PlacementSource` (UNKNOWN in recordings made before the
    field)."""



def skeleton3d_array(types: MessageTypes, header: Any, positions: np.ndarray, confidence: np.ndarray,
                     error: np.ndarray, status: np.ndarray, person_ids: Any,
                     layout: str | Layout = "wholebody133", placement: Any = None) -> Any:
    """A Skeleton3DArray from (P, J, 3) metres and per-joint (P, J) confidence, error and status; ``placement``
    (P,) :class:`~pose3d_ros.skeleton.PlacementSource` values (None: UNKNOWN).
    """
    skeleton = _layout_of(layout)
    people = _people_of("positions", positions, skeleton, 3)
    joints = skeleton.num_joints
    positions = _check_array("positions", positions, (people, joints, 3))
    confidence = _check_array("confidence", confidence, (people, joints))
    _check_confidence(confidence)
    error = _check_array("error", error, (people, joints), finite=False)
    _check_error(_as_float32(error), "error")
    status = _check_array("status", status, (people, joints))
    _check_status(status)
    ids = _person_ids(person_ids, people)
    placement = np.zeros(people, np.uint8) if placement is None else _check_array("placement", placement, (people,))
    if placement.size and (placement.min() < 0 or placement.max() > max(PlacementSource)):
        raise ValueError(f"placement must hold PlacementSource values 0..{int(max(PlacementSource))}")
    skeletons = [
        types.new(types.Skeleton3D, layout=skeleton.name, num_joints=joints, person_id=int(ids[p]),
                  position=types.float32_sequence(positions[p]), confidence=types.float32_sequence(confidence[p]),
                  error=types.float32_sequence(error[p]), status=types.uint8_sequence(status[p]),
                  placement=int(placement[p]))
        for p in range(people)
    ]
    return types.new(types.Skeleton3DArray, header=header, skeletons=skeletons)


def skeleton3d_to_numpy(msg: Any, layout: str | None = "wholebody133") -> Skeletons3DFrame:
    """Arrays from a Skeleton3DArray; ``layout`` is what the consumer needs (None accepts any one layout)."""
    skeletons = list(msg.skeletons)
    skeleton = _message_layout(skeletons, layout, "Skeleton3DArray")
    joints = 0 if skeleton is None else skeleton.num_joints
    people = len(skeletons)
    positions = np.zeros((people, joints, 3), dtype=np.float32)
    confidence = np.zeros((people, joints), dtype=np.float32)
    error = np.zeros((people, joints), dtype=np.float32)
    status = np.zeros((people, joints), dtype=np.uint8)
    for p, person in enumerate(skeletons):
        what = f"Skeleton3D of person {person.person_id}"
        if person.num_joints != joints:
            raise ValueError(f"{what}: num_joints {person.num_joints} does not match layout "
                             f"{skeleton.name} ({joints} joints)")
        positions[p] = _read(person.position, np.float32, joints * 3, f"{what}: position").reshape(joints, 3)
        confidence[p] = _read(person.confidence, np.float32, joints, f"{what}: confidence")
        _check_confidence(confidence[p], f"{what}: confidence")
        error[p] = _read(person.error, np.float32, joints, f"{what}: error", finite=False)
        _check_error(error[p], f"{what}: error")
        # read wide, checked, then narrowed: a cast to uint8 would wrap or garble what is out of range
        status_values = _read(person.status, np.float64, joints, f"{what}: status")
        if not np.array_equal(status_values, np.clip(np.round(status_values), 0, _STATUS_MAX)):
            raise ValueError(f"{what}: status must hold JointStatus values 0..{int(_STATUS_MAX)}")
        status[p] = status_values.astype(np.uint8)
    ids = np.array([int(person.person_id) for person in skeletons], dtype=np.int64)
    _check_read_ids(ids, "Skeleton3DArray")
    placement = np.array([int(getattr(person, "placement", PlacementSource.UNKNOWN)) for person in skeletons],
                         dtype=np.uint8)
    return Skeletons3DFrame(layout=None if skeleton is None else skeleton.name, positions=positions,
                            confidence=confidence, error=error, status=status, person_ids=ids, placement=placement)


def skeleton3d_to_frame(msg: Any, layout: str = "wholebody133") -> SkeletonFrame:
    """The :class:`~pose3d_ros.node_logic.SkeletonFrame` of a Skeleton3DArray (what the safety monitor takes): its
    stamp, frame and arrays, shaped (0, J, ...) when nobody is in it.
    """
    frame = skeleton3d_to_numpy(msg, layout)
    people, joints = len(frame.person_ids), get_layout(layout).num_joints
    return SkeletonFrame(stamp_ns(msg.header), msg.header.frame_id, frame.person_ids,
                         frame.positions.reshape(people, joints, 3), frame.confidence.reshape(people, joints),
                         frame.error.reshape(people, joints), frame.status.reshape(people, joints))


# --------------------------------------------------------------------------------------------------
# SafetyStateArray
# --------------------------------------------------------------------------------------------------


def safety_state_array(types: MessageTypes, header: Any, report: SafetyReport) -> Any:
    """A SafetyStateArray of a :class:`pose3d_ros.safety.SafetyReport`; ``header``: the time of evaluation
    (``report.stamp_ns``) and the frame of the points (``report.frame_id``).
    """
    objects = [
        types.new(types.SafetyState, name=name, state=int(report.state[o]), unknown_causes=int(report.causes[o]),
                  image_stamp=make_time(types, report.image_stamp_ns), distance=float(report.distance[o]),
                  inflated_distance=float(report.inflated_distance[o]), stop_distance=float(report.stop_distance[o]),
                  warning_distance=float(report.warning_distance[o]), approach_speed=float(report.approach_speed[o]),
                  person_id=int(report.person_id[o]), joint=int(report.joint[o]),
                  joint_point=np.asarray(report.joint_point[o], dtype=np.float32),
                  object_point=np.asarray(report.object_point[o], dtype=np.float32))
        for o, name in enumerate(report.names)
    ]
    return types.new(types.SafetyStateArray, header=header, worst_state=int(report.worst), objects=objects)


def safety_state_to_numpy(msg: Any) -> SafetyReport:
    """A :class:`pose3d_ros.safety.SafetyReport` of a SafetyStateArray (without the per-person detail, which the
    message does not carry).
    """
    objects = list(msg.objects)
    stamps = {time_ns(state.image_stamp) for state in objects}
    if len(stamps) > 1:
        raise ValueError(f"SafetyStateArray mixes image stamps {sorted(stamps)}; one message rests on one image")
    if any(state.state > SafetyState.UNKNOWN for state in objects):
        raise ValueError("SafetyStateArray holds a state outside SafetyState.STATE_*")

    def column(field: str, dtype: type) -> np.ndarray:
        return np.array([getattr(state, field) for state in objects], dtype=dtype)

    def points(field: str) -> np.ndarray:
        return np.array([np.asarray(getattr(state, field), dtype=np.float64) for state in objects]).reshape(-1, 3)

    count = len(objects)
    return SafetyReport(
        stamp_ns=stamp_ns(msg.header), image_stamp_ns=stamps.pop() if stamps else 0, frame_id=msg.header.frame_id,
        names=tuple(state.name for state in objects), state=column("state", np.uint8),
        causes=column("unknown_causes", np.uint16), distance=column("distance", np.float64),
        inflated_distance=column("inflated_distance", np.float64), stop_distance=column("stop_distance", np.float64),
        warning_distance=column("warning_distance", np.float64),
        approach_speed=column("approach_speed", np.float64), person_id=column("person_id", np.int64),
        joint=column("joint", np.int64), joint_point=points("joint_point"), object_point=points("object_point"),
        person_ids=np.zeros(0, np.int64), person_distance=np.zeros((count, 0)),
        person_joint=np.zeros((count, 0), np.int64), person_speed=np.zeros((count, 0)))
