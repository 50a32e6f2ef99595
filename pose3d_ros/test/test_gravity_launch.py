"""launch_testing: lifter_node's gravity_frame under ROS: the camera's attitude looked up in TF.

lifter_node runs alone with the H36M-17 lifter (trained with the gravity input), ``output_frame:=world``, next to TF
from a z-up frame ``world`` to a camera 3 m high pitched down; the test publishes CameraInfo and the exact 2D of a
standing person seen by that camera. Run once per scenario (launch_testing.parametrize):

* ``static``: ``gravity_frame:=world``, a static transform, the camera pitched 35 degrees down: no lookup fails, the
  node lifts with the up direction the transform gives (its skeletons are what ``Lifter.lift(..., up=...)`` gives
  here with that up direction), the person stands upright in ``world`` on ``skeletons3d/transformed``;
* ``missing``: ``gravity_frame:=`` a frame TF does not have: skeletons still arrive, lifted without the up
  direction, every failed lookup is counted in diagnostics and the failure is logged once;
* ``upside_down``: ``gravity_frame:=ceiling``, a frame whose z points down: the up direction it gives is upside
  down in the camera, so the lifter lifts without it and says so once; no lookup fails;
* ``moving``: ``gravity_frame:=world``, the camera's transform published by the test on /tf at 20 Hz while the
  camera nods (pitch 35 +- 10 degrees), the keypoints stamped 0.1 s in the past (a 2D stage's delay): each frame is
  lifted and transformed with the attitude at its own stamp; when the transform stops coming, the stale lookups
  are counted and the skeletons still arrive.

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
from pose3d_ros.messages import skeleton3d_to_numpy, stamp_ns, wholebody2d_array  # noqa: E402
from pose3d_ros.node_logic.parameters import parameter_defaults  # noqa: E402
from pose3d_ros.ros.launch_actions import lifecycle_node, share  # noqa: E402
from pose3d_ros.weights_file import SHIPPED_WEIGHTS_DIR  # noqa: E402

TIMEOUT_S = 120.0
WEIGHTS = SHIPPED_WEIGHTS_DIR / "lifter_semgan_h36m17.safetensors"
CAMERA_FRAME = "camera_optical_frame"
SCENARIOS = {"static": "world", "missing": "no_such_frame", "upside_down": "ceiling", "moving": "world"}
WIDTH, HEIGHT = 640, 480
K = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
EYE = np.array([0.0, 0.0, 3.0])  # the camera in world, 3 m high, looking along +y
PITCH_DEG = 35.0
NOD_DEG, NOD_PERIOD_S = 10.0, 4.0  # the moving camera's pitch: PITCH_DEG + NOD_DEG sin(2 pi t / NOD_PERIOD_S)
TF_PERIOD_S, DELAY_S = 0.05, 0.1  # the moving camera's TF rate, and the keypoints' age when they are published
PELVIS, THORAX = 0, 8  # h36m17


def rotation(pitch_deg: float) -> np.ndarray:
    """World -> camera rotation of the camera at EYE pitched ``pitch_deg`` down."""
    pitch = np.radians(pitch_deg)
    return look_at_rotation(EYE[None], (EYE + [0.0, np.cos(pitch), -np.sin(pitch)])[None])[0]


def standing_person() -> np.ndarray:
    """(17, 3) a person of the procedural walker in world (z up, on the floor), in view of every pitch used."""
    pose = to_h36m17(synthetic_walk(30)[10]).astype(np.float64)
    return pose - pose[PELVIS] * [1.0, 1.0, 0.0] + [0.3, 2.0 / np.tan(np.radians(PITCH_DEG)), 0.0]


PERSON = standing_person()


def keypoints(pitch_deg: float) -> np.ndarray:
    """(1, 17, 2) the person's exact 2D seen by the camera pitched ``pitch_deg`` down."""
    return project(((rotation(pitch_deg) @ (PERSON - EYE).T).T)[None], K).astype(np.float32)


def nod(seconds: float) -> float:
    return PITCH_DEG + NOD_DEG * np.sin(2.0 * np.pi * seconds / NOD_PERIOD_S)


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


def static_transform(parent: str, child: str, translation, axes: np.ndarray) -> Node:
    """tf2_ros's static_transform_publisher: ``child``'s origin and axes (the columns of ``axes``) in ``parent``."""
    x, y, z, w = Rotation.from_matrix(axes).as_quat()
    return Node(package="tf2_ros", executable="static_transform_publisher", output="screen", arguments=[
        "--x", str(translation[0]), "--y", str(translation[1]), "--z", str(translation[2]), "--qx", str(x),
        "--qy", str(y), "--qz", str(z), "--qw", str(w), "--frame-id", parent, "--child-frame-id", child])


@launch_testing.parametrize("scenario", list(SCENARIOS))
@pytest.mark.launch_test
def generate_test_description(scenario):
    static = [static_transform("world", "ceiling", EYE, np.diag([1.0, -1.0, -1.0]))]
    if scenario != "moving":
        static.append(static_transform("world", CAMERA_FRAME, EYE, rotation(PITCH_DEG).T))
    arguments = {"params_file": params_file(), "namespace": "", "device": "cpu", "gravity_frame": SCENARIOS[scenario],
                 "output_frame": "world", "use_temporal": "false", "hri": "false"}
    lifter = lifecycle_node("lifter_node", arguments, [])
    return (launch.LaunchDescription([*static, *lifter, launch_testing.actions.ReadyToTest()]),
            {"lifter": lifter[0]})


class TestGravityFrame(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import torch
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import CameraInfo
        from tf2_msgs.msg import TFMessage

        from pose3d_ros.lifting import Lifter
        from pose3d_ros.ros.base import rclpy_message_types
        from pose3d_ros_msgs.msg import Skeleton3DArray

        torch.set_num_threads(1)
        defaults = parameter_defaults("lifter_node")
        cls.lifter = Lifter.load(str(WEIGHTS), device="cpu", flip_test=defaults["flip_test"],
                                 perspective_correction=defaults["perspective_correction"],
                                 conf_threshold=defaults["conf_threshold"])
        rclpy.init()
        cls.node = rclpy.create_node("pose3d_gravity_test")
        cls.types = rclpy_message_types()
        cls.keypoints = cls.node.create_publisher(cls.types.WholeBody2DArray, "/keypoints2d", 10)
        cls.camera_info = cls.node.create_publisher(CameraInfo, "/camera_info", 10)
        cls.tf = cls.node.create_publisher(TFMessage, "/tf", 100)
        cls.received = {"/skeletons3d": [], "/skeletons3d/transformed": [], "/diagnostics": []}
        for topic, kind in (("/skeletons3d", Skeleton3DArray), ("/skeletons3d/transformed", Skeleton3DArray),
                            ("/diagnostics", DiagnosticArray)):
            cls.node.create_subscription(kind, topic, cls.received[topic].append, 10)
        cls.pitch_at = {}  # keypoints stamp (ns) -> the camera's pitch then
        cls.sent = []  # (seconds, pitch) of each transform of the moving camera
        cls.start = cls.node.get_clock().now()
        cls.tf_stopped = False

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def _seconds(self, time_ns: int) -> float:
        return (time_ns - self.start.nanoseconds) * 1e-9

    def _publish_transform(self, now_ns: int, scenario: str) -> None:
        from geometry_msgs.msg import TransformStamped
        from tf2_msgs.msg import TFMessage

        if scenario != "moving" or self.tf_stopped:
            return
        transform = TransformStamped()
        transform.header.stamp = rclpy.time.Time(nanoseconds=now_ns).to_msg()
        transform.header.frame_id, transform.child_frame_id = "world", CAMERA_FRAME
        transform.transform.translation.x, transform.transform.translation.y, transform.transform.translation.z = EYE
        self.sent.append((self._seconds(now_ns), nod(self._seconds(now_ns))))
        x, y, z, w = Rotation.from_matrix(rotation(self.sent[-1][1]).T).as_quat()
        rotation_msg = transform.transform.rotation
        rotation_msg.x, rotation_msg.y, rotation_msg.z, rotation_msg.w = x, y, z, w
        self.tf.publish(TFMessage(transforms=[transform]))

    def _publish_keypoints(self, now_ns: int, scenario: str) -> None:
        from sensor_msgs.msg import CameraInfo

        stamp = now_ns - round(DELAY_S * 1e9) if scenario == "moving" else now_ns
        if self._seconds(stamp) < 0.0:  # before the moving camera's first transform
            return
        pitch = nod(self._seconds(stamp)) if scenario == "moving" else PITCH_DEG
        self.pitch_at[stamp] = pitch
        header = self.types.Header(stamp=rclpy.time.Time(nanoseconds=stamp).to_msg(), frame_id=CAMERA_FRAME)
        self.camera_info.publish(CameraInfo(header=header, width=WIDTH, height=HEIGHT, distortion_model="plumb_bob",
                                            d=[0.0] * 5, k=K.reshape(-1).tolist()))
        self.keypoints.publish(wholebody2d_array(self.types, header, keypoints(pitch), np.ones((1, 17), np.float32),
                                                 [7], (WIDTH, HEIGHT), layout="h36m17"))

    def _failures(self):
        """The latest ``gravity lookups failed`` of lifter_node's diagnostics, or None before there is one."""
        for array in reversed(self.received["/diagnostics"]):
            for status in array.status:
                if status.hardware_id == "lifter_node":
                    values = {item.key: item.value for item in status.values}
                    if "gravity lookups failed" in values:
                        return int(values["gravity lookups failed"])
        return None

    def _run_until(self, scenario, done, messages=10):
        """Publish the camera's transform every TF_PERIOD_S and keypoints every other time, until ``done()`` after
        at least ``messages`` more skeleton messages."""
        deadline, wanted = time.monotonic() + TIMEOUT_S, len(self.received["/skeletons3d"]) + messages
        tick = 0
        while time.monotonic() < deadline:
            now_ns = self.node.get_clock().now().nanoseconds
            self._publish_transform(now_ns, scenario)
            if tick % 2:
                self._publish_keypoints(now_ns, scenario)
            tick += 1
            end = time.monotonic() + TF_PERIOD_S
            while time.monotonic() < end:
                rclpy.spin_once(self.node, timeout_sec=0.01)
            if len(self.received["/skeletons3d"]) >= wanted and done():
                return
        self.fail(f"after {TIMEOUT_S:.0f} s: {len(self.received['/skeletons3d'])} skeleton messages, "
                  f"gravity lookups failed {self._failures()}")

    def _tf_pitch(self, stamp: int) -> float:
        """The pitch TF gives at ``stamp``: the moving camera's between the two transforms around it (tf2's
        slerp, about one axis here: linear in the angle), the static one's."""
        if not self.sent:
            return PITCH_DEG
        seconds, pitches = np.array(self.sent).T
        return float(np.interp(self._seconds(stamp), seconds, pitches))

    def _expected(self, scenario, stamp):
        """What the lifter gives for the 2D of ``stamp`` with the up direction lifter_node should find in TF."""
        up = rotation(self._tf_pitch(stamp))[:, 2] if SCENARIOS[scenario] == "world" else None
        return self.lifter.lift(keypoints(self.pitch_at[stamp]), np.ones((1, 17), np.float32), K,
                                image_size=(WIDTH, HEIGHT), up=up).positions[0]

    def test_failed_lookups_are_counted_in_diagnostics(self, scenario):
        """Every frame's failed lookup is counted; with the transform there, none fails (the moving camera's first
        frames may: their stamps can precede the first transform lifter_node heard)."""
        if scenario == "missing":
            self._run_until(scenario, lambda: (self._failures() or 0) >= 5)
            return
        self._run_until(scenario, lambda: self._failures() is not None)
        before, reports = self._failures(), len(self.received["/diagnostics"])
        self._run_until(scenario, lambda: len(self.received["/diagnostics"]) >= reports + 2)
        self.assertEqual(self._failures(), before)
        if scenario != "moving":
            self.assertEqual(before, 0)

    def test_skeletons_are_lifted_with_the_up_direction_from_tf(self, scenario):
        """The node's skeletons are the lift with the up direction of the camera's transform at the frame's stamp
        (world's z axis in the camera frame: the rotation's third column), or without any when the frame does not
        exist or gives an upside-down one.
        """
        self._run_until(scenario, lambda: True)
        compared = 0
        for msg in self.received["/skeletons3d"][-5:]:
            self.assertEqual(msg.header.frame_id, CAMERA_FRAME)
            frame = skeleton3d_to_numpy(msg, layout="h36m17")
            self.assertEqual(frame.person_ids.tolist(), [7])
            np.testing.assert_allclose(frame.positions[0], self._expected(scenario, stamp_ns(msg.header)), atol=2e-3)
            compared += 1
        self.assertEqual(compared, 5)
        if SCENARIOS[scenario] == "world":  # the up direction changes the lift: the check above tells them apart
            stamp = stamp_ns(msg.header)
            self.assertGreater(np.abs(self._expected("missing", stamp) - self._expected(scenario, stamp)).max(), 0.01)

    def test_the_person_stands_upright_in_world(self, scenario):
        """output_frame:=world: the skeletons again in world (the camera's transform at their stamp applied), the
        person upright: the torso (pelvis -> thorax) within 5 degrees of the true one, the pelvis within 0.2 m.
        """
        self._run_until(scenario, lambda: len(self.received["/skeletons3d/transformed"]) >= 5)
        lifted = {stamp_ns(msg.header): msg for msg in self.received["/skeletons3d"]}
        compared = 0
        for msg in self.received["/skeletons3d/transformed"]:
            self.assertEqual(msg.header.frame_id, "world")
            stamp = stamp_ns(msg.header)
            if stamp not in lifted:
                continue
            world = skeleton3d_to_numpy(msg, layout="h36m17").positions[0]
            camera = skeleton3d_to_numpy(lifted[stamp], layout="h36m17").positions[0]
            np.testing.assert_allclose(world, (rotation(self._tf_pitch(stamp)).T @ camera.T).T + EYE, atol=1e-4)
            torso = world[THORAX] - world[PELVIS]
            self.assertLess(angle_deg(torso, PERSON[THORAX] - PERSON[PELVIS]), 5.0)
            self.assertLess(angle_deg(torso, np.array([0.0, 0.0, 1.0])), 10.0)
            self.assertLess(np.linalg.norm(world[PELVIS] - PERSON[PELVIS]), 0.2)
            compared += 1
        self.assertGreaterEqual(compared, 3)

    def test_when_the_transform_stops_the_stale_lookups_are_counted(self, scenario):
        """(Runs last: unittest sorts by name.) The moving camera's transform stops: lookups at the newer stamps
        fail (TF does not extrapolate), each counted, and the skeletons go on, lifted without the up direction."""
        if scenario != "moving":
            self.skipTest("the moving camera's transform is the one the test can stop")
        self._run_until(scenario, lambda: self._failures() is not None, messages=2)
        before = self._failures()
        type(self).tf_stopped = True  # launch_testing runs a subclass per scenario
        self._run_until(scenario, lambda: self._failures() >= before + 5)
        msg = self.received["/skeletons3d"][-1]
        np.testing.assert_allclose(skeleton3d_to_numpy(msg, layout="h36m17").positions[0],
                                   self._expected("missing", stamp_ns(msg.header)), atol=2e-3)


@launch_testing.post_shutdown_test()
class TestGravityLog(unittest.TestCase):
    def test_a_failed_lookup_and_an_upside_down_camera_are_logged_once(self, proc_output, lifter, scenario):
        text = "".join(event.text.decode(errors="replace") for event in proc_output[lifter])
        failed = text.count("to the camera frame (")  # CameraAttitude's warning
        upside_down = text.count("(upside down): lifting without it")
        self.assertEqual((failed, upside_down), (int(scenario in ("missing", "moving")),
                                                 int(scenario == "upside_down")), text[-3000:])
        self.assertNotIn("Traceback", text)
