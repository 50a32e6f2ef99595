"""launch_testing: the whole pipeline on a short video must publish sane 3D skeletons.

Runs under ``colcon test`` where ROS 2 (with launch_testing) is installed and the shared development video is
present; anywhere else it is skipped with the reason.
"""

import os
import time
import unittest
from pathlib import Path

import pytest

pytest.importorskip("launch_testing", reason="launch_testing (ROS 2) is not installed")
rclpy = pytest.importorskip("rclpy", reason="rclpy (ROS 2) is not installed")

import launch  # noqa: E402
import launch_testing.actions  # noqa: E402
import numpy as np  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

from pose3d_ros.messages import skeleton3d_to_numpy  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
VIDEO = Path(os.environ.get("POSE3D_SHARED_DATA", REPO.parent / "shared" / "data")) / "video" / "mmpose_demo.mp4"
if not VIDEO.is_file():
    pytest.skip(f"{VIDEO} not found: the launch test needs the shared development video", allow_module_level=True)

TIMEOUT_S = 120.0


@pytest.mark.launch_test
def generate_test_description():
    pipeline = launch.actions.IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(get_package_share_directory("pose3d_ros"), "launch",
                                                   "pipeline.launch.py")),
        # the shared video is 5 frames long: played in a loop so that every node is active before it ends
        launch_arguments={"source": str(VIDEO), "loop": "true", "use_temporal": "true", "rviz": "false",
                          "device": "cpu", "hri": "true"}.items(),
    )
    return launch.LaunchDescription([pipeline, launch_testing.actions.ReadyToTest()])


class TestSkeletonsArrive(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node("pose3d_launch_test")

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def _collect(self, topics, seconds):
        """Messages with people per topic ({topic: message class}), for ``seconds`` after the first arrives."""
        received = {topic: [] for topic in topics}
        subscriptions = [self.node.create_subscription(cls, topic, received[topic].append, 10)
                         for topic, cls in topics.items()]
        deadline, stop = time.monotonic() + TIMEOUT_S, None
        while time.monotonic() < (stop or deadline):
            rclpy.spin_once(self.node, timeout_sec=0.2)
            if stop is None and all(any(getattr(msg, "skeletons", True) for msg in messages)
                                    for messages in received.values()):
                stop = time.monotonic() + seconds
        for subscription in subscriptions:
            self.node.destroy_subscription(subscription)
        for topic, messages in received.items():
            self.assertTrue(messages, f"nothing on {topic} within {TIMEOUT_S:.0f} s")
        return received

    def _first_people(self, topic):
        from pose3d_ros_msgs.msg import Skeleton3DArray

        messages = self._collect({topic: Skeleton3DArray}, 0.0)[topic]
        people = [msg for msg in messages if msg.skeletons]
        self.assertTrue(people, f"no skeleton on {topic} within {TIMEOUT_S:.0f} s")
        return people[0]

    def _check(self, msg):
        frame = skeleton3d_to_numpy(msg)
        self.assertEqual(msg.header.frame_id, "camera_optical_frame")
        self.assertEqual(frame.positions.shape[1:], (133, 3))
        self.assertTrue(np.isfinite(frame.positions).all())
        pelvis = frame.positions[0, [11, 12]].mean(axis=0)
        self.assertGreater(pelvis[2], 0.5, "the person must stand in front of the camera")
        self.assertLess(pelvis[2], 20.0)
        shoulders = np.linalg.norm(frame.positions[0, 5] - frame.positions[0, 6])
        self.assertTrue(0.15 < shoulders < 0.7, f"shoulder width {shoulders:.2f} m is not human")
        self.assertTrue(set(np.unique(frame.status)) <= {0, 1, 2, 3, 4})

    def test_lifter_publishes_skeletons(self):
        self._check(self._first_people("/skeletons3d"))

    def test_temporal_stage_publishes_refined_skeletons(self):
        msg = self._first_people("/skeletons3d_refined")
        self._check(msg)
        self.assertTrue(set(np.unique(skeleton3d_to_numpy(msg).status)) & {3, 4}, "no REFINED or FILLED joint")

    def test_outputs_carry_the_stamps_of_the_images(self):
        from sensor_msgs.msg import Image

        from pose3d_ros_msgs.msg import Skeleton3DArray, WholeBody2DArray

        received = self._collect({"/camera/image_raw": Image, "/keypoints2d": WholeBody2DArray,
                                  "/skeletons3d": Skeleton3DArray, "/skeletons3d_refined": Skeleton3DArray}, 3.0)
        images = {(msg.header.stamp.sec, msg.header.stamp.nanosec) for msg in received["/camera/image_raw"]}
        for topic in ("/keypoints2d", "/skeletons3d"):
            stamps = [(msg.header.stamp.sec, msg.header.stamp.nanosec) for msg in received[topic]]
            matched = sum(stamp in images for stamp in stamps)
            # the first message may answer an image published before this subscription existed
            self.assertGreaterEqual(matched, len(stamps) - 1, f"{topic}: stamps that are no image's stamp")
        lifted = {(msg.header.stamp.sec, msg.header.stamp.nanosec) for msg in received["/skeletons3d"]}
        refined = [(msg.header.stamp.sec, msg.header.stamp.nanosec) for msg in received["/skeletons3d_refined"]]
        self.assertTrue(set(refined) & lifted, "refined skeletons are not stamped with their input stamps")

    def test_rep155_bodies_come_from_the_last_stage_only(self):
        from hri_msgs.msg import IdsList
        from tf2_msgs.msg import TFMessage

        received = self._collect({"/humans/bodies/tracked": IdsList, "/tf": TFMessage}, 2.0)
        self.assertIn(["b0"], [list(msg.ids) for msg in received["/humans/bodies/tracked"]])
        self.assertEqual(self.node.count_publishers("/humans/bodies/tracked"), 1)
        frames = {(t.header.frame_id, t.child_frame_id) for msg in received["/tf"] for t in msg.transforms}
        self.assertIn(("camera_optical_frame", "body_b0"), frames)
