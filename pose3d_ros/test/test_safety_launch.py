"""launch_testing: pipeline.launch.py with safety_config:= must publish one safety state per configured object,
and turn every state into ``unknown`` when its input stops (the video source deactivated). It runs in a namespace,
as one pipeline per camera would: the diagnostics names carry it, and safety_node watches its own 2D stage.

Runs under ``colcon test`` (or ``launch_test``) where ROS 2 with launch_testing is installed and the shared
development video is present; anywhere else it is skipped with the reason. The example YAML's transforms are
broadcast by the node (``publish_config_transforms``), and its fail-safe limits are relaxed so that a slow
machine's lag does not make the states unknown before the input stops.
"""

import os
import tempfile
import time
import unittest
from pathlib import Path

import pytest

pytest.importorskip("launch_testing", reason="launch_testing (ROS 2) is not installed")
rclpy = pytest.importorskip("rclpy", reason="rclpy (ROS 2) is not installed")

import launch  # noqa: E402
import launch_testing.actions  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

from pose3d_ros.safety import SafetyConfig, SafetyState, UnknownCause  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
VIDEO = Path(os.environ.get("POSE3D_SHARED_DATA", REPO.parent / "shared" / "data")) / "video" / "mmpose_demo.mp4"
if not VIDEO.is_file():
    pytest.skip(f"{VIDEO} not found: the launch test needs the shared development video", allow_module_level=True)

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "safety_example.yaml"
FOLDER = Path(tempfile.mkdtemp(prefix="pose3d_safety_launch_"))
SAFETY_YAML = FOLDER / "safety.yaml"
SAFETY_YAML.write_text(EXAMPLE.read_text()
                       .replace("skeleton_timeout_s: 0.5", "skeleton_timeout_s: 2.0")
                       .replace("max_stamp_age_s: 0.6", "max_stamp_age_s: 10.0")
                       .replace("max_drop_ratio: 0.3", "max_drop_ratio: 1.0"))
PARAMS = FOLDER / "params.yaml"
PARAMS.write_text("safety_node:\n  ros__parameters:\n    publish_config_transforms: true\n")
NAMES = [obj.name for obj in SafetyConfig.load(SAFETY_YAML).objects]
TIMEOUT_S = 120.0
NAMESPACE = "cell_a"
STATUS_2D = f"/{NAMESPACE}/keypoints2d_node: keypoints2d_node stage"


@pytest.mark.launch_test
def generate_test_description():
    pipeline = launch.actions.IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(get_package_share_directory("pose3d_ros"), "launch",
                                                   "pipeline.launch.py")),
        launch_arguments={"source": str(VIDEO), "loop": "true", "device": "cpu", "params_file": str(PARAMS),
                          "safety_config": str(SAFETY_YAML), "namespace": NAMESPACE}.items(),
    )
    return launch.LaunchDescription([pipeline, launch_testing.actions.ReadyToTest()])


class TestSafetyStates(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from diagnostic_msgs.msg import DiagnosticArray

        from pose3d_ros_msgs.msg import SafetyStateArray

        rclpy.init()
        cls.node = rclpy.create_node("pose3d_safety_launch_test")
        cls.received = []
        cls.node.create_subscription(SafetyStateArray, f"/{NAMESPACE}/safety/states", cls.received.append, 10)
        cls.statuses = set()
        cls.node.create_subscription(DiagnosticArray, "/diagnostics",
                                     lambda msg: cls.statuses.update(status.name for status in msg.status), 10)

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def _wait_for(self, condition, what, timeout_s=TIMEOUT_S):
        """The first state message that meets ``condition``, received within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.2)
            while self.received:
                msg = self.received.pop(0)
                if condition(msg):
                    return msg
        self.fail(f"no safety message {what} within {timeout_s:.0f} s")

    def _set_video_source(self, transition_id):
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState

        client = self.node.create_client(ChangeState, f"/{NAMESPACE}/video_source_node/change_state")
        self.assertTrue(client.wait_for_service(timeout_sec=30.0), "video_source_node has no lifecycle service")
        future = client.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
        rclpy.spin_until_future_complete(self.node, future, timeout_sec=30.0)
        self.assertTrue(future.result() is not None and future.result().success, "the transition failed")
        self.node.destroy_client(client)

    def test_states_are_known_per_object_then_unknown_when_the_input_stops(self):
        from lifecycle_msgs.msg import Transition

        first = self._wait_for(lambda msg: bool(msg.objects), "with objects")
        self.assertEqual([state.name for state in first.objects], NAMES)
        known = self._wait_for(lambda msg: all(s.state != SafetyState.UNKNOWN for s in msg.objects),
                               "with every object known (people measured, TF found, data fresh)")
        self.assertEqual(known.worst_state, max(s.state for s in known.objects))
        self.assertTrue(any(s.person_id >= 0 for s in known.objects), "nobody measured")

        self._set_video_source(Transition.TRANSITION_DEACTIVATE)
        try:
            silent = self._wait_for(
                lambda msg: all(s.state == SafetyState.UNKNOWN and s.unknown_causes & UnknownCause.NO_SKELETONS
                                for s in msg.objects), "unknown for want of skeletons", timeout_s=30.0)
            self.assertEqual(silent.worst_state, SafetyState.UNKNOWN)
        finally:
            self._set_video_source(Transition.TRANSITION_ACTIVATE)

    def test_diagnostics_names_carry_the_namespace_and_safety_node_watches_its_own_2d_stage(self, proc_output):
        deadline = time.monotonic() + TIMEOUT_S
        while STATUS_2D not in self.statuses and time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.2)
        self.assertIn(STATUS_2D, self.statuses)
        self.assertFalse({name for name in self.statuses if name.startswith("keypoints2d_node:")},
                         "a status without the namespace")
        proc_output.assertWaitFor(f"drops from the diagnostics status '{STATUS_2D}'", timeout=10)
