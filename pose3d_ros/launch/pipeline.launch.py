"""Camera images -> 3D whole-body skeletons: keypoints2d_node -> lifter_node -> temporal_node (+ RViz).

    ros2 launch pose3d_ros pipeline.launch.py image_topic:=/cam/image_raw camera_info_topic:=/cam/camera_info
    ros2 launch pose3d_ros pipeline.launch.py source:=/path/to/video.mp4 rviz:=true   # no camera: a video file
    ros2 launch pose3d_ros pipeline.launch.py source:=0                                # or a webcam

Every node is a lifecycle node; this file configures each one and activates it once configured. Parameters
come from ``params_file`` (default: the package's config/pipeline.yaml), each node getting its own section, so
that they apply under any ``namespace``.
"""

import os

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

PACKAGE = "pose3d_ros"
SHARE = get_package_share_directory(PACKAGE)
ARGUMENTS = (
    ("image_topic", "/camera/image_raw", "sensor_msgs/Image input (published there when source is set)"),
    ("camera_info_topic", "/camera/camera_info", "sensor_msgs/CameraInfo input (likewise)"),
    ("source", "", "Video file or webcam index: starts video_source_node on the two topics above"),
    ("device", "", "Device of the lifter and temporal models (auto, cuda, cuda:N, cpu); empty = params_file's"),
    ("use_temporal", "true", "Run temporal_node (3D-UGCN refinement) after the lifter"),
    ("rviz", "false", "Start RViz with config/pose3d.rviz"),
    ("params_file", os.path.join(SHARE, "config", "pipeline.yaml"), "YAML file with the nodes' parameters"),
    ("namespace", "", "Namespace of every node and of its relative topics"),
)


def node_parameters(params_file: str, node: str) -> dict:
    """The ``ros__parameters`` of ``node`` in a ROS 2 parameters file (also under ``/**``, ``/node``)."""
    with open(params_file, encoding="utf-8") as stream:
        document = yaml.safe_load(stream) or {}
    parameters = dict(document.get("/**", {}).get("ros__parameters", {}))
    for key in (node, f"/{node}", f"/**/{node}"):
        parameters.update(document.get(key, {}).get("ros__parameters", {}))
    return parameters


def lifecycle_node(executable: str, namespace: str, parameters: dict, remappings: list) -> list:
    """The node, an event that configures it, and a handler that activates it once configured."""
    node = LifecycleNode(package=PACKAGE, executable=executable, name=executable, namespace=namespace,
                         parameters=[parameters], remappings=remappings, output="screen")
    configure = EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                            transition_id=Transition.TRANSITION_CONFIGURE))
    activate = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=node, start_state="configuring", goal_state="inactive",
        entities=[EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                              transition_id=Transition.TRANSITION_ACTIVATE))]))
    return [node, activate, configure]


def launch_setup(context, *args, **kwargs):
    arg = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    namespace = arg["namespace"]
    camera = [("image", arg["image_topic"]), ("camera_info", arg["camera_info_topic"])]

    def params(node: str, **overrides) -> dict:
        return {**node_parameters(arg["params_file"], node), **{k: v for k, v in overrides.items() if v != ""}}

    actions = []
    if arg["source"]:
        actions += lifecycle_node("video_source_node", namespace, params("video_source_node", source=arg["source"]),
                                  camera)
    actions += lifecycle_node("keypoints2d_node", namespace, params("keypoints2d_node"), camera)
    actions += lifecycle_node("lifter_node", namespace, params("lifter_node", device=arg["device"]),
                              camera[1:])
    if arg["use_temporal"].lower() in ("true", "1", "yes"):
        actions += lifecycle_node("temporal_node", namespace, params("temporal_node", device=arg["device"]), [])
    if arg["rviz"].lower() in ("true", "1", "yes"):
        actions.append(Node(package="rviz2", executable="rviz2", namespace=namespace, output="screen",
                            arguments=["-d", os.path.join(SHARE, "config", "pose3d.rviz")]))
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS]
        + [OpaqueFunction(function=launch_setup)]
    )
