"""Camera images -> 3D whole-body skeletons: [video_source.launch.py] + skeletons.launch.py [+ safety_node]
[+ RViz].

    ros2 launch pose3d_ros pipeline.launch.py image_topic:=/cam/image_raw camera_info_topic:=/cam/camera_info
    ros2 launch pose3d_ros pipeline.launch.py source:=/path/to/video.mp4 loop:=true rviz:=true  # a video file
    ros2 launch pose3d_ros pipeline.launch.py source:=0                                         # or a webcam
    ros2 launch pose3d_ros pipeline.launch.py source:=0 safety_config:=cell.yaml                # + safety monitor

Every node is a lifecycle node, configured and then activated by the included launch files. Parameters come
from ``params_file`` (default: the package's config/pipeline.yaml), each node getting its own section, so that
they apply under any ``namespace``.
"""

from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch_ros.actions import Node

from pose3d_ros.node_logic.launch_config import included_arguments, is_true, safety_remappings
from pose3d_ros.ros.launch_actions import (
    argument_values,
    declare_arguments,
    lifecycle_node,
    params_file,
    rviz_config_file,
    share,
)

LAUNCH_FILE = "pipeline.launch.py"


def include(launch_file: str, arguments: dict) -> IncludeLaunchDescription:
    return IncludeLaunchDescription(
        PythonLaunchDescriptionSource(share("launch", launch_file)),
        launch_arguments=included_arguments(launch_file, arguments, params_file(arguments)))


def launch_setup(context, *args, **kwargs):
    arguments = argument_values(context, LAUNCH_FILE)
    actions = [include("video_source.launch.py", arguments)] if arguments["source"] else []
    actions.append(include("skeletons.launch.py", arguments))
    if arguments["safety_config"]:
        actions += lifecycle_node("safety_node", arguments, safety_remappings(is_true(arguments["use_temporal"])))
    if is_true(arguments["rviz"]):
        actions.append(Node(package="rviz2", executable="rviz2", namespace=arguments["namespace"], output="screen",
                            arguments=["-d", rviz_config_file(arguments)]))
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(declare_arguments(LAUNCH_FILE) + [OpaqueFunction(function=launch_setup)])
