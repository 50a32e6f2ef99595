"""The nodes under fault, in the core (node_logic): garbage and mis-sized messages, a publisher flooding at 200 Hz, a
subscriber that never reads, a clock that jumps. What needs ROS to test for real (DDS queues, rclpy's executor, sim
time) is named in each test and run by test_faults_launch.py and test_signals_launch.py.
"""

import threading
import time
from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pose3d_ros.keypoints2d.tracking import PersonTracker
from pose3d_ros.messages import load_message_types, make_header, wholebody2d_array, wholebody2d_to_numpy
from pose3d_ros.node_logic.diagnostics import WARN, StageMonitor
from pose3d_ros.node_logic.parameters import check_parameter
from pose3d_ros.node_logic.processing import LatestSlot, StageLoop, clean_up_steps, error_kind
from pose3d_ros.node_logic.qos import OUTPUT_QOS_SETTINGS
from pose3d_ros.node_logic.temporal_frames import TemporalFrames
from pose3d_ros.pipeline.sources import _RAW_ENCODINGS, image_from_ros
from pose3d_ros.skeleton import JointStatus
from pose3d_ros.temporal.streaming import StreamingRefiner

TYPES = load_message_types()


def keypoints_message(person_id=0, joints=133, stamp_ns=0):
    msg = wholebody2d_array(TYPES, make_header(TYPES, stamp_ns, "cam"), np.ones((1, 133, 2)), np.full((1, 133), 0.5),
                            [person_id], (640, 480))
    msg.people[0].keypoints = msg.people[0].keypoints[: joints * 2]
    return msg


def test_garbage_messages_are_skipped_counted_and_logged_once_per_kind():
    """What lifter_node does with each WholeBody2DArray: its conversion raises ValueError for a bad one."""
    logged, processed = [], []
    monitor = StageMonitor()
    loop = StageLoop(lambda msg: processed.append(wholebody2d_to_numpy(msg)) or True, monitor, logged.append)
    short = [keypoints_message(person_id=k, joints=100 + k) for k in range(5)]  # five lengths, one kind
    nan = keypoints_message()
    nan.people[0].confidence[3] = np.nan
    for msg in [keypoints_message(), *short, nan, nan, keypoints_message()]:
        loop.submit(msg)
        assert loop.step(timeout=0)
    assert len(processed) == 2 and monitor.total_errors == 7 and monitor.total_outputs == 2
    assert len(logged) == 2 and "keypoints has 200 values" in logged[0] and "NaN" in logged[1]
    assert sorted(monitor.errors_by_kind.values()) == [2, 5]
    report = monitor.report()
    assert report.level == 2 and "7 frames failed" in report.message  # ERROR while frames fail
    assert report.values["errors: ValueError: WholeBody2D of person #: keypoints has # values, expected #"] == "5"
    assert error_kind(ValueError("person 12: -3.5e+07 m")) == "ValueError: person #: # m"


@settings(max_examples=300, deadline=None, database=None)
@given(encoding=st.sampled_from([*_RAW_ENCODINGS, "jpeg", "BGR8", ""]), width=st.integers(-2, 40),
       height=st.integers(-2, 40), pad=st.integers(-5, 8), extra=st.integers(-50, 50))
def test_an_image_is_read_only_when_its_fields_describe_its_data(encoding, width, height, pad, extra):
    """keypoints2d_node reads each Image with image_from_ros (cv_bridge would read a mis-sized one cut or shifted
    without a word): a BGR picture of its size exactly when rows of ``width`` pixels fit in ``step`` bytes, the
    data is ``height`` such rows and a 4:2:2 image has an even width; else ValueError (a counted, skipped frame),
    never another exception. Under ROS, test_faults_launch.py sends such images."""
    channels, dtype, _ = _RAW_ENCODINGS.get(encoding, (1, np.uint8, None))
    step = max(width, 0) * channels * np.dtype(dtype).itemsize + pad
    size = max(step * max(height, 0) + extra, 0)
    msg = SimpleNamespace(encoding=encoding, width=width, height=height, step=step, data=bytes(size),
                          is_bigendian=0)
    valid = (encoding in _RAW_ENCODINGS and width > 0 and height > 0 and pad >= 0 and extra == 0
             and not (channels == 2 and width % 2))
    try:
        bgr = image_from_ros(msg)
    except ValueError as err:
        assert not valid, err
        return
    assert valid and bgr.shape == (height, width, 3) and bgr.dtype == np.uint8


def test_a_publisher_flooding_at_200_hz_is_met_with_the_newest_frame_and_counted_drops():
    """200 Hz into a stage that needs 20 ms a frame: it processes the newest frame each time and counts what it
    skipped; nothing queues. (Under ROS, with DDS's depth-1 queue: test_faults_launch.py.)"""
    monitor, done = StageMonitor(window_s=5.0), []

    def slow_stage(sequence):
        time.sleep(0.02)
        done.append(sequence)
        return True

    loop = StageLoop(slow_stage, monitor, print)
    sent = 100

    def publisher():
        for sequence in range(sent):
            loop.submit(sequence)
            time.sleep(0.005)

    thread = threading.Thread(target=publisher)
    thread.start()
    while thread.is_alive():
        loop.step(timeout=0.05)
    while loop.step(timeout=0):
        pass
    thread.join()
    assert done == sorted(done) and done[-1] == sent - 1  # always the newest, and the last one is processed
    assert monitor.total_inputs == sent == len(done) + monitor.total_dropped
    assert monitor.total_dropped > sent // 3
    report = monitor.report()
    assert report.level == WARN and "dropping" in report.message


def test_a_closed_slot_ends_the_worker_at_once_and_a_replaced_frame_is_a_drop():
    slot = LatestSlot()
    assert slot.put("a") is False and slot.put("b") is True and slot.take(0) == "b"
    slot.close()
    started = time.monotonic()
    assert slot.take(timeout=5.0) is None and time.monotonic() - started < 1.0


def test_outputs_are_bounded_for_a_subscriber_that_never_reads():
    """Every output is reliable keep-last 1 and every input queue 1-10 deep: a subscriber that never reads holds
    one sample per topic at most. That DDS's keep-last writer then never blocks the publisher:
    test_faults_launch.py (a subscriber whose process hangs)."""
    assert (OUTPUT_QOS_SETTINGS.reliability, OUTPUT_QOS_SETTINGS.depth) == ("reliable", 1)
    for node in ("lifter_node", "temporal_node", "keypoints2d_node", "video_source_node"):
        assert check_parameter(node, "qos.depth", 10) == 10
        for depth in (0, 11, 10**6):
            try:
                check_parameter(node, "qos.depth", depth)
            except ValueError:
                continue
            raise AssertionError(f"{node} accepted qos.depth {depth}")


def person(n, joints=17):
    pose = np.random.default_rng(0).normal(0.0, 0.3, (1, joints, 3)).astype(np.float32) + [0.0, 0.0, 3.0]
    return (np.array([0]), pose + 0.01 * n, np.full((1, joints), 0.9, np.float32), np.full((1, joints), 0.05),
            np.full((1, joints), JointStatus.OBSERVED, np.uint8))


def test_the_temporal_stage_resets_on_a_bag_loop_and_a_jump_of_minutes_and_reports_both():
    """A bag played in a loop (stamps back to the start) and sim time jumping five minutes ahead: the stage flushes,
    restarts and keeps publishing every frame under its exact stamp; the diagnostics count both jumps."""
    refiner = StreamingRefiner(None, layout="h36m17", window=16, fps=25.0, lookahead=2, max_gap=3, device="cpu")
    frames, monitor = TemporalFrames(refiner, num_joints=17), StageMonitor()
    period = 40_000_000
    stamps = [k * period for k in range(10)] * 2 + [300 * 10**9 + k * period for k in range(10)]
    out = []
    for n, stamp in enumerate(stamps):
        out += frames.push(stamp, "cam", *person(n)[:2], *person(n)[2:])
        monitor.record_events(frames.events)
    out += frames.flush()
    assert [frame.stamp_ns for frame in out] == stamps  # nothing stalls, nothing is lost or repeated
    assert all(len(frame.person_ids) == 1 for frame in out)
    values = monitor.report().values
    assert values["event: clock_jumped_back"] == "1" and values["event: clock_jumped_forward"] == "1"


def test_the_person_tracker_goes_on_after_a_jump_of_minutes_and_restarts_when_time_goes_back():
    """keypoints2d's tracker: a jump ahead forgets people lost for longer than max_lost_s, a step back restarts it;
    it never stalls or raises."""
    from test_keypoints2d_tracking import _frame, _person

    tracker = PersonTracker(max_lost_s=5.0)
    for k in range(5):
        assert tracker.update(*_frame([_person(300 + k)]), k / 30).tolist() == [0]
    after_jump = tracker.update(*_frame([_person(305)]), 300.0).tolist()
    assert len(after_jump) == 1
    assert tracker.update(*_frame([_person(306)]), 300.0 + 1 / 30).tolist() == after_jump
    back = tracker.update(*_frame([_person(306)]), 1.0).tolist()
    assert len(back) == 1 and back[0] not in (0, *after_jump)


class EndingNode:
    """What ros/base.py's run() calls on a node at the end, recorded: trigger_shutdown runs on_shutdown's steps."""

    def __init__(self, active):
        self.active, self.calls = active, []

    def trigger_shutdown(self):
        self.calls.append("trigger_shutdown")
        if self.active:
            self.calls += ["stop_worker", "stopped"]  # stopped(): temporal_node flushes, markers are cleared
        self.calls.append("release")

    def stop_worker(self):
        self.calls.append("stop_worker")

    def release(self):
        self.calls.append("release")

    def destroy_node(self):
        self.calls.append("destroy_node")


def test_a_node_stopped_by_sigint_or_sigterm_cleans_up_through_its_lifecycle_shutdown():
    """run() (ros/base.py) keeps the context alive at a signal and ends the node through its lifecycle shutdown, so
    that markers are cleared; only when ROS was shut down elsewhere does it skip what would publish. run() itself,
    under ROS (exit 0 after either signal): test_signals_launch.py."""
    for active, context_ok, expected in [
            (True, True, ["trigger_shutdown", "stop_worker", "stopped", "release", "destroy_node"]),
            (False, True, ["trigger_shutdown", "release", "destroy_node"]),
            (True, False, ["stop_worker", "release", "destroy_node"])]:  # a dead context: nothing publishes
        node = EndingNode(active)
        for step in clean_up_steps(finalized=False, context_ok=context_ok):
            getattr(node, step)()
        assert node.calls == expected
    assert clean_up_steps(finalized=True, context_ok=True) == ("destroy_node",)
