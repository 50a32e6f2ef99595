"""What the launch files decide: their arguments and what each node receives (the launch files only build actions from
these).
"""

from __future__ import annotations

from typing import Any

from pose3d_ros.node_logic.diagnostics import USE_FQN_PARAMETER
from pose3d_ros.node_logic.parameters import PARAMETERS, check_parameter, file_parameters, parameter_defaults

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
    "gravity_frame": ("", "lifter_node's gravity_frame: a z-up TF frame the camera's attitude is looked up from; empty "
                          "= the video source's tf.world_frame when this launch starts the video source with one, "
                          "else params_file's"),
    "output_frame": ("", "Also publish the last stage's skeletons in this TF frame, on its topic + /transformed "
                         "(output_frame); empty = params_file's"),
    "rviz": ("false", "Start RViz, configured for this launch (pose3d_ros.rviz)"),
    "fixed_frame": ("", "RViz's fixed frame; empty = the top of the video source's camera TF (its tf.world_frame, "
                        "else tf.body_frame); with a camera driver, a frame of its TF tree"),
    "params_file": ("<share>/config/pipeline.yaml", "YAML file with the nodes' parameters"),
    "namespace": ("", "Namespace of every node and of its relative topics"),
    "safety_config": ("", "Safety YAML (docs/safety.md): starts safety_node on the last stage's skeletons; empty = "
                          "no safety node"),
}
# The arguments of each launch file, in order (pipeline.launch.py includes the other two).


LAUNCH_FILES: dict[str, tuple[str, ...]] = {
    "video_source.launch.py": ("image_topic", "camera_info_topic", "source", "loop", "params_file", "namespace"),
    "skeletons.launch.py": ("image_topic", "camera_info_topic", "device", "use_temporal", "hri", "gravity_frame",
                            "output_frame", "params_file", "namespace"),
    "pipeline.launch.py": tuple(LAUNCH_ARGUMENTS),
}


def is_true(word: str) -> bool:
    """A launch argument read as a boolean."""
    return word.strip().lower() in TRUE_WORDS


def hri_owner(use_temporal: bool) -> str:
    """The one node that publishes REP-155 output: the last stage of the graph (two owners would publish every
    body twice, with different poses).
    """
    return "temporal_node" if use_temporal else "lifter_node"


def safety_remappings(use_temporal: bool) -> list[tuple[str, str]]:
    """safety_node's input remapped to the last stage's skeletons: the refined ones, or the lifter's."""
    return [] if use_temporal else [("skeletons3d_refined", "skeletons3d")]


def included_arguments(launch_file: str, arguments: dict[str, str], document: dict) -> list[tuple[str, str]]:
    """What pipeline.launch.py hands an included launch file: its arguments, with an empty gravity_frame taken from
    the gravity-aligned frame that the launch's own video source publishes (tf.world_frame, when it starts one that
    publishes TF), so that a camera attitude given to the video source reaches the lifter too.
    """
    values = {name: arguments.get(name, "") for name in LAUNCH_FILES[launch_file]}
    if "gravity_frame" in values and not values["gravity_frame"] and arguments.get("source", ""):
        video = {**parameter_defaults("video_source_node"), **file_parameters(document, "video_source_node")}
        values["gravity_frame"] = video["tf.world_frame"] if video["tf.enabled"] else ""
    return list(values.items())


def launch_parameters(document: dict, node: str, arguments: dict[str, str]) -> dict[str, Any]:
    """What a launch file hands ``node``: its section of the params file, overridden by the non-empty launch
    arguments that concern it (source, loop, device, hri, gravity_frame, output_frame, safety_config), with REP-155
    and output_frame on :func:`hri_owner` only.
    """
    if node not in PARAMETERS:
        raise ValueError(f"unknown node {node!r}; nodes: {', '.join(PARAMETERS)}")
    parameters = file_parameters(document, node)
    overrides = {"video_source_node": {"source": arguments.get("source", ""), "loop": arguments.get("loop", "")},
                 "lifter_node": {"device": arguments.get("device", ""),
                                 "gravity_frame": arguments.get("gravity_frame", "")},
                 "temporal_node": {"device": arguments.get("device", "")},
                 "safety_node": {"config": arguments.get("safety_config", "")}}.get(node, {})
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
        output_frame = arguments.get("output_frame", "") or next(
            (frame for frame in (file_parameters(document, stage).get("output_frame", "")
                                 for stage in ("lifter_node", "temporal_node")) if frame), "")
        parameters["output_frame"] = output_frame if node == owner else ""
    if arguments.get("namespace", "").strip("/"):  # one pipeline per camera: statuses told apart by namespace
        parameters[USE_FQN_PARAMETER] = True
    for name, value in parameters.items():
        if name in parameter_defaults(node):  # a clear error at launch; ints become doubles where ROS wants one
            parameters[name] = check_parameter(node, name, value)
    return parameters
