"""What the ROS nodes decide, without ROS: parameters, QoS settings, statistics for diagnostics, frame hand-off
between threads, camera intrinsics from CameraInfo, the REP-155 body frame, and grouping of temporal outputs.

``pose3d_ros.ros`` only turns messages into arrays, calls these and the models, and publishes.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pose3d_ros.skeleton import Layout

# --------------------------------------------------------------------------------------------------
# Parameters: the one list of every node parameter, with defaults and meanings.
# config/pipeline.yaml and the table in docs/ros.md are checked against it by the tests.
# --------------------------------------------------------------------------------------------------


UNKNOWN = float("nan")
"""The value of a number parameter that is not known (camera_pitch_deg)."""


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Any
    description: str
    choices: tuple = ()

    @property
    def type_name(self) -> str:
        return {bool: "bool", int: "int", float: "double", str: "string"}[type(self.default)]


_AUTOSTART = Parameter("autostart", False, "Configure and activate by itself at start-up (for ros2 run; the launch "
                       "files drive the lifecycle and leave this false)")
_QOS_PARAMETERS = (
    Parameter("qos.reliability", "best_effort", "Reliability of the input subscriptions: best_effort (sensor "
              "data; also matches reliable publishers) or reliable (matches only reliable publishers)",
              ("best_effort", "reliable")),
    Parameter("qos.depth", 1, "Queue depth of the subscriptions; the node always processes the newest frame and "
              "counts the ones it skips, so 1-2 keeps latency lowest"),
)
_DIAGNOSTIC_PARAMETERS = (
    Parameter("diagnostics.window_s", 5.0, "Window over which rates, latency and drops are reported"),
    Parameter("diagnostics.max_latency_s", 0.5, "Mean processing latency above which diagnostics warn"),
    Parameter("diagnostics.max_drop_ratio", 0.5, "Fraction of skipped input frames above which diagnostics warn"),
    Parameter("diagnostics.stale_s", 2.0, "Diagnostics warn when no input arrived for this long while active"),
)
_MARKER_PARAMETERS = (
    Parameter("markers.enabled", True, "Publish RViz markers of the skeletons on ~/markers"),
    Parameter("markers.lifetime_s", 0.5, "Lifetime of each marker, so that people who are no longer "
              "published vanish (0 = forever)"),
    Parameter("markers.bone_width", 0.012, "Width of the bone lines, metres"),
    Parameter("markers.joint_diameter", 0.03, "Diameter of the joint spheres, metres"),
    Parameter("markers.min_alpha", 0.25, "Alpha of a joint with confidence 0 (alpha grows to 1 with confidence)"),
)
_HRI_PARAMETERS = (
    Parameter("hri.enabled", False, "Publish REP-155 (ROS4HRI) output: body ids on /humans/bodies/tracked "
              "(hri_msgs/IdsList) and a TF frame body_<id> at each pelvis"),
    Parameter("hri.tracked_topic", "/humans/bodies/tracked", "Topic of the tracked body ids"),
)

PARAMETERS: dict[str, tuple[Parameter, ...]] = {
    "keypoints2d_node": (
        _AUTOSTART,
        Parameter("backend", "movenet", "2D backend: movenet (several people: MoveNet MultiPose + MediaPipe's face, "
                  "hand and pose landmark models, all from PyPI packages), holistic (one person, MediaPipe "
                  "Holistic) or tasks (several people, needs MediaPipe .task model files)",
                  ("movenet", "holistic", "tasks")),
        Parameter("max_people", 6, "Most people per image (movenet: 1-6, MoveNet's limit; tasks)"),
        Parameter("movenet.min_person_score", 0.15, "MoveNet's person score below which a detection is dropped"),
        Parameter("movenet.parts_per_frame", 4, "People whose face and hands are found afresh per frame, the "
                  "longest-waiting first; the others keep theirs, moved with the body and fading over "
                  "movenet.part_max_age_s (bounds the stage's time with many people)"),
        Parameter("movenet.feet_per_frame", 0.5, "People whose feet (MediaPipe pose landmarks, as costly as MoveNet) "
                  "are found afresh per frame, e.g. 0.5: one person every other frame; 0 = no feet"),
        Parameter("movenet.part_max_age_s", 0.5, "How long a face, hand or feet found earlier is carried, with a "
                  "confidence falling to 0"),
        Parameter("movenet.min_part_presence", 0.5, "Presence probability below which the landmark models' face, "
                  "hand or feet is not used"),
        Parameter("movenet.input_size", 256, "MoveNet's input, longer side in pixels (a multiple of 32; larger "
                  "finds smaller people, slower)"),
        Parameter("movenet.num_threads", 2, "LiteRT threads for MoveNet (the landmark models use one)"),
        Parameter("model_dir", "", "Folder of the MediaPipe .task models (tasks backend only)"),
        Parameter("model_complexity", 1, "MediaPipe Holistic pose model complexity: 0, 1 or 2 (holistic only)"),
        Parameter("min_detection_confidence", 0.5, "MediaPipe minimum detection confidence (holistic, tasks)"),
        Parameter("min_tracking_confidence", 0.5, "MediaPipe minimum tracking confidence (holistic, tasks)"),
        Parameter("use_camera_info", True, "Pair each image with its CameraInfo (ApproximateTimeSynchronizer) "
                  "and check that their sizes agree"),
        Parameter("camera_info_timeout_s", 2.0, "Without CameraInfo for this long, warn once and process "
                  "images alone"),
        Parameter("sync_slop_s", 0.05, "Largest stamp difference between an image and its CameraInfo"),
        Parameter("publish_debug_image", False, "Publish the image with the keypoints drawn on ~/debug_image"),
        Parameter("debug_min_confidence", 0.3, "Keypoints below this confidence are not drawn on the debug image"),
        *_QOS_PARAMETERS, *_DIAGNOSTIC_PARAMETERS,
    ),
    "lifter_node": (
        _AUTOSTART,
        Parameter("weights", "", "Lifter weights (.safetensors with its .json); empty = the shipped "
                  "wholebody133 SemGAN"),
        Parameter("device", "auto", "auto (CUDA when available), cuda, cuda:N or cpu; CUDA falls back to the CPU "
                  "with a warning"),
        Parameter("cpu_threads", 1, "Torch CPU threads of this process; 1 keeps a one-person step fastest and "
                  "steadiest next to MediaPipe and other nodes (more only helps large batches of people)"),
        Parameter("flip_test", True, "Average each pose with its mirrored prediction (more accurate, 2x compute)"),
        Parameter("perspective_correction", True, "Lift each person in a virtual camera turned to look straight at "
                  "them, then rotate the result back (people off the image centre or below a pitched camera come "
                  "out upright)"),
        Parameter("conf_threshold", 0.3, "2D confidence above which a joint is reported OBSERVED, else INFERRED"),
        Parameter("gravity_frame", "", "A z-up, gravity-aligned TF frame (base_link, map, world): the camera's "
                  "attitude is looked up from it at each frame's stamp and the lifter gets the up direction (lifters "
                  "trained with the gravity input lift people upright); a failed or stale lookup lifts without it "
                  "(logged once, counted in diagnostics). Empty = camera_pitch_deg / camera_roll_deg"),
        Parameter("camera_pitch_deg", UNKNOWN, "Without gravity_frame: the camera's downward pitch, degrees (0 = "
                  "level); NaN = attitude unknown"),
        Parameter("camera_roll_deg", 0.0, "Without gravity_frame: the camera's roll about its optical axis, degrees "
                  "(positive: its right side down), used when camera_pitch_deg is given"),
        Parameter("camera_info_timeout_s", 2.0, "Without CameraInfo for this long, warn once and use the default "
                  "intrinsics of pose3d_ros.camera"),
        Parameter("undistort", True, "Undistort the 2D keypoints with CameraInfo's distortion (plumb_bob, "
                  "rational_polynomial, equidistant) before lifting"),
        Parameter("camera_frame", "", "frame_id of the output; empty = the input's (the camera optical frame)"),
        *_QOS_PARAMETERS, *_DIAGNOSTIC_PARAMETERS, *_MARKER_PARAMETERS, *_HRI_PARAMETERS,
    ),
    "temporal_node": (
        _AUTOSTART,
        Parameter("weights", "", "Temporal model weights; empty = the shipped 3D-UGCN"),
        Parameter("device", "auto", "auto, cuda, cuda:N or cpu; CUDA falls back to the CPU with a warning"),
        Parameter("cpu_threads", 1, "Torch CPU threads of this process; 1 keeps a one-person step fastest and "
                  "steadiest next to MediaPipe and other nodes (more only helps large batches of people)"),
        Parameter("window", 0, "Frames in the refiner's window; 0 = the window the model was trained with"),
        Parameter("lookahead", 4, "Future frames the refiner waits for before it outputs a frame (output delay = "
                  "lookahead frames; 0 = causal)"),
        Parameter("max_gap", 10, "Longest run of missing frames of a person that is still filled in; longer gaps "
                  "are reported MISSING"),
        *_QOS_PARAMETERS, *_DIAGNOSTIC_PARAMETERS, *_MARKER_PARAMETERS, *_HRI_PARAMETERS,
    ),
    "video_source_node": (
        _AUTOSTART,
        Parameter("source", "", "Video file path, or a webcam index such as 0"),
        Parameter("fps", 0.0, "Publishing rate; 0 = the video's own frame rate (30 for webcams that report none)"),
        Parameter("loop", False, "Start the video again at its end (otherwise the node stops publishing)"),
        Parameter("frame_id", "camera_optical_frame", "frame_id of the Image and CameraInfo headers"),
        Parameter("horizontal_fov_deg", 0.0, "Horizontal field of view for CameraInfo; 0 = the default "
                  "intrinsics of pose3d_ros.camera"),
        Parameter("qos.reliability", "reliable", "Reliability of the Image/CameraInfo publishers (reliable "
                  "publishers match both kinds of subscriber)", ("best_effort", "reliable")),
        Parameter("qos.depth", 1, "Queue depth of the publishers"),
    ),
}


def parameter_defaults(node: str) -> dict[str, Any]:
    """Every parameter of ``node`` with its default value."""
    if node not in PARAMETERS:
        raise ValueError(f"unknown node {node!r}; nodes: {', '.join(PARAMETERS)}")
    return {p.name: p.default for p in PARAMETERS[node]}


def check_parameter(node: str, name: str, value: Any) -> Any:
    """The value if it fits the parameter's type and choices, else a ValueError that says what fits."""
    spec = {p.name: p for p in PARAMETERS[node]}[name]
    kind = type(spec.default)
    if kind is float and type(value) is int:
        value = float(value)
    if type(value) is not kind:
        raise ValueError(f"{node}: parameter {name} must be a {spec.type_name}, got {value!r}")
    if spec.choices and value not in spec.choices:
        raise ValueError(f"{node}: parameter {name} must be one of {', '.join(spec.choices)}, got {value!r}")
    if kind is float and value != value:
        return UNKNOWN  # one NaN object, so that settings holding NaN compare equal
    return value


# --------------------------------------------------------------------------------------------------
# Launch files: their arguments and what each node receives (the launch files only build actions from these)
# --------------------------------------------------------------------------------------------------

TRUE_WORDS = ("true", "1", "yes", "on")

# name -> (default, description); "<share>" in a default is the package's share directory.
LAUNCH_ARGUMENTS: dict[str, tuple[str, str]] = {
    "image_topic": ("/camera/image_raw", "sensor_msgs/Image input (published there when source is set)"),
    "camera_info_topic": ("/camera/camera_info", "sensor_msgs/CameraInfo input (likewise)"),
    "source": ("", "Video file or webcam index: starts video_source_node on the two topics above"),
    "loop": ("", "Play the video file again at its end (true/false); empty = params_file's"),
    "device": ("", "Device of the lifter and temporal models (auto, cuda, cuda:N, cpu); empty = params_file's"),
    "use_temporal": ("true", "Run temporal_node (3D-UGCN refinement) after the lifter"),
    "hri": ("", "REP-155 output (true/false) from the last stage of the graph only; empty = enabled when "
                "params_file enables it on lifter_node or temporal_node"),
    "rviz": ("false", "Start RViz with config/pose3d.rviz"),
    "params_file": ("<share>/config/pipeline.yaml", "YAML file with the nodes' parameters"),
    "namespace": ("", "Namespace of every node and of its relative topics"),
}
# The arguments of each launch file, in order (pipeline.launch.py includes the other two).
LAUNCH_FILES: dict[str, tuple[str, ...]] = {
    "video_source.launch.py": ("image_topic", "camera_info_topic", "source", "loop", "params_file", "namespace"),
    "skeletons.launch.py": ("image_topic", "camera_info_topic", "device", "use_temporal", "hri", "params_file",
                            "namespace"),
    "pipeline.launch.py": tuple(LAUNCH_ARGUMENTS),
}


def is_true(word: str) -> bool:
    """A launch argument read as a boolean."""
    return word.strip().lower() in TRUE_WORDS


def flatten_parameters(parameters: dict, prefix: str = "") -> dict[str, Any]:
    """Nested YAML maps as dotted ROS parameter names ({"qos": {"depth": 1}} -> {"qos.depth": 1})."""
    flat: dict[str, Any] = {}
    for key, value in parameters.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_parameters(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def file_sections(document: dict, node: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parameters a parsed ROS 2 parameters file gives ``node``, with dotted names: (those of the ``/**``
    section, meant for every node; those of the node's own sections, ``node``, ``/node`` and ``/**/node``).
    """
    found = []
    for keys in (("/**",), (node, f"/{node}", f"/**/{node}")):
        parameters: dict[str, Any] = {}
        for key in keys:
            section = document.get(key) or {}
            values = section.get("ros__parameters") or {} if isinstance(section, dict) else None
            if not isinstance(values, dict):
                raise ValueError(f"parameters file: {key} must hold a ros__parameters mapping")
            parameters.update(flatten_parameters(values))
        found.append(parameters)
    return found[0], found[1]


def file_parameters(document: dict, node: str) -> dict[str, Any]:
    """Everything a parameters file gives ``node``: the ``/**`` section overridden by the node's own, as ROS
    applies them (a node ignores names it does not declare).
    """
    common, own = file_sections(document, node)
    return {**common, **own}


def resolve_topic(topic: str, namespace: str) -> str:
    """The absolute name of ``topic`` for a node in ``namespace`` (absolute topics stay as they are)."""
    if topic.startswith("/"):
        return topic
    return "/" + "/".join(part for part in (namespace.strip("/"), topic) if part)


def rviz_config(document: dict, namespace: str, image_topic: str, use_temporal: bool = True) -> dict:
    """config/pose3d.rviz (parsed) for one launch: the displays of the pipeline's own topics (``/<node>/...``) moved
    under ``namespace`` (RViz needs absolute topics, and a namespaced launch must not show another robot's
    skeletons), the camera display on ``image_topic``, and the skeleton display of the last stage enabled: the
    refined one, or the lifter's without the temporal stage. Returns a new document.
    """
    document = copy.deepcopy(document)
    for display in document["Visualization Manager"]["Displays"]:
        topic = display.get("Topic")
        if not isinstance(topic, dict) or "Value" not in topic:
            continue
        node = topic["Value"].split("/")[1]
        if display.get("Name") == "Camera":
            topic["Value"] = resolve_topic(image_topic, namespace)
        elif node in PARAMETERS:
            topic["Value"] = resolve_topic(topic["Value"].lstrip("/"), namespace)
        if topic["Value"].endswith("/markers"):
            display["Enabled"] = display["Value"] = node == hri_owner(use_temporal)
    return document


def hri_owner(use_temporal: bool) -> str:
    """The one node that publishes REP-155 output: the last stage of the graph (two owners would publish every
    body twice, with different poses).
    """
    return "temporal_node" if use_temporal else "lifter_node"


def launch_parameters(document: dict, node: str, arguments: dict[str, str]) -> dict[str, Any]:
    """What a launch file hands ``node``: its section of the params file, overridden by the non-empty launch
    arguments that concern it (source, loop, device, hri), with REP-155 enabled on :func:`hri_owner` only.
    """
    if node not in PARAMETERS:
        raise ValueError(f"unknown node {node!r}; nodes: {', '.join(PARAMETERS)}")
    parameters = file_parameters(document, node)
    overrides = {"video_source_node": {"source": arguments.get("source", ""), "loop": arguments.get("loop", "")},
                 "lifter_node": {"device": arguments.get("device", "")},
                 "temporal_node": {"device": arguments.get("device", "")}}.get(node, {})
    for name, value in overrides.items():
        if value != "":
            parameters[name] = is_true(value) if type(parameter_defaults(node)[name]) is bool else value
    if node in ("lifter_node", "temporal_node"):
        owner = hri_owner(is_true(arguments.get("use_temporal", "true")))
        wanted = arguments.get("hri", "")
        if wanted == "":
            enabled = any(file_parameters(document, stage).get("hri.enabled", False)
                          for stage in ("lifter_node", "temporal_node"))
        else:
            enabled = is_true(wanted)
        parameters["hri.enabled"] = enabled and node == owner
    for name, value in parameters.items():
        if name in parameter_defaults(node):  # a clear error at launch; ints become doubles where ROS wants one
            parameters[name] = check_parameter(node, name, value)
    return parameters


# --------------------------------------------------------------------------------------------------
# QoS
# --------------------------------------------------------------------------------------------------

MAX_QUEUE_DEPTH = 10


@dataclass(frozen=True)
class QosSettings:
    """Keep-last, volatile; reliability and depth from parameters (the ROS layer builds the QoSProfile)."""

    reliability: str
    depth: int


def qos_settings(reliability: str, depth: int) -> QosSettings:
    if reliability not in ("best_effort", "reliable"):
        raise ValueError(f"qos.reliability must be best_effort or reliable, got {reliability!r}")
    if not 1 <= int(depth) <= MAX_QUEUE_DEPTH:
        raise ValueError(f"qos.depth must be between 1 and {MAX_QUEUE_DEPTH} (a deeper queue only adds latency), "
                         f"got {depth}")
    return QosSettings(reliability, int(depth))


def qos_mismatch_hint(policy: str, own_reliability: str) -> str:
    """What to change when a publisher and our subscription cannot talk, for the warning the node logs."""
    if policy.upper() == "RELIABILITY" and own_reliability == "reliable":
        return ("the publisher is best-effort but this subscription requires reliable delivery: set "
                "qos.reliability to best_effort")
    if policy.upper() == "DURABILITY":
        return "the publisher is volatile while a transient-local subscriber asked for old messages"
    return f"the {policy} policies of publisher and subscription are incompatible"


# --------------------------------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------------------------------


class ForwardToNodeLogger(logging.Handler):
    """Forwards the core's Python log records (``pose3d_ros.*``: a CUDA fallback, a refiner giving up on a person,
    an unsupported distortion model) to a node's logger, so that they reach /rosout with the node's name instead of
    bypassing ROS logging. ``target`` has rclpy's logger methods: debug, info, warning, error.
    """

    def __init__(self, target: Any):
        super().__init__()
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            log = self.target.error
        elif record.levelno >= logging.WARNING:
            log = self.target.warning
        elif record.levelno >= logging.INFO:
            log = self.target.info
        else:
            log = self.target.debug
        try:
            log(f"{record.name}: {record.getMessage()}")
        except Exception:  # noqa: BLE001 -- logging must never break the stage
            self.handleError(record)


def forward_core_logs(target: Any, level: int = logging.INFO) -> ForwardToNodeLogger:
    """Route the ``pose3d_ros`` loggers to ``target`` (a node's logger) instead of Python's default stderr; the
    last node created in a process gets them.

    The core's module loggers reach the handler by propagation, which ``launch`` turns off: after ``import launch``
    every new logger is a ``LaunchLogger`` with ``propagate = False`` (launch_testing runs launch inside the
    pytest process of ``colcon test``). It is turned back on for the core's loggers that exist.
    """
    handler = ForwardToNodeLogger(target)
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith("pose3d_ros.") and isinstance(logger, logging.Logger):
            logger.propagate = True
    core = logging.getLogger("pose3d_ros")
    for previous in [h for h in core.handlers if isinstance(h, ForwardToNodeLogger)]:
        core.removeHandler(previous)
    core.addHandler(handler)
    core.setLevel(level)
    core.propagate = False
    return handler


# --------------------------------------------------------------------------------------------------
# Newest-frame hand-off and statistics
# --------------------------------------------------------------------------------------------------


class LatestSlot:
    """One-frame mailbox between a subscription callback and the processing thread.

    ``put`` never blocks; a frame that is replaced before it was taken is a drop (counted), so the worker always
    processes the newest frame and latency never builds up in a queue.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._closed = False
        self.dropped = 0

    def put(self, item: Any) -> bool:
        """Store ``item``; True when it replaced a frame that was never processed."""
        with self._cond:
            replaced = self._item is not None
            self.dropped += replaced
            self._item = item
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> Any:
        """The newest frame, waiting up to ``timeout`` s; None on timeout or once closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._item is not None or self._closed, timeout):
                return None
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._item = None
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False


# Diagnostic levels, as in diagnostic_msgs/DiagnosticStatus.
OK, WARN, ERROR, STALE = 0, 1, 2, 3


@dataclass(frozen=True)
class StageReport:
    level: int
    message: str
    values: dict[str, str]


@dataclass
class StageMonitor:
    """Input/output rates, processing latency, drops and errors over a sliding window, for diagnostics.

    Thread-safe; times are monotonic seconds (``time.monotonic`` unless given).
    """

    window_s: float = 5.0
    max_latency_s: float = 0.5
    max_drop_ratio: float = 0.5
    stale_s: float = 2.0
    _inputs: deque = field(default_factory=deque)
    _outputs: deque = field(default_factory=deque)
    _drops: deque = field(default_factory=deque)
    _errors: deque = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    total_inputs: int = 0
    total_outputs: int = 0
    total_dropped: int = 0
    total_errors: int = 0
    last_error: str = ""

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.stale_s <= 0 or self.max_latency_s <= 0:
            raise ValueError("diagnostics window_s, stale_s and max_latency_s must be positive")
        if not 0.0 <= self.max_drop_ratio <= 1.0:
            raise ValueError("diagnostics.max_drop_ratio must lie in [0, 1]")

    @staticmethod
    def _now(now: float | None) -> float:
        return time.monotonic() if now is None else now

    def record_input(self, now: float | None = None) -> None:
        with self._lock:
            self._inputs.append(self._now(now))
            self.total_inputs += 1

    def record_output(self, latency_s: float, now: float | None = None) -> None:
        """A processed frame; ``latency_s`` from the input's arrival (or its stamp) to publication."""
        with self._lock:
            self._outputs.append((self._now(now), float(latency_s)))
            self.total_outputs += 1

    def record_drop(self, count: int = 1, now: float | None = None) -> None:
        with self._lock:
            self._drops.extend([self._now(now)] * count)
            self.total_dropped += count

    def record_error(self, message: str, now: float | None = None) -> None:
        with self._lock:
            self._errors.append(self._now(now))
            self.total_errors += 1
            self.last_error = message

    def report(self, now: float | None = None, active: bool = True) -> StageReport:
        now = self._now(now)
        with self._lock:
            start = now - self.window_s
            for events in (self._inputs, self._drops, self._errors):
                while events and events[0] < start:
                    events.popleft()
            while self._outputs and self._outputs[0][0] < start:
                self._outputs.popleft()
            inputs, drops, errors = len(self._inputs), len(self._drops), len(self._errors)
            latencies = np.array([latency for _, latency in self._outputs])
            last_input = self._inputs[-1] if self._inputs else None
            values = {
                "input rate (Hz)": f"{inputs / self.window_s:.2f}",
                "output rate (Hz)": f"{len(latencies) / self.window_s:.2f}",
                "mean latency (ms)": f"{1e3 * latencies.mean():.1f}" if len(latencies) else "n/a",
                "max latency (ms)": f"{1e3 * latencies.max():.1f}" if len(latencies) else "n/a",
                "dropped in window": str(drops),
                "errors in window": str(errors),
                "total inputs": str(self.total_inputs),
                "total outputs": str(self.total_outputs),
                "total dropped": str(self.total_dropped),
                "total errors": str(self.total_errors),
            }
            if self.last_error:
                values["last error"] = self.last_error
        if not active:
            return StageReport(OK, "inactive", values)
        if errors:
            return StageReport(ERROR, f"{errors} frames failed in the last {self.window_s:g} s: {self.last_error}",
                               values)
        if last_input is None or now - last_input > self.stale_s:
            return StageReport(WARN, f"no input for more than {self.stale_s:g} s", values)
        if drops and drops / max(inputs, 1) > self.max_drop_ratio:
            return StageReport(WARN, f"dropping {drops} of {inputs} frames: processing is slower than the input",
                               values)
        if len(latencies) and latencies.mean() > self.max_latency_s:
            return StageReport(WARN, f"mean latency {1e3 * latencies.mean():.0f} ms exceeds "
                               f"{1e3 * self.max_latency_s:.0f} ms", values)
        return StageReport(OK, "running", values)


# --------------------------------------------------------------------------------------------------
# Cameras
# --------------------------------------------------------------------------------------------------

SUPPORTED_DISTORTION = ("plumb_bob", "rational_polynomial", "equidistant")


def up_from_parameters(pitch_deg: float, roll_deg: float) -> np.ndarray | None:
    """The up direction in the camera frame from the camera_pitch_deg / camera_roll_deg parameters; None (unknown)
    when the pitch is NaN.
    """
    from pose3d_ros.camera import up_from_pitch_roll

    if not np.isfinite(pitch_deg):
        return None
    if not np.isfinite(roll_deg):
        raise ValueError(f"camera_roll_deg must be a number when camera_pitch_deg is given, got {roll_deg}")
    return up_from_pitch_roll(pitch_deg, roll_deg)


class CameraAttitude:
    """Where lifter_node's up direction comes from: a TF lookup from ``gravity_frame`` per frame (the node does the
    lookup and hands over the rotation or the failure), else the fixed pitch and roll parameters, else unknown.
    Failed lookups count, and the first one says why (``warning``, to log once).
    """

    def __init__(self, gravity_frame: str, pitch_deg: float, roll_deg: float):
        self.gravity_frame = gravity_frame
        self.fixed = None if gravity_frame else up_from_parameters(pitch_deg, roll_deg)
        self.failures = 0
        self.warning: str | None = None

    def up(self, quaternion: Any = None, failure: str = "") -> np.ndarray | None:
        """The up direction for a frame: from the looked-up rotation (x, y, z, w) of the camera frame from
        ``gravity_frame`` when there is one, None after a failed lookup (``failure`` says why), the fixed one
        without ``gravity_frame``.
        """
        from pose3d_ros.camera import up_from_quaternion

        self.warning = None
        if not self.gravity_frame:
            return self.fixed
        if quaternion is not None:
            return up_from_quaternion(quaternion)
        self.failures += 1
        if self.failures == 1:
            self.warning = (f"no transform from {self.gravity_frame} to the camera frame ({failure}): lifting "
                            f"without the up direction until there is (logged once, counted in diagnostics)")
        return None


def camera_matrix(k: Any, width: int, height: int) -> tuple[np.ndarray, bool]:
    """K (3, 3) from CameraInfo.k; (default intrinsics, True) when the camera is uncalibrated (K all zero)."""
    from pose3d_ros.camera import default_intrinsics

    matrix = np.asarray(k, dtype=np.float64).reshape(3, 3)
    if not np.isfinite(matrix).all() or matrix[0, 0] <= 0 or matrix[1, 1] <= 0:
        if width <= 0 or height <= 0:
            raise ValueError(f"CameraInfo has neither intrinsics nor an image size ({width}x{height})")
        return default_intrinsics(width, height), True
    return matrix, False


def undistort_keypoints(kp2d: np.ndarray, K: np.ndarray, distortion: Any, model: str) -> np.ndarray:
    """Pixels of the ideal pinhole camera K (what the lifter assumes) from raw pixels (P, J, 2)."""
    import cv2

    d = np.asarray(distortion, dtype=np.float64).reshape(-1)
    kp2d = np.asarray(kp2d, dtype=np.float64)
    if kp2d.size == 0 or not np.any(d):
        return kp2d.astype(np.float32)
    points = kp2d.reshape(-1, 1, 2)
    if model in ("plumb_bob", "rational_polynomial"):
        out = cv2.undistortPoints(points, K, d, P=K)
    elif model == "equidistant":
        out = cv2.fisheye.undistortPoints(points, K, d[:4], P=K)
    else:
        raise ValueError(f"distortion model {model!r} is not supported; supported: {', '.join(SUPPORTED_DISTORTION)}")
    return out.reshape(kp2d.shape).astype(np.float32)


class CameraInfoWatch:
    """Decides, per image, whether to wait for CameraInfo, use it, or go on without it after a warning.

    ``image(now)`` returns "with_info" while CameraInfo keeps arriving (at most ``timeout_s`` old), "wait" during
    the first ``timeout_s`` without any, then "without_info"; ``warning`` holds a message the first time it
    gives up, for the node to log once (again after CameraInfo came back and stopped).
    """

    def __init__(self, timeout_s: float):
        if timeout_s < 0:
            raise ValueError("camera_info_timeout_s must be >= 0")
        self.timeout_s = timeout_s
        self._since: float | None = None
        self._last_info: float | None = None
        self._warned = False
        self.warning: str | None = None

    def info(self, now: float) -> None:
        self._last_info = now
        self._warned = False

    def image(self, now: float) -> str:
        self.warning = None
        if self._since is None:
            self._since = now
        if self._last_info is not None and now - self._last_info <= self.timeout_s:
            return "with_info"
        waited_from = self._since if self._last_info is None else self._last_info
        if now - waited_from < self.timeout_s:
            return "wait"
        if not self._warned:
            self._warned = True
            self.warning = (f"no CameraInfo for {self.timeout_s:g} s: going on without it (default intrinsics of "
                            f"pose3d_ros.camera where 3D needs them); check the camera_info topic")
        return "without_info"


# --------------------------------------------------------------------------------------------------
# REP-155 body frame
# --------------------------------------------------------------------------------------------------

# (left hip, right hip, left shoulder, right shoulder) per layout.
_TORSO_JOINTS = {"wholebody133": (11, 12, 5, 6), "h36m17": (4, 1, 11, 14)}


def hri_body_id(person_id: int) -> str:
    """REP-155 body id: starts with a letter, so that it is a valid ROS name token (/humans/bodies/<id>/...)."""
    return f"b{int(person_id)}"


def body_frame(positions: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray] | None:
    """REP-155 ``body_<id>`` pose in the camera frame: origin at the mid-hip, z towards the head, x out of the
    chest. Returns (origin (3,), quaternion (x, y, z, w)), or None when the torso is degenerate.
    """
    if layout.name not in _TORSO_JOINTS:
        raise ValueError(f"no torso joints known for layout {layout.name}")
    left_hip, right_hip, left_shoulder, right_shoulder = (np.asarray(positions[j], dtype=np.float64)
                                                          for j in _TORSO_JOINTS[layout.name])
    origin = 0.5 * (left_hip + right_hip)
    up = 0.5 * (left_shoulder + right_shoulder) - origin
    left = left_hip - right_hip
    if np.linalg.norm(up) < 1e-6:
        return None
    z = up / np.linalg.norm(up)
    y = left - z * np.dot(left, z)
    if np.linalg.norm(y) < 1e-6:
        return None
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    return origin, quaternion_from_matrix(np.stack([x, y, z], axis=1))


def quaternion_from_matrix(rotation: np.ndarray) -> np.ndarray:
    """(x, y, z, w) of a rotation matrix (Shepperd's method: stable for every angle)."""
    m = np.asarray(rotation, dtype=np.float64)
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = [0.0, 0.0, 0.0, (m[k, j] - m[j, k]) / s]
        q[i] = 0.25 * s
        q[j] = (m[j, i] + m[i, j]) / s
        q[k] = (m[k, i] + m[i, k]) / s
    q = np.array(q)
    return q / np.linalg.norm(q)


# --------------------------------------------------------------------------------------------------
# Temporal stage: stamps in, refined frames out
# --------------------------------------------------------------------------------------------------


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


class TemporalFrames:
    """Feeds a StreamingRefiner frame by frame (``push_frame``: one batched pass, people missing from a frame are
    marked absent) and turns what it returns into one output frame per input frame, in input order.

    The refiner answers ``lookahead`` frames late and returns nothing for a stamp at which nobody is tracked (or
    every joint of everyone is MISSING); such a stamp still comes out, with no people, once it is ``lookahead``
    frames old, so that consumers (and REP-155's tracked list) learn that nobody is there. This keeps each input
    stamp's frame_id and the lifter's error (the refiner does not predict one; NaN for a person filled in at a
    stamp where the lifter had no pose of them) until the stamp comes out, and keeps stamps exact to the
    nanosecond by giving the refiner seconds since the first frame.
    """

    def __init__(self, refiner: Any, num_joints: int, history: int = 512):
        self.refiner = refiner
        self.num_joints = num_joints
        self.lookahead = int(getattr(refiner, "lookahead", 0))
        self.history = history
        self._origin_ns: int | None = None
        self._frames: dict[int, tuple[str, dict[int, np.ndarray]]] = {}
        self._pending: deque[int] = deque()  # input stamps not yet output, in input order

    def _seconds(self, stamp_ns: int) -> float:
        return (stamp_ns - self._origin_ns) / 1e9

    def _stamp_ns(self, seconds: float) -> int:
        return self._origin_ns + round(seconds * 1e9)

    def push(self, stamp_ns: int, frame_id: str, person_ids: np.ndarray, positions: np.ndarray,
             confidence: np.ndarray, error: np.ndarray, status: np.ndarray) -> list[SkeletonFrame]:
        """One input frame (P people, P may be 0); returns the frames that became due, oldest first."""
        if self._origin_ns is None:
            self._origin_ns = int(stamp_ns)
        ids = [int(i) for i in np.asarray(person_ids).reshape(-1)]
        self._frames[int(stamp_ns)] = (frame_id, {pid: np.asarray(error[p]) for p, pid in enumerate(ids)})
        while len(self._frames) > self.history:  # oldest first, also when a replay made stamps jump back
            del self._frames[next(iter(self._frames))]
        refined = self.refiner.push_frame(self._seconds(int(stamp_ns)), ids, positions, confidence, status)
        self._pending.append(int(stamp_ns))
        return self._due(refined, final=False)

    def flush(self) -> list[SkeletonFrame]:
        """Every frame still held (end of stream or deactivation)."""
        return self._due(self.refiner.flush() if self._origin_ns is not None else [], final=True)

    def _due(self, refined: list, final: bool) -> list[SkeletonFrame]:
        by_stamp: dict[int, list] = {}
        for pose in refined:
            by_stamp.setdefault(self._stamp_ns(pose.stamp), []).append(pose)
        # Output up to the newest stamp the refiner answered for, and every stamp lookahead frames old.
        answered = [index for index, stamp in enumerate(self._pending) if stamp in by_stamp]
        count = len(self._pending) if final else max(max(answered, default=-1) + 1,
                                                     len(self._pending) - self.lookahead)
        frames = []
        for _ in range(count):
            stamp = self._pending.popleft()
            frames.append(self._frame(stamp, by_stamp.pop(stamp, [])))
        # Poses of a stamp already output (not expected from the refiner's contract): late rather than lost.
        frames += [self._frame(stamp, poses) for stamp, poses in sorted(by_stamp.items())]
        return frames

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
