"""launch_testing: lifter_node's gravity_frame under ROS: the camera's attitude looked up in TF.

lifter_node runs alone with the H36M-17 lifter (trained with the gravity input) next to a static transform from a
z-up frame ``world`` to a camera 3 m high pitched 35 degrees down; the test publishes CameraInfo and the exact 2D of a
standing person seen by that camera. Run twice (launch_testing.parametrize):

* ``gravity_frame:=world``: no lookup fails, the node lifts with the up direction the transform gives (its skeletons
  are what ``Lifter.lift(..., up=...)`` gives here with the up direction known), the person stands upright in
  ``world``, and ``output_frame:=world`` publishes them on ``skeletons3d/transformed`` in ``world``;
* ``gravity_frame:=`` a frame TF does not have: skeletons still arrive, lifted without the up direction, every
  failed lookup is counted in diagnostics and the failure is logged once;
* ``gravity_frame:=ceiling``, a frame whose z points down (world turned over): the up direction it gives is upside
  down in the camera, so the lifter lifts without it and says so once; no lookup fails.

Runs under ``colcon test`` / ``launch_test`` where ROS 2 (with launch_testing and tf2_ros) is installed; anywhere
else it is skipped with the reason.
"""

import os
import tempfile
import time
import unittest

import pytest

pytest.importorskip("launch_testing", reason="launch_testing (ROS 2) is not installed")
rclpy = pytest.importorskip("rclpy", reason="rclpy (ROS 2) is not installed")

import launch  # noqa: E402
import launch_testing  # noqa: E402
import launch_testing.actions  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from launch_ros.actions import Node  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402

from pose3d_ros.camera import look_at_rotation, project  # noqa: E402
from pose3d_ros.data.h36m import to_h36m17  # noqa: E402
from pose3d_ros.data.synthetic import synthetic_walk  # noqa: E402
from pose3d_ros.messages import skeleton3d_to_numpy, wholebody2d_array  # noqa: E402
from pose3d_ros.node_logic.parameters import parameter_defaults  # noqa: E402
from pose3d_ros.ros.launch_actions import lifecycle_node, share  # noqa: E402
from pose3d_ros.weights_file import SHIPPED_WEIGHTS_DIR  # noqa: E402

TIMEOUT_S = 120.0
WEIGHTS = SHIPPED_WEIGHTS_DIR / "lifter_semgan_h36m17.safetensors"
CAMERA_FRAME = "camera_optical_frame"
MISSING_FRAME = "no_such_frame"
UPSIDE_DOWN_FRAME = "ceiling"
WIDTH, HEIGHT = 640, 480
K = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
PITCH = np.radians(35.0)
EYE = np.array([0.0, 0.0, 3.0])  # the camera in world, 3 m high, looking along +y and 35 degrees down
R = look_at_rotation(EYE[None], (EYE + [0.0, np.cos(PITCH), -np.sin(PITCH)])[None])[0]  # world -> camera
PELVIS, THORAX = 0, 8  # h36m17


def standing_person() -> np.ndarray:
    """(17, 3) a person of the procedural walker in world (z up, on the floor), in the lower part of the picture."""
    pose = to_h36m17(synthetic_walk(30)[10]).astype(np.float64)
    return pose - pose[PELVIS] * [1.0, 1.0, 0.0] + [0.3, 2.0 / np.tan(PITCH), 0.0]


PERSON = standing_person()
KP2D = project(((R @ (PERSON - EYE).T).T)[None], K).astype(np.float32)  # (1, 17, 2)


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1.0, 1.0))))


def params_file() -> str:
    """pipeline.yaml with the H36M-17 lifter (the shipped whole-body one has no gravity input)."""
    with open(share("config", "pipeline.yaml"), encoding="utf-8") as stream:
        document = yaml.safe_load(stream)
    document["lifter_node"]["ros__parameters"]["weights"] = str(WEIGHTS)
    path = os.path.join(tempfile.mkdtemp(prefix="pose3d_gravity_"), "params.yaml")
    with open(path, "w", encoding="utf-8") as stream:
        yaml.safe_dump(document, stream)
    return path


def static_transform(parent: str, child: str, translation, rotation: np.ndarray) -> Node:
    """tf2_ros's static_transform_publisher: ``child``'s origin and axes (``rotation``'s columns) in ``parent``."""
    x, y, z, w = Rotation.from_matrix(rotation).as_quat()
    return Node(package="tf2_ros", executable="static_transform_publisher", output="screen", arguments=[
        "--x", str(translation[0]), "--y", str(translation[1]), "--z", str(translation[2]), "--qx", str(x),
        "--qy", str(y), "--qz", str(z), "--qw", str(w), "--frame-id", parent, "--child-frame-id", child])


@launch_testing.parametrize("gravity_frame", ["world", MISSING_FRAME, UPSIDE_DOWN_FRAME])
@pytest.mark.launch_test
def generate_test_description(gravity_frame):
    static = [static_transform("world", CAMERA_FRAME, EYE, R.T),
              static_transform("world", UPSIDE_DOWN_FRAME, [0.0, 0.0, 3.0], np.diag([1.0, -1.0, -1.0]))]
    arguments = {"params_file": params_file(), "namespace": "", "device": "cpu", "gravity_frame": gravity_frame,
                 "output_frame": "world", "use_temporal": "false", "hri": "false"}
    lifter = lifecycle_node("lifter_node", arguments, [])
    return (launch.LaunchDescription([*static, *lifter, launch_testing.actions.ReadyToTest()]),
            {"lifter": lifter[0]})


def expected_positions(up) -> np.ndarray:
    """What the lifter gives for the test's 2D in the camera frame, with the up direction ``up`` or without."""
    import torch

    from pose3d_ros.lifting import Lifter

    torch.set_num_threads(1)
    defaults = parameter_defaults("lifter_node")
    lifter = Lifter.load(str(WEIGHTS), device="cpu", flip_test=defaults["flip_test"],
                         perspective_correction=defaults["perspective_correction"],
                         conf_threshold=defaults["conf_threshold"])
    return lifter.lift(KP2D, np.ones((1, 17), np.float32), K, image_size=(WIDTH, HEIGHT), up=up).positions[0]


class TestGravityFrame(unittest.TestCase):
    received: dict = {}

    @classmethod
    def setUpClass(cls):
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import CameraInfo

        from pose3d_ros.ros.base import rclpy_message_types
        from pose3d_ros_msgs.msg import Skeleton3DArray

        rclpy.init()
        cls.node = rclpy.create_node("pose3d_gravity_test")
        cls.types = rclpy_message_types()
        cls.keypoints = cls.node.create_publisher(cls.types.WholeBody2DArray, "/keypoints2d", 10)
        cls.camera_info = cls.node.create_publisher(CameraInfo, "/camera_info", 10)
        cls.received = {"/skeletons3d": [], "/skeletons3d/transformed": [], "/diagnostics": []}
        cls.subscriptions = [cls.node.create_subscription(Skeleton3DArray, topic, cls.received[topic].append, 10)
                             for topic in ("/skeletons3d", "/skeletons3d/transformed")]
        cls.subscriptions.append(cls.node.create_subscription(DiagnosticArray, "/diagnostics",
                                                              cls.received["/diagnostics"].append, 10))

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def _publish(self):
        from sensor_msgs.msg import CameraInfo

        header = self.types.Header(stamp=self.node.get_clock().now().to_msg(), frame_id=CAMERA_FRAME)
        self.camera_info.publish(CameraInfo(header=header, width=WIDTH, height=HEIGHT, distortion_model="plumb_bob",
                                            d=[0.0] * 5, k=K.reshape(-1).tolist()))
        self.keypoints.publish(wholebody2d_array(self.types, header, KP2D, np.ones((1, 17), np.float32), [7],
                                                 (WIDTH, HEIGHT), layout="h36m17"))

    def _failures(self):
        """The latest ``gravity lookups failed`` of lifter_node's diagnostics, or None before there is one."""
        for array in reversed(self.received["/diagnostics"]):
            for status in array.status:
                if status.hardware_id == "lifter_node":
                    values = {item.key: item.value for item in status.values}
                    if "gravity lookups failed" in values:
                        return int(values["gravity lookups failed"])
        return None

    def _run_until(self, done):
        """Publish a frame every 0.1 s until ``done()`` (after at least 10 skeleton messages)."""
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            self._publish()
            end = time.monotonic() + 0.1
            while time.monotonic() < end:
                rclpy.spin_once(self.node, timeout_sec=0.02)
            if len(self.received["/skeletons3d"]) >= 10 and done():
                return
        self.fail(f"after {TIMEOUT_S:.0f} s: {len(self.received['/skeletons3d'])} skeleton messages, "
                  f"gravity lookups failed {self._failures()}")

    def test_skeletons_are_lifted_with_the_up_direction_from_tf(self, gravity_frame):
        """The node's skeletons are the lift with the up direction of the static transform (world's z axis in the
        camera frame: R's third column), or without any when the frame does not exist or gives an upside-down one.
        """
        self._run_until(lambda: self._failures() is not None)
        msg = self.received["/skeletons3d"][-1]
        self.assertEqual(msg.header.frame_id, CAMERA_FRAME)
        frame = skeleton3d_to_numpy(msg, layout="h36m17")
        self.assertEqual(frame.person_ids.tolist(), [7])
        up = R[:, 2] if gravity_frame == "world" else None
        np.testing.assert_allclose(frame.positions[0], expected_positions(up), atol=2e-3)
        if up is not None:  # the up direction changes the lift: the check above can tell the two apart
            self.assertGreater(np.abs(expected_positions(None) - expected_positions(up)).max(), 0.01)

    def test_failed_lookups_are_counted_in_diagnostics(self, gravity_frame):
        if gravity_frame == MISSING_FRAME:
            self._run_until(lambda: (self._failures() or 0) >= 5)
        else:
            self._run_until(lambda: self._failures() is not None)
            self.assertEqual(self._failures(), 0)

    def test_the_person_stands_upright_in_world(self, gravity_frame):
        """output_frame:=world: the skeletons again in world (the static transform applied), the person upright:
        the torso (pelvis -> thorax) within 5 degrees of the true one, the pelvis within 0.2 m of the truth.
        """
        self._run_until(lambda: len(self.received["/skeletons3d/transformed"]) >= 5)
        lifted = {(m.header.stamp.sec, m.header.stamp.nanosec): m for m in self.received["/skeletons3d"]}
        compared = 0
        for msg in self.received["/skeletons3d/transformed"]:
            self.assertEqual(msg.header.frame_id, "world")
            key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
            if key not in lifted:
                continue
            world = skeleton3d_to_numpy(msg, layout="h36m17").positions[0]
            camera = skeleton3d_to_numpy(lifted[key], layout="h36m17").positions[0]
            np.testing.assert_allclose(world, (R.T @ camera.T).T + EYE, atol=1e-4)
            compared += 1
        self.assertGreaterEqual(compared, 3)
        torso = world[THORAX] - world[PELVIS]
        self.assertLess(angle_deg(torso, PERSON[THORAX] - PERSON[PELVIS]), 5.0)
        self.assertLess(angle_deg(torso, np.array([0.0, 0.0, 1.0])), 10.0)
        self.assertLess(np.linalg.norm(world[PELVIS] - PERSON[PELVIS]), 0.2)


@launch_testing.post_shutdown_test()
class TestGravityLog(unittest.TestCase):
    def test_a_failed_lookup_and_an_upside_down_camera_are_logged_once(self, proc_output, lifter, gravity_frame):
        text = "".join(event.text.decode(errors="replace") for event in proc_output[lifter])
        failed = text.count(f"no transform from {gravity_frame} to the camera frame")
        upside_down = text.count("(upside down): lifting without it")
        self.assertEqual((failed, upside_down), (int(gravity_frame == MISSING_FRAME),
                                                 int(gravity_frame == UPSIDE_DOWN_FRAME)), text[-3000:])
        self.assertNotIn("Traceback", text)
