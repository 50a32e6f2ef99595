
"""The nodes' decisions that need no ROS: parameters, QoS, diagnostics statistics, frame hand-off, cameras,
REP-155 body frames and the regrouping of the temporal stage's output."""

import logging
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from ruamel.yaml import YAML
from scipy.spatial.transform import Rotation

from pose3d_ros.camera import default_intrinsics
from pose3d_ros.node_logic.camera_attitude import CameraAttitude, up_from_parameters
from pose3d_ros.node_logic.camera_info import CameraInfoWatch, camera_matrix, undistort_keypoints
from pose3d_ros.node_logic.core_logs import forward_core_logs
from pose3d_ros.node_logic.diagnostics import ERROR, OK, WARN, StageMonitor
from pose3d_ros.node_logic.launch_config import LAUNCH_FILES, included_arguments, is_true, launch_parameters
from pose3d_ros.node_logic.parameters import (
    PARAMETERS,
    check_parameter,
    file_parameters,
    parameter_defaults,
    parameter_update_error,
)
from pose3d_ros.node_logic.processing import LatestSlot
from pose3d_ros.node_logic.qos import QosSettings, qos_mismatch_hint, qos_settings
from pose3d_ros.node_logic.rep155 import body_frame, hri_body_id
from pose3d_ros.node_logic.temporal_frames import TemporalFrames
from pose3d_ros.skeleton import H36M17, WHOLEBODY133, JointStatus
from pose3d_ros.temporal.streaming import RefinedPose

PACKAGE = Path(__file__).resolve().parents[1]
REPO = PACKAGE.parent


def rotation_of(q):
    x, y, z, w = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


# ------------------------------------------------------------------------------------------------
# Parameters
# ------------------------------------------------------------------------------------------------


def test_pipeline_yaml_holds_every_parameter_with_its_default():
    config = YAML(typ="safe").load((PACKAGE / "config" / "pipeline.yaml").read_text())
    assert set(config) == set(PARAMETERS)
    for node, specs in PARAMETERS.items():
        params = config[node]["ros__parameters"]
        flat = {}
        for key, value in params.items():  # nested YAML maps are dotted ROS parameter names
            if isinstance(value, dict):
                flat.update({f"{key}.{sub}": v for sub, v in value.items()})
            else:
                flat[key] = value
        defaults = parameter_defaults(node)
        assert set(flat) == set(defaults), node
        for name, default in defaults.items():  # NaN (camera_pitch_deg: unknown) equals nothing, not even itself
            assert flat[name] == default or (default != default and flat[name] != flat[name]), f"{node}.{name}"
        for spec in specs:
            assert type(flat[spec.name]) is type(spec.default), f"{node}.{spec.name} has the wrong YAML type"


def test_docs_table_lists_every_parameter():
    docs = (REPO / "docs" / "ros.md").read_text()
    for node, specs in PARAMETERS.items():
        section = docs.split(f"### {node}")[1].split("###")[0]
        for spec in specs:
            assert f"| `{spec.name}` | {spec.type_name} |" in section, f"{node}: {spec.name} is not documented"


def test_camera_attitude_from_parameters_or_tf():
    """lifter_node's up direction: the pitch/roll parameters (NaN pitch = unknown), or a TF lookup per frame whose
    failures lift without it, warn once and are counted."""
    from pose3d_ros.camera import up_from_pitch_roll

    assert up_from_parameters(float("nan"), 0.0) is None
    np.testing.assert_allclose(up_from_parameters(35.0, 2.0), up_from_pitch_roll(35.0, 2.0))
    with pytest.raises(ValueError, match="camera_roll_deg"):
        up_from_parameters(10.0, float("nan"))
    fixed = CameraAttitude("", 20.0, 0.0)
    np.testing.assert_allclose(fixed.up(), up_from_pitch_roll(20.0))
    assert CameraAttitude("", float("nan"), 0.0).up() is None
    tf = CameraAttitude("base_link", 20.0, 0.0)  # the frame wins over the parameters
    level = Rotation.from_matrix([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]).as_quat()  # x, y, z, w
    np.testing.assert_allclose(tf.up(level), [0.0, -1.0, 0.0], atol=1e-9)
    assert tf.warning is None and tf.failures == 0
    assert tf.up(failure="lookup would require extrapolation into the future") is None
    assert "base_link" in tf.warning and "extrapolation" in tf.warning and tf.failures == 1
    assert tf.up(failure="again") is None and tf.warning is None and tf.failures == 2  # logged once, counted
    np.testing.assert_allclose(tf.up(level), [0.0, -1.0, 0.0], atol=1e-9)


def test_check_parameter():
    assert check_parameter("lifter_node", "conf_threshold", 1) == 1.0
    with pytest.raises(ValueError, match="must be one of movenet, holistic, tasks"):
        check_parameter("keypoints2d_node", "backend", "openpose")
    with pytest.raises(ValueError, match="must be a bool"):
        check_parameter("lifter_node", "flip_test", "yes")
    with pytest.raises(ValueError, match="unknown node"):
        parameter_defaults("detector_node")


def test_doubles_take_integers_and_updates_are_checked_like_the_params_file():
    """rclpy refuses an INTEGER for a DOUBLE parameter (``-p movenet.feet_per_frame:=1`` killed the node at start-up):
    the doubles are declared with dynamic typing, and every update goes through check_parameter instead.
    """
    specs = [(node, spec) for node, specs in PARAMETERS.items() for spec in specs]
    dynamic = {(node, spec.name) for node, spec in specs if spec.dynamic_typing}
    assert dynamic == {(node, spec.name) for node, spec in specs if spec.type_name == "double"}
    assert {("keypoints2d_node", "movenet.feet_per_frame"), ("video_source_node", "fps")} <= dynamic
    assert ("keypoints2d_node", "movenet.parts_per_frame") not in dynamic  # an int stays an int
    error = parameter_update_error
    assert error("keypoints2d_node", "movenet.feet_per_frame", 1) is None
    value = check_parameter("keypoints2d_node", "movenet.feet_per_frame", 1)
    assert value == 1.0 and type(value) is float
    assert "movenet.feet_per_frame must be a double, got 'half'" in error("keypoints2d_node", "movenet.feet_per_frame",
                                                                           "half")
    assert "must be a int" in error("keypoints2d_node", "movenet.parts_per_frame", 2.5)
    assert "must be one of" in error("keypoints2d_node", "backend", "openpose")
    assert error("keypoints2d_node", "diagnostic_updater.period", 2) is None  # declared by diagnostic_updater


def test_parameters_refuse_values_that_would_fail_deep_in_a_stage():
    """Regression (fuzzing params files): .inf, .nan, 0 CPU threads, depth 0, a negative look-ahead and ints beyond
    int64 were accepted, and failed later with another error (torch's RuntimeError for 0 threads) or not at all
    (a timeout of NaN never expires)."""
    for node, name, value, match in [("lifter_node", "camera_info_timeout_s", float("nan"), "finite double"),
                                     ("lifter_node", "markers.lifetime_s", float("inf"), "finite double"),
                                     ("lifter_node", "cpu_threads", 0, "at least 1"),
                                     ("lifter_node", "cpu_threads", 10**30, "int64"),
                                     ("lifter_node", "qos.depth", 0, "at least 1 and at most 10"),
                                     ("temporal_node", "lookahead", -1, "at least 0"),
                                     ("lifter_node", "diagnostics.window_s", 0.0, "above 0"),
                                     ("video_source_node", "horizontal_fov_deg", 180.0, "at most 179")]:
        with pytest.raises(ValueError, match=match):
            check_parameter(node, name, value)
    assert check_parameter("temporal_node", "lookahead", 0) == 0
    assert check_parameter("lifter_node", "diagnostics.max_drop_ratio", 1) == 1.0


def test_params_file_errors_are_value_errors_that_name_the_file(tmp_path):
    """Regression (fuzzing params files): an alias inside its own anchor or deep nesting raised RecursionError; a
    section that is a scalar (lifter_node: 0) was silently ignored."""
    from pose3d_ros.pipeline.core import PipelineSettings

    path = tmp_path / "params.yaml"
    for text, match in [("lifter_node: &a {ros__parameters: {x: *a}}", "refer to themselves"),
                        ("a: " + "[" * 600 + "]" * 600, "nested too deeply"),
                        ("lifter_node: 0", "must hold a ros__parameters mapping"),
                        ("temporal_node: {ros__parameters: {lookahead: -2}}", "lookahead must be at least 0")]:
        path.write_text(text)
        with pytest.raises(ValueError, match=match) as caught:
            PipelineSettings.from_params_file(path)
        assert str(caught.value).startswith(str(path))


# ------------------------------------------------------------------------------------------------
# QoS and device
# ------------------------------------------------------------------------------------------------


def test_qos_settings_validation():
    assert qos_settings("best_effort", 1) == QosSettings("best_effort", 1)
    with pytest.raises(ValueError, match="best_effort or reliable"):
        qos_settings("sensor", 1)
    with pytest.raises(ValueError, match="between 1 and 10"):
        qos_settings("reliable", 0)
    with pytest.raises(ValueError, match="only adds latency"):
        qos_settings("reliable", 100)
    assert "set qos.reliability to best_effort" in qos_mismatch_hint("RELIABILITY", "reliable")
    assert "DEADLINE" in qos_mismatch_hint("DEADLINE", "best_effort")


def test_core_logs_reach_the_node_logger_at_their_level():
    class Recorder:
        """A node logger with rclpy's rule: a call site keeps the severity of its first call."""

        def __init__(self):
            self.lines, self.sites = [], {}

        def __getattr__(self, level):
            def log(message):
                caller = sys._getframe(1)
                if self.sites.setdefault((caller.f_code, caller.f_lineno, caller.f_lasti), level) != level:
                    raise ValueError("Logger severity cannot be changed between calls.")
                self.lines.append((level, message))
            return log

    recorder = Recorder()
    # The core's module loggers exist before a node forwards them; one made after `import launch` (a LaunchLogger,
    # as in colcon test's pytest process) does not propagate, and forwarding must still reach it.
    lifting, streaming = logging.getLogger("pose3d_ros.lifting"), logging.getLogger("pose3d_ros.temporal.streaming")
    streaming.propagate = False
    handler = forward_core_logs(recorder)
    try:
        lifting.warning("CUDA was requested but is not available; running %s", "here")
        streaming.info("person %d given up", 3)
        lifting.error("a frame failed")
        logging.getLogger("pose3d_ros.pipeline.stopping").warning("SIGINT: stopping")
        logging.getLogger("pose3d_ros.x").debug("not at INFO")
        logging.getLogger("other").warning("not ours")
    finally:
        core = logging.getLogger("pose3d_ros")
        core.removeHandler(handler)
        core.propagate = True
        core.setLevel(logging.NOTSET)
        streaming.propagate = True
    assert recorder.lines == [
        ("warning", "pose3d_ros.lifting: CUDA was requested but is not available; running here"),
        ("info", "pose3d_ros.temporal.streaming: person 3 given up"),
        ("error", "pose3d_ros.lifting: a frame failed"),
        ("warning", "pose3d_ros.pipeline.stopping: SIGINT: stopping"),
    ]


# ------------------------------------------------------------------------------------------------
# Frame hand-off and statistics
# ------------------------------------------------------------------------------------------------


def test_latest_slot_keeps_the_newest_frame_and_counts_drops():
    slot = LatestSlot()
    assert slot.put(1) is False and slot.put(2) is True and slot.put(3) is True
    assert slot.dropped == 2 and slot.take(0.1) == 3
    assert slot.take(0.01) is None
    waiter = []
    thread = threading.Thread(target=lambda: waiter.append(slot.take(5.0)))
    thread.start()
    time.sleep(0.05)
    slot.close()
    thread.join(1.0)
    assert waiter == [None] and not thread.is_alive()
    slot.reopen()
    slot.put(4)
    assert slot.take(0.1) == 4


def test_stage_monitor_rates_latency_and_levels():
    monitor = StageMonitor(window_s=5.0, max_latency_s=0.1, max_drop_ratio=0.25, stale_s=1.0)
    for k in range(50):  # 10 Hz in, every other frame dropped, 40 ms latency
        monitor.record_input(now=100.0 + 0.1 * k)
        if k % 2:
            monitor.record_drop(now=100.0 + 0.1 * k)
        else:
            monitor.record_output(0.04, now=100.0 + 0.1 * k + 0.04)
    report = monitor.report(now=105.0)
    assert report.values["input rate (Hz)"] == "10.00" and report.values["output rate (Hz)"] == "5.00"
    assert report.values["mean latency (ms)"] == "40.0" and report.values["dropped in window"] == "25"
    assert report.level == WARN and "dropping 25 of 50 frames" in report.message
    assert monitor.report(now=105.0, active=False).level == OK
    assert monitor.report(now=107.0).message == "no input for more than 1 s"
    quiet = StageMonitor(window_s=1.0, max_latency_s=0.1)
    quiet.record_input(now=0.0)
    quiet.record_output(0.3, now=0.3)
    assert quiet.report(now=0.5).level == WARN and "latency 300 ms exceeds 100 ms" in quiet.report(now=0.5).message
    quiet.record_error("bad layout", now=0.6)
    report = quiet.report(now=0.7)
    assert report.level == ERROR and "bad layout" in report.message and report.values["total errors"] == "1"
    healthy = StageMonitor()
    healthy.record_input(now=1.0)
    healthy.record_output(0.01, now=1.01)
    assert healthy.report(now=1.5).level == OK
    with pytest.raises(ValueError):
        StageMonitor(max_drop_ratio=2.0)


# ------------------------------------------------------------------------------------------------
# Cameras
# ------------------------------------------------------------------------------------------------


def test_camera_matrix_from_camera_info():
    k = [500.0, 0, 320, 0, 510.0, 240, 0, 0, 1]
    matrix, defaulted = camera_matrix(k, 640, 480)
    assert not defaulted and matrix[1, 1] == 510.0
    matrix, defaulted = camera_matrix([0.0] * 9, 640, 480)
    assert defaulted
    np.testing.assert_array_equal(matrix, default_intrinsics(640, 480))
    with pytest.raises(ValueError, match="neither intrinsics nor an image size"):
        camera_matrix([0.0] * 9, 0, 0)


@pytest.mark.parametrize("model, distortion", [
    ("plumb_bob", [-0.25, 0.08, 0.001, -0.002, 0.0]),
    ("rational_polynomial", [-0.2, 0.05, 0.0, 0.001, 0.0, 0.01, 0.0, 0.0]),
    ("equidistant", [0.05, -0.01, 0.002, 0.0]),
])
def test_undistort_keypoints_inverts_the_camera_distortion(model, distortion):
    K = np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]])
    rng = np.random.default_rng(3)
    points = np.c_[rng.uniform(-0.4, 0.4, (20, 2)), np.ones(20)] * rng.uniform(2, 5, (20, 1))
    ideal = (points @ K.T)[:, :2] / points[:, 2:]
    zero = np.zeros(3)
    if model == "equidistant":
        raw, _ = cv2.fisheye.projectPoints(points.reshape(-1, 1, 3), zero, zero, K, np.array(distortion))
    else:
        raw, _ = cv2.projectPoints(points, zero, zero, K, np.array(distortion))
    assert np.abs(raw.reshape(-1, 2) - ideal).max() > 2.0  # the distortion matters
    out = undistort_keypoints(raw.reshape(2, 10, 2), K, distortion, model)
    assert out.shape == (2, 10, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out.reshape(-1, 2), ideal, atol=0.05)


def test_camera_info_watch_waits_then_warns_once():
    watch = CameraInfoWatch(timeout_s=2.0)
    assert watch.image(10.0) == "wait" and watch.image(11.9) == "wait" and watch.warning is None
    assert watch.image(12.0) == "without_info" and "no CameraInfo for 2 s" in watch.warning
    assert watch.image(12.1) == "without_info" and watch.warning is None  # warned once
    watch.info(12.2)
    assert watch.image(12.3) == "with_info" and watch.image(14.2) == "with_info"
    # CameraInfo stopped: once it is older than the timeout, go on without it and warn again.
    assert watch.image(14.3) == "without_info" and watch.warning is not None


def test_camera_info_watch_waits_again_for_images_that_come_back_after_a_pause():
    """A paused bag: the first image after the pause comes just before its CameraInfo. Going on without it would
    enqueue that image alone and again when the synchronizer pairs it (processed twice, one stamp published twice).
    """
    watch = CameraInfoWatch(timeout_s=2.0)
    watch.info(10.0)
    assert watch.image(10.0) == "with_info"
    assert watch.image(30.0) == "wait" and watch.warning is None  # back after 20 s: its CameraInfo may follow
    watch.info(30.01)
    assert watch.image(30.2) == "with_info"
    assert watch.image(60.0) == "wait" and watch.image(61.9) == "wait"  # back again, and CameraInfo stopped
    assert watch.image(62.0) == "without_info" and "no CameraInfo" in watch.warning


def test_undistort_without_distortion_or_with_unknown_model():
    kp = np.ones((1, 3, 2), np.float32)
    np.testing.assert_array_equal(undistort_keypoints(kp, np.eye(3), [0.0] * 5, "plumb_bob"), kp)
    with pytest.raises(ValueError, match="'fov' is not supported"):
        undistort_keypoints(kp, np.eye(3), [0.1], "fov")


# ------------------------------------------------------------------------------------------------
# REP-155 body frame
# ------------------------------------------------------------------------------------------------


def test_body_frame_of_a_person_facing_the_camera():
    """Optical frame: x right, y down, z forward. A person 3 m away facing the camera has their left on +x."""
    positions = np.zeros((133, 3))
    positions[[11, 12, 5, 6]] = [[0.1, 0.0, 3.0], [-0.1, 0.0, 3.0], [0.2, -0.5, 3.0], [-0.2, -0.5, 3.0]]
    origin, q = body_frame(positions, WHOLEBODY133)
    np.testing.assert_allclose(origin, [0, 0, 3])
    axes = rotation_of(q)
    np.testing.assert_allclose(axes[:, 0], [0, 0, -1], atol=1e-12)  # x out of the chest, towards the camera
    np.testing.assert_allclose(axes[:, 1], [1, 0, 0], atol=1e-12)  # y to the person's left
    np.testing.assert_allclose(axes[:, 2], [0, -1, 0], atol=1e-12)  # z towards the head (up = -y)
    h36m = np.zeros((17, 3))
    h36m[[4, 1, 11, 14]] = positions[[11, 12, 5, 6]]
    np.testing.assert_allclose(body_frame(h36m, H36M17)[1], q)
    assert body_frame(np.zeros((133, 3)), WHOLEBODY133) is None
    assert hri_body_id(12) == "b12"


# ------------------------------------------------------------------------------------------------
# Temporal stage regrouping
# ------------------------------------------------------------------------------------------------


class DelayByOneFrame:
    """A stand-in refiner with a look-ahead of one frame (the real one is tested by its engineer): push_frame
    returns each person's previous frame, and a person missing from a frame releases theirs."""

    lookahead = 1

    def __init__(self):
        self.held = {}
        self.calls = []

    def push_frame(self, stamp_s, person_ids, positions, confidence, status):
        self.calls.append((stamp_s, list(person_ids)))
        out = [self.held.pop(p) for p in list(self.held) if p not in person_ids]
        for i, person_id in enumerate(person_ids):
            if person_id in self.held:
                out.append(self.held[person_id])
            self.held[person_id] = RefinedPose(person_id, stamp_s, positions[i] + 1.0, confidence[i], status[i] + 2)
        return out

    def flush(self):
        out = list(self.held.values())
        self.held.clear()
        return out


def test_temporal_frames_regroup_by_exact_stamp_with_frame_and_error():
    refiner = DelayByOneFrame()
    frames = TemporalFrames(refiner, num_joints=17)
    base = 1_700_000_000_000_000_001  # odd nanoseconds that a float of seconds since 1970 would lose
    period = 33_333_333
    ones = np.ones((2, 17))

    def frame(k, ids):
        people = len(ids)
        return frames.push(base + k * period, f"cam{k}", np.array(ids), np.full((people, 17, 3), float(k)),
                           ones[:people], np.full((people, 17), 0.01 * (k + 1)), np.ones((people, 17), np.uint8))

    assert frame(0, [5, 2]) == []
    (out,) = frame(1, [2, 5])
    assert out.stamp_ns == base and out.frame_id == "cam0"
    np.testing.assert_array_equal(out.person_ids, [2, 5])
    np.testing.assert_array_equal(out.positions, np.full((2, 17, 3), 1.0))
    np.testing.assert_allclose(out.error, 0.01)  # the lifter's error of that stamp
    np.testing.assert_array_equal(out.status, 3)
    assert refiner.calls[1] == (pytest.approx(period / 1e9), [2, 5])  # seconds since the first frame
    (out,) = frame(2, [2])  # person 5 left: its last pose comes out with person 2's
    assert out.stamp_ns == base + period and list(out.person_ids) == [2, 5]
    (last,) = frames.flush()
    assert last.stamp_ns == base + 2 * period and list(last.person_ids) == [2] and last.frame_id == "cam2"
    assert frame(3, []) == []
    (nobody,) = frame(0, [7])  # stamps may jump back (a replayed bag): the refiner handles it, stamps stay exact
    assert nobody.stamp_ns == base + 3 * period and nobody.frame_id == "cam3" and nobody.positions.shape == (0, 17, 3)
    (replayed,) = frames.flush()
    assert replayed.stamp_ns == base and replayed.frame_id == "cam0" and list(replayed.person_ids) == [7]



def push_person(frames, stamp_ns, people=1):
    return frames.push(stamp_ns, "cam", np.arange(people), np.ones((people, 17, 3)), np.ones((people, 17)),
                       np.full((people, 17), 0.01), np.ones((people, 17), np.uint8))


def test_temporal_frames_skip_a_duplicate_stamp_and_count_it():
    """Regression (fuzzing): a stamp given twice came out twice, first with nobody, then with the person."""
    frames = TemporalFrames(DelayByOneFrame(), num_joints=17)
    out = []
    for stamp in (0, 40, 40, 80, 80, 120):
        out += push_person(frames, stamp * 1_000_000)
    out += frames.flush()
    assert [(frame.stamp_ns // 1_000_000, len(frame.person_ids)) for frame in out] == [(0, 1), (40, 1), (80, 1),
                                                                                        (120, 1)]
    assert frames.events["duplicate_stamp"] == 2


def test_temporal_frames_reset_on_clock_jumps_and_keep_stamps_exact():
    """Regression (fuzzing): after a jump from stamp 0 to the epoch, seconds since the first frame lost nanoseconds,
    so every refined pose came out under a wrong stamp beside an empty frame of the right one. A jump either way
    now flushes what is held and restarts the seconds; both are counted."""
    frames = TemporalFrames(DelayByOneFrame(), num_joints=17)
    epoch = 1_700_000_000_123_456_789
    stamps = [0, epoch, epoch + 40_000_001, epoch + 300 * 10**9, epoch + 300 * 10**9 + 1, 7, 8]
    out = []
    for stamp in stamps:
        out += push_person(frames, stamp)
    out += frames.flush()
    assert [frame.stamp_ns for frame in out] == stamps
    assert all(len(frame.person_ids) == 1 for frame in out)
    assert frames.events["clock_jumped_forward"] == 2 and frames.events["clock_jumped_back"] == 1


def test_a_person_the_refiner_answers_early_waits_for_the_others_of_that_stamp():
    """Regression (fuzzing): a person dropped by the refiner (max_people, a long absence) has their pending frames
    answered at once; their stamps came out at once, and the other people's poses of those stamps came out again
    later under the same stamps."""
    class DropsPersonNineEarly(DelayByOneFrame):
        lookahead = 2

        def push_frame(self, stamp_s, person_ids, positions, confidence, status):
            early = [RefinedPose(9, stamp_s, positions[0], confidence[0], status[0])] if 9 in person_ids else []
            return early + super().push_frame(stamp_s, [p for p in person_ids if p != 9], positions, confidence,
                                              status)

    frames = TemporalFrames(DropsPersonNineEarly(), num_joints=17)
    out = []
    for k in range(4):
        out += frames.push(k, "cam", np.array([1, 9]), np.ones((2, 17, 3)), np.ones((2, 17)), np.zeros((2, 17)),
                           np.ones((2, 17), np.uint8))
    out += frames.flush()
    assert [frame.stamp_ns for frame in out] == [0, 1, 2, 3]
    assert [frame.person_ids.tolist() for frame in out] == [[1, 9]] * 4


def test_every_input_frame_comes_out_once_in_order_without_people_when_nobody_is_refined():
    class Silent:  # nobody tracked, or every joint MISSING: the refiner returns nothing
        lookahead = 2

        def push_frame(self, stamp_s, person_ids, positions, confidence, status):
            return []

        def flush(self):
            return []

    frames = TemporalFrames(Silent(), num_joints=17)
    nobody = (np.zeros(0, np.int64), np.zeros((0, 17, 3)), np.zeros((0, 17)), np.zeros((0, 17)),
              np.zeros((0, 17), np.uint8))
    out = [frames.push(100 + k, f"cam{k}", *nobody) for k in range(5)]
    assert [[frame.stamp_ns for frame in due] for due in out] == [[], [], [100], [101], [102]]
    for frame in (frame for due in out for frame in due):
        assert frame.frame_id == f"cam{frame.stamp_ns - 100}"
        assert frame.positions.shape == (0, 17, 3) and frame.error.shape == frame.status.shape == (0, 17)
    assert [frame.stamp_ns for frame in frames.flush()] == [103, 104]
    assert frames.flush() == []


def test_with_the_shipped_refiner_a_person_who_leaves_is_filled_then_frames_have_nobody():
    temporal = pytest.importorskip("pose3d_ros.temporal")
    refiner = temporal.StreamingRefiner.load(None, lookahead=4, max_gap=10, device="cpu")
    frames = TemporalFrames(refiner, num_joints=133)
    pose = np.random.default_rng(0).normal(0.0, 0.3, (133, 3)).astype(np.float32) + [0.0, 0.0, 3.0]
    period, out = 200_000_000, []
    for k in range(30):
        people = 1 if k < 8 or k >= 20 else 0  # present, away for 12 frames (2.4 s), back
        out += frames.push(k * period, "cam", np.zeros(people, np.int64), np.repeat(pose[None], people, 0),
                           np.full((people, 133), 0.9), np.full((people, 133), 0.05), np.ones((people, 133), np.uint8))
    out += frames.flush()
    assert [frame.stamp_ns for frame in out] == [k * period for k in range(30)]  # each input frame once, in order
    kinds = [tuple(np.unique(frame.status)) for frame in out]
    assert kinds[:8] == [(JointStatus.REFINED,)] * 8 and kinds[20:] == [(JointStatus.REFINED,)] * 10
    assert kinds[8] == (JointStatus.FILLED,) and () in kinds[8:20]  # filled at first, then nobody
    assert all(np.isnan(frame.error).all() for frame in out[8:20])


def test_with_the_shipped_refiner_a_person_who_leaves_while_another_stays_splits_no_frame():
    """Several people: the refiner releases the pending poses of a person it drops (1 s unseen) at once, before the
    other people's poses of the same stamps; each stamp must still come out once, in order, with everyone.
    """
    temporal = pytest.importorskip("pose3d_ros.temporal")
    refiner = temporal.StreamingRefiner.load(None, lookahead=4, max_gap=10, device="cpu")
    frames = TemporalFrames(refiner, num_joints=133)
    pose = np.random.default_rng(0).normal(0.0, 0.3, (133, 3)).astype(np.float32) + [0.0, 0.0, 3.0]
    period, out = 200_000_000, []
    for k in range(30):
        ids = [0, 1] if k < 8 or k >= 16 else [0]  # person 1 away for 8 frames (1.6 s), person 0 stays
        people = len(ids)
        out += frames.push(k * period, "cam", np.array(ids), pose + np.arange(people)[:, None, None],
                           np.full((people, 133), 0.9), np.full((people, 133), 0.05),
                           np.ones((people, 133), np.uint8))
    out += frames.flush()
    assert [frame.stamp_ns for frame in out] == [k * period for k in range(30)]  # each input frame once, in order
    assert all(0 in frame.person_ids for frame in out)
    present = [1 in frame.person_ids for frame in out]
    assert present[:8] == [True] * 8 and present[16:] == [True] * 14  # filled for a while in between, then gone
    assert not all(present[8:16])


def test_a_person_filled_in_where_the_lifter_had_none_has_an_unknown_error():
    class FillsPersonNine:
        def push_frame(self, stamp_s, person_ids, positions, confidence, status):
            return [RefinedPose(9, stamp_s, positions[0], confidence[0], np.full(17, 4, np.uint8)),
                    RefinedPose(2, stamp_s, positions[0], confidence[0], status[0])]

    frames = TemporalFrames(FillsPersonNine(), num_joints=17)
    (out,) = frames.push(1000, "cam", np.array([2]), np.zeros((1, 17, 3)), np.ones((1, 17)),
                         np.full((1, 17), 0.02), np.ones((1, 17), np.uint8))
    np.testing.assert_array_equal(out.person_ids, [2, 9])
    np.testing.assert_allclose(out.error[0], 0.02)
    assert np.isnan(out.error[1]).all()

def test_temporal_parameter_defaults_are_the_refiner_defaults():
    streaming = pytest.importorskip("pose3d_ros.temporal.streaming")
    defaults = parameter_defaults("temporal_node")
    assert defaults["lookahead"] == streaming.DEFAULT_LOOKAHEAD
    assert defaults["max_gap"] == streaming.DEFAULT_MAX_GAP


# ------------------------------------------------------------------------------------------------
# Launch files
# ------------------------------------------------------------------------------------------------


def shipped_params():
    return YAML(typ="safe").load((PACKAGE / "config" / "pipeline.yaml").read_text())


def test_file_parameters_flatten_nested_maps_and_apply_the_wildcard_section_first():
    document = {"/**": {"ros__parameters": {"qos": {"depth": 2}, "device": "cpu"}},
                "lifter_node": {"ros__parameters": {"device": "cuda", "markers": {"enabled": False}}}}
    assert file_parameters(document, "lifter_node") == {"qos.depth": 2, "device": "cuda",
                                                                   "markers.enabled": False}
    assert file_parameters(document, "temporal_node") == {"qos.depth": 2, "device": "cpu"}
    assert file_parameters({}, "lifter_node") == {}


def test_launch_arguments_override_the_params_file_only_when_given():
    document = shipped_params()
    video = launch_parameters(document, "video_source_node", {"source": "clip.mp4", "loop": "true"})
    assert video["source"] == "clip.mp4" and video["loop"] is True and video["fps"] == 0.0
    assert launch_parameters(document, "video_source_node", {"source": "0", "loop": ""})["loop"] is False
    lifter = launch_parameters(document, "lifter_node", {"device": ""})
    assert lifter["device"] == "auto" and lifter["qos.depth"] == 1
    assert launch_parameters(document, "temporal_node", {"device": "cuda:1"})["device"] == "cuda:1"
    with pytest.raises(ValueError, match="unknown node"):
        launch_parameters(document, "rviz", {})


def test_namespaced_launches_give_every_node_a_namespaced_diagnostics_name():
    document = shipped_params()
    for node in PARAMETERS:
        assert launch_parameters(document, node, {"namespace": "cell_a"})["diagnostic_updater.use_fqn"] is True
        assert "diagnostic_updater.use_fqn" not in launch_parameters(document, node, {"namespace": ""})


def test_launch_parameters_reject_a_bad_params_file_and_make_ints_doubles():
    document = {"lifter_node": {"ros__parameters": {"conf_threshold": 1, "qos": {"reliability": "sometimes"}}}}
    with pytest.raises(ValueError, match="qos.reliability must be one of best_effort, reliable"):
        launch_parameters(document, "lifter_node", {})
    document["lifter_node"]["ros__parameters"]["qos"]["reliability"] = "reliable"
    parameters = launch_parameters(document, "lifter_node", {})
    assert type(parameters["conf_threshold"]) is float  # ROS refuses an integer for a double parameter


@pytest.mark.parametrize("use_temporal, owner", [("true", "temporal_node"), ("false", "lifter_node")])
def test_rep155_output_has_one_owner_the_last_stage(use_temporal, owner):
    document = shipped_params()
    document["lifter_node"]["ros__parameters"]["hri"]["enabled"] = True  # a file enabling it on the lifter
    for hri, expected in (("", True), ("true", True), ("false", False)):
        arguments = {"use_temporal": use_temporal, "hri": hri}
        enabled = {node: launch_parameters(document, node, arguments)["hri.enabled"]
                   for node in ("lifter_node", "temporal_node")}
        assert enabled == {"lifter_node": expected and owner == "lifter_node",
                           "temporal_node": expected and owner == "temporal_node"}, (use_temporal, hri)
    assert not any(launch_parameters(shipped_params(), node, {"hri": ""})["hri.enabled"]
                   for node in ("lifter_node", "temporal_node"))


@pytest.mark.parametrize("use_temporal, owner", [("true", "temporal_node"), ("false", "lifter_node")])
def test_output_frame_goes_to_the_last_stage_only(use_temporal, owner):
    document = shipped_params()
    document["lifter_node"]["ros__parameters"]["output_frame"] = "map"  # a file setting it on the lifter
    for argument, expected in (("", "map"), ("base_link", "base_link")):
        arguments = {"use_temporal": use_temporal, "output_frame": argument}
        frames = {node: launch_parameters(document, node, arguments)["output_frame"]
                  for node in ("lifter_node", "temporal_node")}
        assert frames == {node: expected if node == owner else "" for node in frames}, (use_temporal, argument)


def test_the_video_sources_world_frame_becomes_the_lifters_gravity_frame():
    document = shipped_params()
    video = document["video_source_node"]["ros__parameters"]
    video["tf"]["world_frame"] = "world"
    arguments = {name: "" for name in LAUNCH_FILES["pipeline.launch.py"]}

    def gravity_frame(**given):
        included = dict(included_arguments("skeletons.launch.py", {**arguments, **given}, document))
        return launch_parameters(document, "lifter_node", included)["gravity_frame"]

    assert gravity_frame(source="clip.mp4") == "world"
    assert gravity_frame(source="clip.mp4", gravity_frame="base_link") == "base_link"  # the argument wins
    assert gravity_frame() == ""  # a camera driver's topics: its TF, not the video source's
    video["tf"]["enabled"] = False
    assert gravity_frame(source="clip.mp4") == ""  # the video source publishes no such frame


def test_is_true():
    assert all(is_true(word) for word in ("true", "True", "1", "yes", " on "))
    assert not any(is_true(word) for word in ("false", "0", "", "no"))
