"""launch_testing: every node ends cleanly on SIGINT (Ctrl-C) and on SIGTERM (docker stop, systemd, timeout).

Each node runs twice, with ``autostart`` (as ``ros2 run`` would), on a live stream: video_source_node plays the
shared video, the stages process it, so that the signal arrives while frames are being processed. Once every node
is active, one copy of each gets SIGINT and the other SIGTERM; each must log its lifecycle shutdown, exit with 0
(a requested stop is a clean end, as for rclcpp and rclpy nodes) and print no traceback.

Runs under ``colcon test`` (or ``launch_test``) where ROS 2 with launch_testing is installed and the shared
development video is present; anywhere else it is skipped with the reason.
"""

import os
import signal
import time
import unittest
from pathlib import Path

import pytest

pytest.importorskip("launch_testing", reason="launch_testing (ROS 2) is not installed")
rclpy = pytest.importorskip("rclpy", reason="rclpy (ROS 2) is not installed")

import launch  # noqa: E402
import launch_ros.actions  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.markers  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
VIDEO = Path(os.environ.get("POSE3D_SHARED_DATA", REPO.parent / "shared" / "data")) / "video" / "mmpose_demo.mp4"
if not VIDEO.is_file():
    pytest.skip(f"{VIDEO} not found: the launch test needs the shared development video", allow_module_level=True)

SAFETY_YAML = Path(__file__).resolve().parents[1] / "config" / "safety_example.yaml"
PARAMETERS = {"video_source_node": {"source": str(VIDEO), "loop": True}, "keypoints2d_node": {},
              "lifter_node": {"device": "cpu"}, "temporal_node": {"device": "cpu"},
              "safety_node": {"config": str(SAFETY_YAML)}}
SIGNALS = {"sigint": signal.SIGINT, "sigterm": signal.SIGTERM}
TIMEOUT_S = 240.0  # ten processes loading their models on a busy 2-core machine
NODES = {(kind, name): launch_ros.actions.Node(package="pose3d_ros", executable=kind, name=f"{kind}_{name}",
                                               parameters=[{"autostart": True, **parameters}], output="screen")
         for kind, parameters in PARAMETERS.items() for name in SIGNALS}


@pytest.mark.launch_test
@launch_testing.markers.keep_alive  # the checks run after every process has ended: launch must wait for them
def generate_test_description():
    return launch.LaunchDescription([*NODES.values(), launch_testing.actions.ReadyToTest()])


class TestSignals(unittest.TestCase):
    def test_each_node_ends_on_sigint_and_sigterm_with_its_lifecycle_shutdown(self, proc_info, proc_output):
        from lifecycle_msgs.msg import State
        from lifecycle_msgs.srv import GetState

        from pose3d_ros_msgs.msg import Skeleton3DArray

        rclpy.init()
        node = rclpy.create_node("pose3d_signals_launch_test")
        try:
            deadline = time.monotonic() + TIMEOUT_S
            for kind, name in NODES:  # every node active: configured, processing
                client = node.create_client(GetState, f"/{kind}_{name}/get_state")
                while True:
                    self.assertLess(time.monotonic(), deadline, f"{kind}_{name} not active within {TIMEOUT_S:.0f} s")
                    if client.wait_for_service(timeout_sec=1.0):
                        future = client.call_async(GetState.Request())
                        rclpy.spin_until_future_complete(node, future, timeout_sec=5.0)
                        state = future.result()
                        if state is not None and state.current_state.id == State.PRIMARY_STATE_ACTIVE:
                            break
                    time.sleep(0.5)
                node.destroy_client(client)
            refined = []  # frames go through every stage when the signals come
            node.create_subscription(Skeleton3DArray, "/skeletons3d_refined", refined.append, 10)
            while not refined:
                self.assertLess(time.monotonic(), deadline, f"no refined skeletons within {TIMEOUT_S:.0f} s")
                rclpy.spin_once(node, timeout_sec=0.5)
        finally:
            node.destroy_node()
            rclpy.shutdown()
        for (_, name), action in NODES.items():
            os.kill(action.process_details["pid"], SIGNALS[name])
        for (kind, name), action in NODES.items():
            with self.subTest(node=f"{kind}_{name}"):
                proc_info.assertWaitForShutdown(process=action, timeout=30.0)
                self.assertEqual(proc_info[action].returncode, 0)
                text = "".join(output.text.decode(errors="replace") for output in proc_output[action])
                self.assertIn("lifecycle shutdown from active", text)
                self.assertNotIn("Traceback", text)
                print(f"{kind}_{name}: exit {proc_info[action].returncode}, "
                      f"'{next(line for line in text.splitlines() if 'lifecycle shutdown' in line).strip()}'")
