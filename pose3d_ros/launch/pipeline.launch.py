"""Camera images -> 3D whole-body skeletons: [video_source.launch.py] + skeletons.launch.py [+ RViz].

    ros2 launch pose3d_ros pipeline.launch.py image_topic:=/cam/image_raw camera_info_topic:=/cam/camera_info
    ros2 launch pose3d_ros pipeline.launch.py source:=/path/to/video.mp4 loop:=true rviz:=true  # a video file
    ros2 launch pose3d_ros pipeline.launch.py source:=0                                         # or a webcam

Every node is a lifecycle node, configured and then activated by the included launch files. Parameters come
from ``params_file`` (default: the package's config/pipeline.yaml), each node getting its own section, so that
they apply under any ``namespace``.
"""

from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch_ros.actions import Node

from pose3d_ros.node_logic import LAUNCH_FILES, is_true
from pose3d_ros.ros.launch_actions import argument_values, declare_arguments, rviz_config_file, share

LAUNCH_FILE = "pipeline.launch.py"


def include(launch_file: str, arguments: dict) -> IncludeLaunchDescription:
    return IncludeLaunchDescription(
        PythonLaunchDescriptionSource(share("launch", launch_file)),
        launch_arguments=[(name, arguments[name]) for name in LAUNCH_FILES[launch_file]])


def launch_setup(context, *args, **kwargs):
    arguments = argument_values(context, LAUNCH_FILE)
    actions = [include("video_source.launch.py", arguments)] if arguments["source"] else []
    actions.append(include("skeletons.launch.py", arguments))
    if is_true(arguments["rviz"]):
        actions.append(Node(package="rviz2", executable="rviz2", namespace=arguments["namespace"], output="screen",
                            arguments=["-d", rviz_config_file(arguments)]))
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(declare_arguments(LAUNCH_FILE) + [OpaqueFunction(function=launch_setup)])
