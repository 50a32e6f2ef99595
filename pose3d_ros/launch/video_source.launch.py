"""video_source_node alone: a video file or a webcam published as Image + CameraInfo, for any consumer.

    ros2 launch pose3d_ros video_source.launch.py source:=/path/to/video.mp4 loop:=true

pipeline.launch.py includes it when its ``source`` argument is set.
"""

from launch import LaunchDescription
from launch.actions import OpaqueFunction

from pose3d_ros.ros.launch_actions import argument_values, declare_arguments, lifecycle_node

LAUNCH_FILE = "video_source.launch.py"


def launch_setup(context, *args, **kwargs):
    arguments = argument_values(context, LAUNCH_FILE)
    camera = [("image", arguments["image_topic"]), ("camera_info", arguments["camera_info_topic"])]
    return lifecycle_node("video_source_node", arguments, camera)


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(declare_arguments(LAUNCH_FILE) + [OpaqueFunction(function=launch_setup)])
