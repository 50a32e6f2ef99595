"""Launch actions shared by the launch files (the decisions are in ``pose3d_ros.node_logic``).

Each pose3d_ros node is a lifecycle node: :func:`lifecycle_node` starts it, configures it, and activates it once,
when its first configuration succeeds; later transitions (``ros2 lifecycle set ...``) are left to the user.
"""

from __future__ import annotations

import os
import tempfile

import yaml
from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, EmitEvent, RegisterEventHandler
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

from pose3d_ros.node_logic.launch_config import LAUNCH_ARGUMENTS, LAUNCH_FILES, is_true, launch_parameters, rviz_config

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


def lifecycle_node(executable: str, arguments: dict[str, str], remappings: list) -> list:
    """The node with its parameters, an event that configures it, and a one-shot handler that activates it."""
    with open(arguments["params_file"], encoding="utf-8") as stream:
        document = yaml.safe_load(stream) or {}
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
    """config/pose3d.rviz for this launch's namespace and image topic (node_logic.rviz_config), in a temporary
    file for RViz's ``-d``.
    """
    with open(share("config", "pose3d.rviz"), encoding="utf-8") as stream:
        document = yaml.safe_load(stream)
    handle, path = tempfile.mkstemp(prefix="pose3d_", suffix=".rviz")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        yaml.safe_dump(rviz_config(document, arguments["namespace"], arguments["image_topic"],
                                   is_true(arguments["use_temporal"])), stream, sort_keys=False)
    return path
