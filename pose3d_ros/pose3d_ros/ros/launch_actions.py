"""Launch actions shared by the launch files (the decisions are in ``pose3d_ros.node_logic``).

Each pose3d_ros node is a lifecycle node: :func:`lifecycle_node` starts it, configures it, and activates it once,
when its first configuration succeeds; later transitions (``ros2 lifecycle set ...``) are left to the user.
"""

from __future__ import annotations

import os

import yaml
from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, EmitEvent, RegisterEventHandler
from launch.events import matches_action
from launch.logging import launch_config
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

from pose3d_ros.node_logic.launch_config import LAUNCH_ARGUMENTS, LAUNCH_FILES, launch_parameters
from pose3d_ros.rviz import rviz_config, rviz_setup

PACKAGE = "pose3d_ros"


def share(*parts: str) -> str:
    return os.path.join(get_package_share_directory(PACKAGE), *parts)


def declare_arguments(launch_file: str) -> list:
    """The DeclareLaunchArgument actions of ``launch_file`` (see node_logic.LAUNCH_FILES)."""
    actions = []
    for name in LAUNCH_FILES[launch_file]:
        default, description = LAUNCH_ARGUMENTS[name]
        actions.append(DeclareLaunchArgument(name, default_value=default.replace("<share>", share()),
                                             description=description))
    return actions


def argument_values(context, launch_file: str) -> dict[str, str]:
    return {name: LaunchConfiguration(name).perform(context) for name in LAUNCH_FILES[launch_file]}


def params_file(arguments: dict[str, str]) -> dict:
    """The parsed params file of a launch."""
    with open(arguments["params_file"], encoding="utf-8") as stream:
        return yaml.safe_load(stream) or {}


def lifecycle_node(executable: str, arguments: dict[str, str], remappings: list) -> list:
    """The node with its parameters, an event that configures it, and a one-shot handler that activates it."""
    document = params_file(arguments)
    node = LifecycleNode(package=PACKAGE, executable=executable, name=executable, namespace=arguments["namespace"],
                         parameters=[launch_parameters(document, executable, arguments)], remappings=remappings,
                         output="screen")
    configure = EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                            transition_id=Transition.TRANSITION_CONFIGURE))
    activate = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=node, start_state="configuring", goal_state="inactive", handle_once=True,
        entities=[EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                              transition_id=Transition.TRANSITION_ACTIVATE))]))
    return [node, activate, configure]


def rviz_config_file(arguments: dict[str, str]) -> str:
    """The RViz configuration of this launch (pose3d_ros.rviz), written into the launch's log directory, where ROS
    keeps the files of one run.
    """
    path = os.path.join(launch_config.log_dir, "pose3d.rviz")
    with open(path, "w", encoding="utf-8") as stream:
        yaml.safe_dump(rviz_config(rviz_setup(params_file(arguments), arguments)), stream, sort_keys=False)
    return path
