"""The processing stages on a camera driver's topics: keypoints2d_node -> lifter_node -> temporal_node.

    ros2 launch pose3d_ros skeletons.launch.py image_topic:=/cam/color/image_raw \
        camera_info_topic:=/cam/color/camera_info

REP-155 output (``hri``) comes from the last stage only: temporal_node, or lifter_node with use_temporal:=false.
"""

from launch import LaunchDescription
from launch.actions import OpaqueFunction

from pose3d_ros.node_logic.launch_config import is_true
from pose3d_ros.ros.launch_actions import argument_values, declare_arguments, lifecycle_node

LAUNCH_FILE = "skeletons.launch.py"


def launch_setup(context, *args, **kwargs):
    arguments = argument_values(context, LAUNCH_FILE)
    camera = [("image", arguments["image_topic"]), ("camera_info", arguments["camera_info_topic"])]
    actions = lifecycle_node("keypoints2d_node", arguments, camera)
    actions += lifecycle_node("lifter_node", arguments, camera[1:])
    if is_true(arguments["use_temporal"]):
        actions += lifecycle_node("temporal_node", arguments, [])
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(declare_arguments(LAUNCH_FILE) + [OpaqueFunction(function=launch_setup)])
