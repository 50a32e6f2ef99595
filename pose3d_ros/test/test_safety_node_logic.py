"""What safety_node decides, without ROS: its markers, the monitored joints as points, the 2D stage's drops read
from diagnostics, when the timer publishes, the end-to-end age in its diagnostics, and its launch wiring."""

import numpy as np
import pytest
from test_safety_monitor import T0, config, frame

from pose3d_ros.messages import (
    load_message_types,
    make_header,
    skeleton3d_array,
    skeleton3d_to_frame,
)
from pose3d_ros.node_logic.diagnostics import OK, WARN, stage_status_name, watched_drops_status
from pose3d_ros.node_logic.launch_config import launch_parameters, safety_remappings
from pose3d_ros.safety import Pose, SafetyMonitor, SafetyState, UnknownCause
from pose3d_ros.safety.diagnostics import SafetyDiagnostics
from pose3d_ros.safety.heartbeat import Heartbeat
from pose3d_ros.safety.markers import (
    DELETE,
    DISTANCE_ID,
    LABEL_ID,
    LINE_LIST,
    OUTLINE_ID,
    STATE_RGB,
    object_outlines,
    safety_markers,
)
from pose3d_ros.safety.points import monitored_points
from pose3d_ros.safety.upstream import StageDrops
from pose3d_ros.skeleton import JointStatus

MS = 1_000_000
TYPES = load_message_types()


def report_of(xs, poses=None):
    cfg = config()
    monitor = SafetyMonitor(cfg)
    return cfg, monitor.update(frame(T0, xs), T0, cfg.static_poses() if poses is None else poses)


def test_markers_colour_each_object_by_state_and_join_the_deciding_joint_to_it():
    cfg, report = report_of([0.3])  # inside the zone (stop), 4.6 m from the link's axis (clear)
    assert list(report.state) == [SafetyState.PROTECTIVE_STOP, SafetyState.CLEAR]
    header = make_header(TYPES, report.image_stamp_ns, "cam")
    markers = {(m.ns, m.id): m for m in safety_markers(TYPES, header, report, object_outlines(cfg, cfg.static_poses()))
               .markers}
    assert set(markers) == {(f"safety_{name}", i) for name in ("zone", "link") for i in (OUTLINE_ID, DISTANCE_ID,
                                                                                          LABEL_ID)}
    zone, link = markers["safety_zone", OUTLINE_ID], markers["safety_link", OUTLINE_ID]
    assert zone.type == link.type == LINE_LIST and len(zone.points) % 2 == 0
    assert (round(zone.color.r * 255), round(zone.color.g * 255)) == STATE_RGB[SafetyState.PROTECTIVE_STOP][:2]
    assert zone.scale.x == 2 * link.scale.x  # not clear: drawn wider
    # the link's outline is around x = 5 in the camera frame, where its transform puts it
    xs = [p.x for p in link.points]
    assert 4.8 < min(xs) and max(xs) < 5.2
    line = markers["safety_link", DISTANCE_ID].points
    np.testing.assert_allclose([line[0].x, line[1].x], [0.3, 4.9], atol=1e-6)
    label = markers["safety_zone", LABEL_ID]
    assert label.text == f"zone: protective_stop {report.distance[0]:.2f} m"
    assert 0 < label.scale.x < label.scale.z  # RViz's space width: a space narrower than the text is high


def test_an_object_without_a_pose_has_its_markers_deleted():
    cfg = config()
    poses = {"link": None}
    _, report = report_of([0.3], poses)
    outlines = object_outlines(cfg, {"cam": Pose.identity(), **poses})
    assert outlines[1] is None
    markers = safety_markers(TYPES, make_header(TYPES, T0, "cam"), report, outlines).markers
    deleted = {(m.ns, m.id) for m in markers if m.action == DELETE}
    assert deleted == {("safety_link", i) for i in (OUTLINE_ID, DISTANCE_ID, LABEL_ID)}


def test_monitored_points_are_the_usable_monitored_joints_in_the_target_frame():
    cfg = config()  # monitors the right hand: 21 joints
    skeletons = frame(T0, [1.0, 2.0])
    skeletons.status[1, 112:120] = JointStatus.MISSING
    skeletons.positions[0, 130] = np.nan
    skeletons.positions[0, 0] = 7.0  # the nose is not monitored
    shifted = Pose.from_quaternion([0.0, 0.0, 10.0], [0, 0, 0, 1])
    points = monitored_points(skeletons, cfg.joints, shifted)
    assert points.shape == (20 + 13, 3)
    np.testing.assert_allclose(points[:20], [[1.0, 0.0, 10.0]] * 20)
    np.testing.assert_allclose(points[20:], [[2.0, 0.0, 10.0]] * 13)
    assert monitored_points(frame(T0, []), cfg.joints, shifted).shape == (0, 3)


def test_stage_drops_count_from_the_first_reading_and_survive_a_restart():
    drops = StageDrops("keypoints2d_node: keypoints2d_node stage")
    drops.read("keypoints2d_node: keypoints2d_node stage", {"total dropped": "40"})  # before we started: baseline
    assert drops.take() == 0
    drops.read("lifter_node: lifter_node stage", {"total dropped": "99"})
    drops.read("keypoints2d_node: keypoints2d_node stage", {"total dropped": "43"})
    drops.read("keypoints2d_node: keypoints2d_node stage", {"total dropped": "45"})
    assert drops.take() == 5
    assert drops.take() == 0
    drops.read("keypoints2d_node: keypoints2d_node stage", {"total dropped": "2"})  # the stage restarted
    drops.read("keypoints2d_node: keypoints2d_node stage", {"input rate (Hz)": "5.00"})
    assert drops.take() == 2


def test_safety_node_watches_the_2d_stage_of_its_own_namespace_by_default():
    """One pipeline per camera: the launch files turn on diagnostic_updater.use_fqn for namespaced nodes, and each
    safety_node then watches its own camera's 2D stage, not the other's."""
    assert watched_drops_status("auto", "/", False) == "keypoints2d_node: keypoints2d_node stage"
    assert watched_drops_status("auto", "/cell_a", True) == "/cell_a/keypoints2d_node: keypoints2d_node stage"
    assert watched_drops_status("auto", "/cell_a", True) != watched_drops_status("auto", "/cell_b", True)
    assert watched_drops_status("auto", "/cell_a", True) == stage_status_name("keypoints2d_node", "/cell_a", True)
    assert watched_drops_status("", "/cell_a", True) is None
    assert watched_drops_status("my_2d: camera", "/", False) == "my_2d: camera"


def test_drops_read_from_diagnostics_make_the_monitor_unknown():
    cfg = config()  # max_drop_ratio 0.4 over 1 s
    monitor = SafetyMonitor(cfg)
    drops = StageDrops("2d")
    drops.read("2d", {"total dropped": "0"})
    for k in range(4):
        drops.read("2d", {"total dropped": str(3 * k)})
        report = monitor.update(frame(T0 + k * 100 * MS, [3.0]), T0 + k * 100 * MS, cfg.static_poses(),
                                dropped_frames=drops.take())
    assert report.causes[0] & UnknownCause.DROPPING_FRAMES


def test_the_heartbeat_is_due_only_after_a_period_without_publication():
    heartbeat = Heartbeat(0.1)
    assert heartbeat.due(T0)
    heartbeat.published(T0)
    assert not heartbeat.due(T0 + 99 * MS)
    assert heartbeat.due(T0 + 100 * MS)
    with pytest.raises(ValueError, match="positive"):
        Heartbeat(0.0)


def test_diagnostics_give_the_end_to_end_age_of_input_frames_only():
    cfg = config()
    monitor = SafetyMonitor(cfg)
    health = SafetyDiagnostics(window_s=5.0)
    assert health.report(T0).level == WARN
    for k, age_ms in enumerate([100, 200, 300, 400]):
        stamp = T0 + k * 100 * MS
        report = monitor.update(frame(stamp, [3.0]), stamp + age_ms * MS, cfg.static_poses())
        health.record(report, stamp + age_ms * MS, for_input=True)
    later = T0 + 2000 * MS
    health.record(monitor.check(later), later, for_input=False)  # the timer's: only the state counts
    status = health.report(later)
    assert status.values["end-to-end age p50 (ms)"] == "250"
    assert status.values["end-to-end age p95 (ms)"] == "385"
    assert status.values["end-to-end age max (ms)"] == "400"
    assert status.level == WARN and "no_skeletons" in status.message and "stale" in status.message
    assert status.values["object zone"] == "unknown (no_skeletons, stale)"
    assert health.report(later + 10_000 * MS).values["frames in window"] == "0"


def test_diagnostics_are_ok_while_the_state_is_known():
    cfg = config()
    report = SafetyMonitor(cfg).update(frame(T0, [3.0]), T0, cfg.static_poses())
    health = SafetyDiagnostics()
    health.record(report, T0, for_input=True)
    status = health.report(T0)
    assert status.level == OK and status.message == "monitoring, worst state clear"


def test_a_skeleton_message_becomes_the_monitors_frame_also_without_people():
    skeletons = frame(T0, [1.0, 2.0], error=0.05)
    msg = skeleton3d_array(TYPES, make_header(TYPES, T0, "cam"), skeletons.positions, skeletons.confidence,
                           skeletons.error, skeletons.status, skeletons.person_ids)
    back = skeleton3d_to_frame(msg)
    assert (back.stamp_ns, back.frame_id) == (T0, "cam")
    np.testing.assert_array_equal(back.positions, skeletons.positions)
    empty = skeleton3d_to_frame(skeleton3d_array(TYPES, make_header(TYPES, T0, "cam"), np.zeros((0, 133, 3)),
                                                 np.zeros((0, 133)), np.zeros((0, 133)), np.zeros((0, 133), np.uint8),
                                                 np.zeros(0, np.int64)))
    assert empty.positions.shape == (0, 133, 3) and empty.status.shape == (0, 133)
    assert SafetyMonitor(config()).update(empty, T0, config().static_poses()).state.tolist() == [0, 0]


@pytest.mark.parametrize("use_temporal, remapped", [(True, []), (False, [("skeletons3d_refined", "skeletons3d")])])
def test_the_launch_hands_safety_node_its_config_and_the_last_stages_skeletons(use_temporal, remapped):
    document = {"safety_node": {"ros__parameters": {"check_period_s": 1, "config": "from_file.yaml"}}}
    parameters = launch_parameters(document, "safety_node", {"safety_config": "cell.yaml"})
    assert parameters == {"check_period_s": 1.0, "config": "cell.yaml"}
    assert launch_parameters(document, "safety_node", {"safety_config": ""})["config"] == "from_file.yaml"
    assert safety_remappings(use_temporal) == remapped
