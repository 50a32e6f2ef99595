"""launch_testing: what RViz gets from the default launch with safety_node (``rviz:=true`` aside) is complete: its
configuration parses, names only topics the launch publishes, and /tf_static connects its fixed frame to the frame
of every marker and monitored joint (RViz's Global Status is OK only then).

Runs under ``colcon test`` (or ``launch_test test/test_rviz_launch.py``) where ROS 2 and the shared development
video are present; anywhere else it is skipped with the reason.
"""

import os
import shutil
import tempfile
import time
import unittest
from pathlib import Path

import pytest

pytest.importorskip("launch_testing", reason="launch_testing (ROS 2) is not installed")
rclpy = pytest.importorskip("rclpy", reason="rclpy (ROS 2) is not installed")

import launch  # noqa: E402
import launch_testing.actions  # noqa: E402
import yaml  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch import logging as launch_logging  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402

from pose3d_ros.node_logic.launch_config import LAUNCH_ARGUMENTS  # noqa: E402
from pose3d_ros.ros.launch_actions import rviz_config_file  # noqa: E402
from pose3d_ros.rviz import topics  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
VIDEO = Path(os.environ.get("POSE3D_SHARED_DATA", REPO.parent / "shared" / "data")) / "video" / "mmpose_demo.mp4"
if not VIDEO.is_file():
    pytest.skip(f"{VIDEO} not found: the launch test needs the shared development video", allow_module_level=True)

TIMEOUT_S = 120.0
SHARE = get_package_share_directory("pose3d_ros")
# The shipped parameters with safety_node broadcasting the example YAML's transforms (there is no robot to).
PARAMS = Path(tempfile.mkdtemp(prefix="pose3d_rviz_launch_")) / "params.yaml"
_document = yaml.safe_load(Path(SHARE, "config", "pipeline.yaml").read_text())
_document["safety_node"]["ros__parameters"]["publish_config_transforms"] = True
PARAMS.write_text(yaml.safe_dump(_document))
# The default launch on the shared video (played in a loop, on the CPU) with the example's safety zones and robot
# links; hri, and so /tf, stays off.
ARGUMENTS = {"source": str(VIDEO), "loop": "true", "device": "cpu", "params_file": str(PARAMS),
             "safety_config": os.path.join(SHARE, "config", "safety_example.yaml")}


@pytest.mark.launch_test
def generate_test_description():
    pipeline = launch.actions.IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(SHARE, "launch", "pipeline.launch.py")),
        launch_arguments=ARGUMENTS.items())
    return launch.LaunchDescription([pipeline, launch_testing.actions.ReadyToTest()])


def generated_rviz_config():
    """The RViz configuration ``rviz:=true`` would hand RViz in this launch, read back from its file."""
    arguments = {name: default.replace("<share>", SHARE) for name, (default, _) in LAUNCH_ARGUMENTS.items()}
    path = rviz_config_file({**arguments, **ARGUMENTS})
    with open(path, encoding="utf-8") as stream:
        return path, yaml.safe_load(stream)


class TestRvizSeesAConnectedTree(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node("pose3d_rviz_launch_test")

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()
        shutil.rmtree(PARAMS.parent)  # the nodes read it at their start

    def _spin_until(self, done):
        """Whether ``done()`` came true within TIMEOUT_S."""
        deadline = time.monotonic() + TIMEOUT_S
        while not done() and time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.2)
        return bool(done())

    def test_the_config_parses_and_names_only_published_topics(self):
        path, config = generated_rviz_config()
        self.assertEqual(Path(path).name, "pose3d.rviz")
        self.assertEqual(Path(path).parent, Path(launch_logging.launch_config.log_dir))  # ROS's per-run folder
        wanted = topics(config)
        self.assertEqual(wanted, {"/temporal_node/markers", "/lifter_node/markers", "/camera/image_raw",
                                  "/safety_node/markers", "/safety/monitored_joints"})

        def published():
            return all(self.node.count_publishers(topic) > 0 for topic in wanted)
        self.assertTrue(self._spin_until(published), f"no publisher within {TIMEOUT_S:.0f} s on "
                        f"{sorted(topic for topic in wanted if not self.node.count_publishers(topic))}")

    def test_tf_connects_the_fixed_frame_to_every_marker_frame(self):
        from geometry_msgs.msg import PoseArray
        from tf2_msgs.msg import TFMessage
        from visualization_msgs.msg import MarkerArray

        _, config = generated_rviz_config()
        fixed_frame = config["Visualization Manager"]["Global Options"]["Fixed Frame"]
        parents = {}
        frames = {display["Topic"]["Value"]: set() for display in config["Visualization Manager"]["Displays"]
                  if display["Class"] in ("rviz_default_plugins/MarkerArray", "rviz_default_plugins/PoseArray")}

        def add_transforms(message):
            parents.update({t.child_frame_id: t.header.frame_id for t in message.transforms})

        def add_markers(topic):
            return lambda message: frames[topic].update(m.header.frame_id for m in message.markers if m.action == 0)

        def add_poses(topic):
            return lambda message: frames[topic].add(message.header.frame_id)

        latched = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                             reliability=ReliabilityPolicy.RELIABLE)
        subscriptions = [self.node.create_subscription(TFMessage, "/tf_static", add_transforms, latched),
                         self.node.create_subscription(TFMessage, "/tf", add_transforms, 10)]
        subscriptions += [self.node.create_subscription(PoseArray, topic, add_poses(topic), 10)
                          if topic == "/safety/monitored_joints" else
                          self.node.create_subscription(MarkerArray, topic, add_markers(topic), 10) for topic in frames]

        def root(frame):
            """The top of ``frame``'s TF tree (RViz transforms between frames of one tree)."""
            while frame in parents:
                frame = parents[frame]
            return frame

        def connected():
            # RViz's "Fixed Frame ... does not exist" unless TF knows the frame, even when the markers are in it;
            # every display's topic (the lifter's, shown or not, safety_node's markers and joints) has to be heard
            known = fixed_frame in parents or fixed_frame in parents.values()
            return known and all(frames.values()) and all(root(frame) == root(fixed_frame)
                                                          for seen in frames.values() for frame in seen)
        self.assertTrue(self._spin_until(connected), f"within {TIMEOUT_S:.0f} s, TF (child -> parent: {parents}) does "
                        f"not connect the fixed frame {fixed_frame!r} to the displays' frames {frames}")
        for subscription in subscriptions:
            self.node.destroy_subscription(subscription)
        self.assertEqual(set().union(*frames.values()), {"camera_optical_frame"})
        # the robot links' frames hang under the camera's, so that RViz's TF display draws them in place too
        self.assertEqual(root("tool0"), root(fixed_frame))
        self.assertEqual(parents.get("camera_optical_frame"), "camera_link")
