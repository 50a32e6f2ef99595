"""Every node parameter, with its default, meaning and checks, and ROS parameter files read without ROS.

config/pipeline.yaml and the table in docs/ros.md are checked against PARAMETERS by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

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

    @property
    def dynamic_typing(self) -> bool:
        """Whether the node declares it with ROS dynamic typing: the doubles, so that an integer written for one
        (``-p fps:=10`` or ``movenet.feet_per_frame: 1`` in a params file with ros2 run, ``ros2 param set ... 1``)
        is taken as that number; rclpy refuses an INTEGER for a DOUBLE parameter, and at start-up the node dies.
        :func:`parameter_update_error` then refuses what :func:`check_parameter` does not take.
        """
        return type(self.default) is float


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


_OUTPUT_FRAME_PARAMETERS = (
    Parameter("output_frame", "", "Also publish the skeletons in this TF frame (e.g. base_link or map: z-up frames "
              "give upright skeletons), on the skeleton topic + /transformed, transformed at each image's stamp; "
              "frames without that transform are counted in diagnostics. Empty = camera frame only"),
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
                  "wholebody133 SemGAN with its H36M-17 body expert"),
        Parameter("body_expert", "", "Body expert weights for a whole-body lifter (lifting/body_expert.py): empty = "
                  "the shipped one with the shipped lifter, none with other weights; none = lift without one (1.2 ms "
                  "less per person, the body 19 mm less accurate)"),
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
        Parameter("person_height_m", 0.0, "Known stature of the people in view, metres (0 = unknown): the lifted "
                  "skeletons are rescaled to it before placement (for a cell with one known worker; applies to "
                  "everyone in view)"),
        Parameter("depth_topic", "", "Depth image aligned to the colour image (sensor_msgs/Image, 16UC1 mm or "
                  "32FC1 m, e.g. /camera/aligned_depth_to_color/image_raw); people are placed from it where it "
                  "has enough valid pixels on their torso; empty = no depth"),
        Parameter("depth_max_offset_s", 0.05, "Largest stamp difference between the image the keypoints come from "
                  "and the depth image used for them; farther depth is not used (counted)"),
        *_QOS_PARAMETERS, *_DIAGNOSTIC_PARAMETERS, *_MARKER_PARAMETERS, *_OUTPUT_FRAME_PARAMETERS, *_HRI_PARAMETERS,
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
        *_QOS_PARAMETERS, *_DIAGNOSTIC_PARAMETERS, *_MARKER_PARAMETERS, *_OUTPUT_FRAME_PARAMETERS, *_HRI_PARAMETERS,
    ),
    "safety_node": (
        _AUTOSTART,
        Parameter("config", "", "Safety YAML (docs/safety.md, e.g. the package's config/safety_example.yaml); "
                  "required"),
        Parameter("check_period_s", 0.1, "Between skeleton messages, the monitor's check is published after this "
                  "long without a message, so that silence turns into unknown (keep it below the YAML's "
                  "failsafe.skeleton_timeout_s)"),
        Parameter("tf_timeout_s", 0.05, "How long the TF lookups of the objects' frames at a skeleton message's "
                  "stamp may wait, all together; a failed lookup makes that object unknown"),
        Parameter("publish_config_transforms", False, "Broadcast the YAML's transforms: section on /tf_static, to "
                  "try the monitor without a robot (leave false where the robot publishes those frames)"),
        Parameter("dropped_frames_status", "auto", "Name of the 2D stage's status on /diagnostics whose 'total "
                  "dropped' feeds the monitor's dropped-frames check; auto = keypoints2d_node of this node's "
                  "namespace, named as this node's diagnostic_updater.use_fqn names it ('keypoints2d_node: "
                  "keypoints2d_node stage', namespaced '/<namespace>/keypoints2d_node: ...'); empty = not watched"),
        Parameter("joints_frame", "", "Frame of the monitored joints on safety/monitored_joints (PoseArray, the "
                  "input of speed-and-separation controllers); empty = the skeletons' frame"),
        *_QOS_PARAMETERS, *_DIAGNOSTIC_PARAMETERS,
        Parameter("markers.enabled", True, "Publish RViz markers on ~/markers: objects coloured by state, a line "
                  "from the deciding joint to each object, labels"),
        Parameter("markers.lifetime_s", 0.5, "Lifetime of each marker (0 = forever)"),
        Parameter("markers.line_width", 0.01, "Width of a clear object's outline, metres (other states: twice)"),
    ),
    "video_source_node": (
        _AUTOSTART,
        Parameter("source", "", "Video file path, or a webcam index such as 0"),
        Parameter("fps", 0.0, "Publishing rate; 0 = the video's own frame rate (30 for webcams that report none)"),
        Parameter("loop", False, "Start the video again at its end (otherwise the node stops publishing)"),
        Parameter("frame_id", "camera_optical_frame", "frame_id of the Image and CameraInfo headers"),
        Parameter("horizontal_fov_deg", 0.0, "Horizontal field of view for CameraInfo; 0 = the default "
                  "intrinsics of pose3d_ros.camera"),
        Parameter("tf.enabled", True, "Publish the camera's static TF: tf.body_frame -> frame_id (REP-103 optical "
                  "rotation) and, when tf.world_frame is set, tf.world_frame -> tf.body_frame; turn off when a robot "
                  "model or driver publishes the camera's TF"),
        Parameter("tf.body_frame", "camera_link", "Camera body frame (REP-103: x forward, y left, z up), parent of "
                  "frame_id and RViz's fixed frame without tf.world_frame"),
        Parameter("tf.world_frame", "", "Gravity-aligned frame on the floor under the camera, parent of "
                  "tf.body_frame, published when the camera's attitude is known (tf.height_m, tf.pitch_deg, "
                  "tf.roll_deg) and then RViz's fixed frame; empty = attitude unknown, no such frame"),
        Parameter("tf.height_m", 1.2, "Height of the camera above the floor, metres (tf.world_frame's origin is on "
                  "the floor; RViz draws the floor grid there)"),
        Parameter("tf.pitch_deg", 0.0, "Camera pitch in tf.world_frame, degrees, positive looking down"),
        Parameter("tf.roll_deg", 0.0, "Camera roll about its forward axis in tf.world_frame, degrees, positive "
                  "lowering its right side"),
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


# Bounds of the numeric parameters whose type allows values that would fail later, deep in a stage (torch with 0
# threads, a queue of depth 0, a negative look-ahead, a diagnostics window of 0 s): (lowest, highest, lowest
# excluded). Every double must also be finite, every int fit ROS's int64.


_BOUNDS: dict[str, tuple[float | None, float | None, bool]] = {
    "cpu_threads": (1, 1024, False), "qos.depth": (1, 10, False), "max_people": (1, None, False),
    "lookahead": (0, None, False), "max_gap": (0, None, False), "window": (0, None, False),
    "model_complexity": (0, 2, False), "camera_info_timeout_s": (0.0, None, False), "sync_slop_s": (0.0, None, False),
    "fps": (0.0, None, False), "horizontal_fov_deg": (0.0, 179.0, False),
    "conf_threshold": (0.0, 1.0, False), "min_detection_confidence": (0.0, 1.0, False),
    "min_tracking_confidence": (0.0, 1.0, False), "debug_min_confidence": (0.0, 1.0, False),
    "diagnostics.window_s": (0.0, None, True), "diagnostics.max_latency_s": (0.0, None, True),
    "diagnostics.stale_s": (0.0, None, True), "diagnostics.max_drop_ratio": (0.0, 1.0, False),
    "markers.lifetime_s": (0.0, None, False), "markers.bone_width": (0.0, None, True),
    "markers.joint_diameter": (0.0, None, True), "markers.min_alpha": (0.0, 1.0, True),
}


_INT64 = (-(2**63), 2**63 - 1)


def check_parameter(node: str, name: str, value: Any) -> Any:
    """The value if it fits the parameter's type, choices and bounds, else a ValueError that says what fits."""
    spec = {p.name: p for p in PARAMETERS[node]}[name]
    kind = type(spec.default)
    if kind is float and type(value) is int and _INT64[0] <= value <= _INT64[1]:
        value = float(value)
    if type(value) is not kind:
        raise ValueError(f"{node}: parameter {name} must be a {spec.type_name}, got {value!r}")
    if kind is float and value != value and spec.default != spec.default:
        return UNKNOWN  # a number that may be unknown (NaN default); one NaN object, so that settings compare equal
    if (kind is float and not np.isfinite(value)) or (kind is int and not _INT64[0] <= value <= _INT64[1]):
        what = "a finite double" if kind is float else "an int within int64"
        raise ValueError(f"{node}: parameter {name} must be {what}, got {value!r}")
    if spec.choices and value not in spec.choices:
        raise ValueError(f"{node}: parameter {name} must be one of {', '.join(spec.choices)}, got {value!r}")
    lowest, highest, lowest_excluded = _BOUNDS.get(name, (None, None, False))
    if (lowest is not None and (value < lowest or (lowest_excluded and value == lowest))) or (
            highest is not None and value > highest):
        low = "" if lowest is None else f"{'above' if lowest_excluded else 'at least'} {lowest:g}"
        high = "" if highest is None else f"at most {highest:g}"
        raise ValueError(f"{node}: parameter {name} must be {' and '.join(filter(None, (low, high)))}, got {value!r}")
    return value


def parameter_update_error(node: str, name: str, value: Any) -> str | None:
    """Why ``value`` cannot be set on parameter ``name`` of ``node`` (the node refuses the update with this reason),
    or None when :func:`check_parameter` takes it; names that are not in PARAMETERS (``diagnostic_updater.period``,
    ``use_sim_time``) are left to whoever declared them.
    """
    if name not in parameter_defaults(node):
        return None
    try:
        check_parameter(node, name, value)
    except ValueError as err:
        return str(err)
    return None


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
            section = document.get(key)
            if section is None:
                continue
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
