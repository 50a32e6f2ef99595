"""launch_testing: the processing nodes under fault, under real ROS (DDS queues, rclpy's executor, sim time).

skeletons.launch.py (keypoints2d_node, lifter_node, temporal_node) on sim time; this test is the camera and the
clock: it publishes /clock and the shared video's frames with their CameraInfo, stamped with the sim time. Each
test injects one fault -- garbage or mis-sized messages, a publisher flooding at 200 Hz, a subscriber whose process
hangs (never reads, never acknowledges), /clock jumping back (a bag loop) and ahead -- and checks that every node
keeps running, that the fault is counted in /diagnostics and that frames sent after it come out of every stage.
After the launch ends, every node must have ended cleanly (exit 0 on launch's SIGINT, no traceback).

Runs under ``colcon test`` (or ``launch_test``) where ROS 2 with launch_testing is installed and the shared
development video is present; anywhere else it is skipped with the reason.
"""

import array
import copy
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import pytest

pytest.importorskip("launch_testing", reason="launch_testing (ROS 2) is not installed")
rclpy = pytest.importorskip("rclpy", reason="rclpy (ROS 2) is not installed")

import cv2  # noqa: E402
import launch  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import numpy as np  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
VIDEO = Path(os.environ.get("POSE3D_SHARED_DATA", REPO.parent / "shared" / "data")) / "video" / "mmpose_demo.mp4"
if not VIDEO.is_file():
    pytest.skip(f"{VIDEO} not found: the launch test needs the shared development video", allow_module_level=True)

FOLDER = Path(tempfile.mkdtemp(prefix="pose3d_faults_launch_"))
PARAMS = FOLDER / "params.yaml"
PARAMS.write_text("/**:\n  ros__parameters:\n    use_sim_time: true\n    diagnostic_updater:\n      period: 0.5\n")
IMAGE_TOPIC, INFO_TOPIC = "/fault/image", "/fault/camera_info"
STAGES = ("keypoints2d_node", "lifter_node", "temporal_node")
OUTPUTS = {"keypoints2d_node": "/keypoints2d", "lifter_node": "/skeletons3d", "temporal_node": "/skeletons3d_refined"}
TIMEOUT_S = 180.0  # loading three models on a busy 2-core machine
RATE_HZ = 5.0  # the camera's rate: what keypoints2d_node keeps up with on a busy CPU
WIDTH, HEIGHT = 640, 360
START_S = 1000  # the sim time of the first frame

# A subscriber to every output whose process then hangs (SIGSTOP): it never reads and never acknowledges.
STALLED_SUBSCRIBER = """
import sys, rclpy
from rclpy.qos import QoSProfile, HistoryPolicy, ReliabilityPolicy
from diagnostic_msgs.msg import DiagnosticArray
from visualization_msgs.msg import MarkerArray
from pose3d_ros_msgs.msg import Skeleton3DArray, WholeBody2DArray
rclpy.init()
node = rclpy.create_node("pose3d_stalled_subscriber")
qos = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)
for cls, topic in [(WholeBody2DArray, "/keypoints2d"), (Skeleton3DArray, "/skeletons3d"),
                   (Skeleton3DArray, "/skeletons3d_refined"), (MarkerArray, "/lifter_node/markers"),
                   (MarkerArray, "/temporal_node/markers"), (DiagnosticArray, "/diagnostics")]:
    node.create_subscription(cls, topic, lambda msg: None, qos)
print("subscribed", flush=True)
sys.stdin.read()
"""


@pytest.mark.launch_test
def generate_test_description():
    stages = launch.actions.IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(get_package_share_directory("pose3d_ros"), "launch",
                                                   "skeletons.launch.py")),
        launch_arguments={"image_topic": IMAGE_TOPIC, "camera_info_topic": INFO_TOPIC, "device": "cpu",
                          "use_temporal": "true", "hri": "false", "params_file": str(PARAMS)}.items(),
    )
    return launch.LaunchDescription([stages, launch_testing.actions.ReadyToTest()])


def stamp_of(msg):
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def video_frames():
    capture = cv2.VideoCapture(str(VIDEO))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA))
    capture.release()
    return frames


class TestNodesUnderFault(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from diagnostic_msgs.msg import DiagnosticArray
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import CameraInfo, Image

        from pose3d_ros_msgs.msg import Skeleton3DArray, WholeBody2DArray

        rclpy.init()
        cls.node = rclpy.create_node("pose3d_faults_launch_test")  # wall clock: it drives /clock
        cls.frames = video_frames()
        cls.sim_ns = START_S * 10**9
        cls.sent = {}  # input stamp (sim ns) -> wall time it was published
        cls.received = {topic: [] for topic in (*OUTPUTS.values(), "/diagnostics")}
        for cls_, topic in ((WholeBody2DArray, "/keypoints2d"), (Skeleton3DArray, "/skeletons3d"),
                            (Skeleton3DArray, "/skeletons3d_refined"), (DiagnosticArray, "/diagnostics")):
            cls.node.create_subscription(cls_, topic, lambda msg, t=topic: cls.received[t].append(
                (time.monotonic(), msg)), 50)
        cls.clock_pub = cls.node.create_publisher(Clock, "/clock", 10)
        cls.image_pub = cls.node.create_publisher(Image, IMAGE_TOPIC, 10)
        cls.info_pub = cls.node.create_publisher(CameraInfo, INFO_TOPIC, 10)
        cls.keypoints_pub = cls.node.create_publisher(WholeBody2DArray, "/keypoints2d", 10)
        cls.skeletons_pub = cls.node.create_publisher(Skeleton3DArray, "/skeletons3d", 10)
        cls.Clock, cls.Image, cls.CameraInfo = Clock, Image, CameraInfo

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    # ------------------------------------------------------------------ the camera and the clock

    def _tick(self, period_s):
        """Advance the sim time by ``period_s`` (published on /clock) and spin for that long in wall time."""
        self.__class__.sim_ns += round(period_s * 1e9)
        self._publish_clock()
        deadline = time.monotonic() + period_s
        while True:
            rclpy.spin_once(self.node, timeout_sec=max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                return

    def _publish_clock(self):
        from builtin_interfaces.msg import Time

        self.clock_pub.publish(self.Clock(clock=Time(sec=self.sim_ns // 10**9, nanosec=self.sim_ns % 10**9)))

    def _header(self):
        from std_msgs.msg import Header

        header = Header(frame_id="camera_optical_frame")
        header.stamp.sec, header.stamp.nanosec = self.sim_ns // 10**9, self.sim_ns % 10**9
        return header

    def _image(self, frame, **overrides):
        """An Image (and its CameraInfo) of ``frame`` at the current sim time; ``overrides`` set Image fields."""
        height, width = frame.shape[:2]
        image = self.Image(header=self._header(), height=height, width=width, encoding="bgr8", step=width * 3)
        image.data = array.array("B", frame.tobytes())
        for name, value in overrides.items():
            setattr(image, name, value)
        info = self.CameraInfo(header=self._header(), width=width, height=height)
        focal = 0.9 * width
        info.k = [focal, 0.0, width / 2, 0.0, focal, height / 2, 0.0, 0.0, 1.0]
        return image, info

    def _send_image(self, image, info):
        self.sent[self.sim_ns] = time.monotonic()
        self.image_pub.publish(image)
        self.info_pub.publish(info)

    def _camera(self, seconds):
        """The video at RATE_HZ for ``seconds``; returns the wall time it started."""
        started = time.monotonic()
        for k in range(round(seconds * RATE_HZ)):
            self._tick(1.0 / RATE_HZ)
            self._send_image(*self._image(self.frames[k % len(self.frames)]))
        return started

    def _until(self, condition, what, timeout_s=TIMEOUT_S):
        """Run the camera until ``condition()`` holds."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            self.assertLess(time.monotonic(), deadline, f"{what} within {timeout_s:.0f} s")
            self._camera(1.0)

    # ------------------------------------------------------------------ what came out

    def _outputs(self, topic, sent_after, people=False):
        """Messages on ``topic`` whose input was sent after wall time ``sent_after`` (with people, if asked)."""
        return [(arrived, msg) for arrived, msg in self.received[topic]
                if self.sent.get(stamp_of(msg), -1.0) > sent_after
                and (not people or len(getattr(msg, "people", getattr(msg, "skeletons", []))))]

    def _diagnostics(self, kind, after=0.0):
        """The newest values of ``kind``'s stage status received after wall time ``after`` (None: none)."""
        for arrived, msg in reversed(self.received["/diagnostics"]):
            if arrived <= after:
                break
            for status in msg.status:
                if status.name.endswith(f"{kind} stage"):
                    return {item.key: item.value for item in status.values} | {"level": status.level,
                                                                              "message": status.message}
        return None

    def _counted(self, kind, key, after):
        values = self._diagnostics(kind, after)
        return int(values.get(key, 0)) if values else None

    def _flowing(self, timeout_s=TIMEOUT_S):
        """Every stage puts out people for frames sent from now on (the pipeline is up and keeps working)."""
        started = time.monotonic()
        self._until(lambda: all(self._outputs(topic, started, people=True) for topic in OUTPUTS.values()),
                    "people from every stage for frames sent after the fault", timeout_s)

    def _settled(self, kind, key, after):
        """Run the camera until a diagnostics message of ``kind`` newer than ``after`` arrives; its ``key``."""
        self._until(lambda: self._diagnostics(kind, after) is not None, f"diagnostics of {kind}", 30.0)
        return self._counted(kind, key, after)

    def setUp(self):
        self._flowing()

    # ------------------------------------------------------------------ the faults

    def test_garbage_and_mis_sized_images_are_counted_and_the_next_frames_processed(self):
        frame = self.frames[0]
        before = self._settled("keypoints2d_node", "total errors", time.monotonic())
        self._tick(2.0)
        size = WIDTH * HEIGHT * 3
        garbage = [
            {"data": array.array("B", frame.tobytes()[: size // 2])},  # data shorter than step * height
            {"data": array.array("B", frame.tobytes() + bytes(WIDTH * 3))},  # one row too many
            {"step": WIDTH * 3 - 7},  # step does not fit width * 3 bytes
            {"encoding": "no_such_encoding"},
            {"height": 0, "width": 0, "step": 0, "data": array.array("B")},
            {"height": 100_000, "width": 100_000},  # claims 30 GB
        ]
        for overrides in garbage:
            self._tick(0.5)  # the node is done with one before the next: each one is an error, not a drop
            self._send_image(*self._image(frame, **overrides))
        self._tick(2.0)
        after = self._settled("keypoints2d_node", "total errors", time.monotonic())
        self.assertEqual(after - before, len(garbage), "each garbage image is one counted error")
        values = self._diagnostics("keypoints2d_node")
        self.assertTrue(any(key.startswith("errors: ") for key in values), values)
        self._flowing(60.0)

    def test_garbage_keypoints_and_skeletons_are_counted_and_the_next_frames_processed(self):
        from pose3d_ros_msgs.msg import Skeleton3DArray

        start = time.monotonic()
        self._camera(3.0)
        keypoints = next(msg for _, msg in reversed(self._outputs("/keypoints2d", start, people=True)))
        skeletons = next(msg for _, msg in reversed(self._outputs("/skeletons3d", start, people=True)))
        errors = {kind: self._settled(kind, "total errors", time.monotonic()) for kind in ("lifter_node",
                                                                                        "temporal_node")}

        def bad_keypoints(change):
            msg = copy.deepcopy(keypoints)
            change(msg.people[0])
            return msg

        def bad_skeletons(change):
            msg = copy.deepcopy(skeletons)
            change(msg.skeletons[0])
            return msg

        def nan(field, index=3):
            def change(person):
                values = getattr(person, field)
                values[index] = float("nan")
            return change

        garbage_2d = [
            bad_keypoints(lambda p: setattr(p, "keypoints", p.keypoints[:-10])),  # wrong array length
            bad_keypoints(lambda p: setattr(p, "confidence", p.confidence[:5])),
            bad_keypoints(nan("keypoints")),
            bad_keypoints(nan("confidence")),
            bad_keypoints(lambda p: setattr(p, "num_joints", 17)),
            bad_keypoints(lambda p: setattr(p, "layout", "no_such_layout")),
            bad_keypoints(lambda p: setattr(p, "image_width", 0)),
        ]
        garbage_3d = [
            bad_skeletons(lambda p: setattr(p, "position", p.position[:-1])),
            bad_skeletons(nan("position")),
            bad_skeletons(lambda p: setattr(p, "status", p.status[:3])),
            Skeleton3DArray(header=skeletons.header, skeletons=[skeletons.skeletons[0], skeletons.skeletons[0]]),
        ]
        self._tick(2.0)  # the camera's last frames go through every stage: nothing replaces the garbage
        for publisher, messages in ((self.keypoints_pub, garbage_2d), (self.skeletons_pub, garbage_3d)):
            for msg in messages:
                self._tick(0.5)
                msg.header = self._header()
                self.sent[self.sim_ns] = time.monotonic()
                publisher.publish(msg)
        self._tick(2.0)
        counted = time.monotonic()
        self.assertEqual(self._settled("lifter_node", "total errors", counted) - errors["lifter_node"],
                         len(garbage_2d), "each garbage keypoints message is one counted error of the lifter")
        self.assertEqual(self._settled("temporal_node", "total errors", counted) - errors["temporal_node"],
                         len(garbage_3d), "each garbage skeletons message is one counted error of the temporal stage")
        self._flowing(60.0)

    def test_a_publisher_flooding_at_200_hz_is_met_with_the_newest_frame_and_counted_drops(self):
        start = time.monotonic()
        self._camera(3.0)
        keypoints = next(msg for _, msg in reversed(self._outputs("/keypoints2d", start, people=True)))
        dropped = self._settled("lifter_node", "total dropped", time.monotonic())
        inputs = self._settled("lifter_node", "total inputs", time.monotonic())
        flood_start, sent, period = time.monotonic(), 0, 1.0 / 200
        while time.monotonic() - flood_start < 3.0:  # 200 Hz, no images meanwhile
            msg = copy.deepcopy(keypoints)
            self.__class__.sim_ns += round(period * 1e9)
            msg.header = self._header()
            self.sent[self.sim_ns] = time.monotonic()
            self.keypoints_pub.publish(msg)
            self._publish_clock()
            sent += 1
            next_send = flood_start + sent * period
            while time.monotonic() < next_send:
                rclpy.spin_once(self.node, timeout_sec=max(0.0, next_send - time.monotonic()))
        last = self.sim_ns
        rate = sent / (time.monotonic() - flood_start)
        self.assertGreater(rate, 150.0, "this test could not publish at 200 Hz")
        self._tick(2.0)
        lifted = self._outputs("/skeletons3d", flood_start)
        self.assertTrue(lifted, "the lifter published nothing during the flood")
        latency = np.array([arrived - self.sent[stamp_of(msg)] for arrived, msg in lifted])
        self.assertIn(last, {stamp_of(msg) for _, msg in lifted}, "the newest flooded frame was not processed")
        self.assertLess(np.median(latency), 1.0, "latency builds up under a flood")
        counted = time.monotonic()
        self.assertGreater(self._settled("lifter_node", "total dropped", counted) - dropped, 0,
                           "the frames the lifter skipped are not counted")
        received = self._counted("lifter_node", "total inputs", counted) - inputs
        print(f"flood: {sent} keypoints messages at {rate:.0f} Hz; lifter received {received}, published "
              f"{len(lifted)}, median latency {1e3 * np.median(latency):.0f} ms, max {1e3 * latency.max():.0f} ms")
        self._flowing(60.0)

    def _latencies(self, seconds):
        """Arrival of each stage's output after its image was sent, over ``seconds`` of camera: {topic: (s,)}."""
        start = self._camera(seconds)
        self._tick(2.0)
        return {topic: np.array([arrived - self.sent[stamp_of(msg)] for arrived, msg in self._outputs(topic, start)])
                for topic in OUTPUTS.values()}

    def test_a_subscriber_that_never_reads_does_not_slow_the_others(self):
        """Latency and rate while a reliable subscriber hangs, against those before and after it (the larger
        latency, the smaller count: the machine's load drifts)."""
        before = self._latencies(8.0)
        stalled = subprocess.Popen([sys.executable, "-c", STALLED_SUBSCRIBER], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(stalled.stdout.readline().strip(), "subscribed")
            self._until(lambda: self.node.count_subscribers("/skeletons3d_refined") >= 2,
                        "the stalled subscriber matched", 30.0)
            self._camera(2.0)  # it takes what comes in, then
            os.kill(stalled.pid, signal.SIGSTOP)  # hangs: it never reads nor acknowledges again
            self._camera(4.0)  # long enough for its queues and the writers' unacknowledged data to fill
            during = self._latencies(8.0)
        finally:
            stalled.kill()
            stalled.wait()
        after = self._latencies(8.0)
        for topic in OUTPUTS.values():
            print(f"{topic}: messages in 8 s {len(before[topic])} before, {len(during[topic])} with a hung "
                  f"subscriber, {len(after[topic])} after; median latency {1e3 * np.median(before[topic]):.0f}, "
                  f"{1e3 * np.median(during[topic]):.0f}, {1e3 * np.median(after[topic]):.0f} ms; "
                  f"load {os.getloadavg()[0]:.1f}")
        for topic in OUTPUTS.values():
            count = min(len(before[topic]), len(after[topic]))
            slower = np.median(during[topic]) - max(np.median(before[topic]), np.median(after[topic]))
            self.assertGreaterEqual(len(during[topic]), count / 2, f"{topic}: the rate fell with a hung subscriber")
            self.assertLess(slower, 0.5, f"{topic}: latency grew by {slower:.2f} s with a hung subscriber")

    def test_the_clock_jumping_back_and_ahead_is_counted_and_every_stage_goes_on(self):
        jumps = {name: self._settled("temporal_node", f"event: clock_jumped_{name}", time.monotonic()) or 0
                 for name in ("back", "forward")}
        # A bag played in a loop (back to before the first stamp this test sent, so that stamps stay unique),
        # then a simulation skipping ahead.
        for name, jump_s in (("back", START_S / 2 - self.sim_ns / 1e9), ("forward", 300.0)):
            self.__class__.sim_ns += round(jump_s * 1e9)
            jumped = time.monotonic()
            self._flowing(60.0)
            self.assertEqual(self._settled("temporal_node", f"event: clock_jumped_{name}", time.monotonic()),
                             jumps[name] + 1, f"the clock jumping {name} is not counted")
            for kind in STAGES:  # the diagnostic updaters' timers (sim time) go on
                self.assertIsNotNone(self._diagnostics(kind, jumped), f"{kind}: no diagnostics after the jump")


@launch_testing.post_shutdown_test()
class TestNodesEndCleanly(unittest.TestCase):
    def test_every_node_ends_on_sigint_with_exit_0_and_no_traceback(self, proc_info, proc_output):
        launch_testing.asserts.assertExitCodes(proc_info)
        for output in proc_output:
            text = output.text.decode(errors="replace")
            self.assertNotIn("Traceback", text, f"{output.process_name}: {text[-2000:]}")
