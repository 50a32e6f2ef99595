"""The safety YAML, the state machine, the separation distance and the monitor's fail-safe ``unknown``."""

from pathlib import Path

import numpy as np
import pytest

from pose3d_ros.node_logic.temporal_frames import SkeletonFrame
from pose3d_ros.safety import Pose, SafetyConfig, SafetyConfigError, SafetyMonitor, SafetyState, UnknownCause
from pose3d_ros.safety.states import SeparationThresholds, StateMachine
from pose3d_ros.skeleton import JointStatus

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "safety_example.yaml"
CLEAR, WARNING, STOP, UNKNOWN = (SafetyState.CLEAR, SafetyState.WARNING, SafetyState.PROTECTIVE_STOP,
                                 SafetyState.UNKNOWN)
MS = 1_000_000
T0 = 1_000_000_000_000

# A zone 1 m wide around x = 0 in the camera frame, a capsule in frame "link": warning at 0.5 m, stop at 0.2 m.
CONFIG = """\
camera_frame: cam
transforms:
  - {parent: cam, child: link, translation: [5.0, 0.0, 0.0]}
joints:
  parts: [right_hand]
  error_k: 2.0
  unknown_error_m: 0.05
failsafe:
  skeleton_timeout_s: 0.5
  max_stamp_age_s: 0.3
  max_filled_s: 0.2
  max_drop_ratio: 0.4
  drop_window_s: 1.0
states:
  hysteresis_m: 0.1
  min_hold_s: 0.2
thresholds:
  default: {mode: fixed, stop_distance_m: 0.2, warning_distance_m: 0.5}
objects:
  - name: zone
    frame: cam
    box: {centre: [0.0, 0.0, 0.0], size: [1.0, 10.0, 10.0]}
  - name: link
    frame: link
    capsule: {radius: 0.1}
"""


def config(text=CONFIG):
    return SafetyConfig.parse(text, "safety.yaml")


def frame(stamp_ns, xs, error=0.0, status=JointStatus.REFINED, ids=None):
    """People whose every joint is at (x, 0, 0): one per entry of ``xs``."""
    xs = np.asarray(xs, dtype=np.float32)
    people = len(xs)
    positions = np.zeros((people, 133, 3), np.float32)
    positions[:, :, 0] = xs[:, None]
    ids = np.arange(people) if ids is None else np.asarray(ids)
    return SkeletonFrame(stamp_ns, "cam", ids.astype(np.int64), positions, np.ones((people, 133), np.float32),
                         np.full((people, 133), error, np.float32), np.full((people, 133), status, np.uint8))


def poses(cfg):
    return cfg.static_poses()


# ------------------------------------------------------------------------------------------------
# YAML
# ------------------------------------------------------------------------------------------------


def test_the_example_config_loads_and_places_every_frame():
    cfg = SafetyConfig.load(EXAMPLE)
    assert [o.name for o in cfg.objects] == ["upper_arm", "forearm", "tool", "cell_floor"]
    placed = cfg.static_poses()
    assert set(placed) == set(cfg.frames)
    # base_link is 0.9 m below the camera and 2.5 m in front; its z axis points up (camera -y)
    np.testing.assert_allclose(placed["base_link"].translation, [0.0, 0.9, 2.5])
    np.testing.assert_allclose(placed["base_link"].rotation.apply([0.0, 0.0, 1.0]), [0.0, -1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(placed["forearm_link"].translation, [0.0, 0.9 - 0.16 - 0.61, 2.5], atol=1e-12)


@pytest.mark.parametrize("change, line, message", [
    (("radius: 0.1}", "radius: -0.1}"), 25, "radius must be at least 0"),
    (("size: [1.0, 10.0, 10.0]", "size: [1.0, -1.0, 10.0]"), 22, "size must not be below 0"),
    (("  max_drop_ratio: 0.4", "  max_drop_ratio: 2"), 12, "max_drop_ratio must be at most 1"),
    (("    frame: link\n", "    frame: link\n    colour: red\n"), 25, "unknown key 'colour'"),
    (("  hysteresis_m: 0.1", "  hysteresis_m: [0.1"), 16, r"not valid YAML: .*flow sequence at line 15"),
    (("warning_distance_m: 0.5", "warning_distance_m: 0.1"), 18, "below stop_distance_m"),
    (("mode: fixed", "mode: magic"), 18, "mode must be fixed or separation"),
    (("parts: [right_hand]", "parts: [tail]"), 5, "unknown part"),
    (("    capsule: {radius: 0.1}\n", "    capsule: {radius: 0.1}\n    thresholds: robot\n"), 26,
     "no thresholds profile 'robot'"),
    (("    capsule: {radius: 0.1}\n", ""), 23, "needs exactly one shape"),
    (("name: link", "name: zone"), 23, "used twice"),
])
def test_bad_config_is_refused_with_its_line(change, line, message):
    text = CONFIG.replace(*change)
    assert text != CONFIG
    with pytest.raises(SafetyConfigError, match=message) as caught:
        config(text)
    assert str(caught.value).startswith(f"safety.yaml:{line}: ")


@pytest.mark.parametrize("change, line, message", [
    (("radius: 0.1}", "radius: 1" + "0" * 400 + "}"), 25, "radius must be a number"),
    (("size: [1.0, 10.0, 10.0]", "size: [1.0, 1" + "0" * 400 + ", 10.0]"), 22, "size must be a list of 3 numbers"),
    (("parts: [right_hand]", "parts: [{right: hand}]"), 5, "parts must be a list"),
    (("  default:", "  7:"), 18, "needs a name"),
])
def test_yaml_that_crashed_the_checks_is_refused_with_its_line(change, line, message):
    """Regression (fuzzing): integers too large for a float (TypeError, OverflowError), a mapping among the parts
    (unhashable) and a profile named by a number (TypeError when listing the profiles) escaped as other errors."""
    text = CONFIG.replace(*change)
    assert text != CONFIG
    with pytest.raises(SafetyConfigError, match=message) as caught:
        config(text)
    assert str(caught.value).startswith(f"safety.yaml:{line}: ")


def test_yaml_nested_too_deeply_is_refused():
    with pytest.raises(SafetyConfigError, match="safety.yaml:1: the YAML is nested too deeply"):
        config("a: " + "[" * 600 + "]" * 600)


def test_polygon_and_transform_errors_name_their_line():
    polygon = CONFIG + "  - name: floor\n    frame: cam\n    polygon: {points: [[0, 0], [1, 1], [2, 2]], z_min: 0, " \
                       "z_max: 1}\n"
    with pytest.raises(SafetyConfigError, match=r"safety.yaml:28: the polygon has no area"):
        config(polygon)
    flat = polygon.replace("[[0, 0], [1, 1], [2, 2]], z_min: 0, z_max: 1", "[[0, 0], [1, 0], [0, 1]], z_min: 1, "
                           "z_max: 1")
    with pytest.raises(SafetyConfigError, match=r"safety.yaml:28: z_max \(1\) must be above z_min"):
        config(flat)
    quaternion = CONFIG.replace("translation: [5.0, 0.0, 0.0]}", "quaternion_xyzw: [0, 0, 0, 3]}")
    with pytest.raises(SafetyConfigError, match=r"safety.yaml:3: quaternion .* is not a unit quaternion"):
        config(quaternion)
    twice = CONFIG.replace("transforms:\n", "transforms:\n  - {parent: world, child: link}\n")
    with pytest.raises(SafetyConfigError, match=r"safety.yaml:4: frame 'link' already has a parent \(line 3\)"):
        config(twice)


def test_an_unknown_frame_is_refused_for_offline_use_with_the_objects_line():
    cfg = config(CONFIG.replace("frame: link", "frame: lnik"))
    assert cfg.frames == ("cam", "lnik")  # fine for ROS, where TF knows the frames
    with pytest.raises(SafetyConfigError, match=r"safety.yaml:23: object 'link': frame 'lnik' is not connected to "
                                                r"camera_frame 'cam'.*frames known: cam, link"):
        cfg.static_poses()


# ------------------------------------------------------------------------------------------------
# Separation distance and the state machine
# ------------------------------------------------------------------------------------------------


def test_protective_separation_distance_formula():
    thresholds = SeparationThresholds(reaction_time_s=0.1, stopping_time_s=0.3, robot_speed_m_s=0.5,
                                      stopping_distance_m=0.05, intrusion_distance_m=0.2, human_uncertainty_m=0.1,
                                      robot_uncertainty_m=0.02, min_human_speed_m_s=1.6, warning_margin_m=0.4)
    # 2 m/s: 2*(0.1+0.3) + 0.5*0.1 + 0.05 + 0.2 + 0.1 + 0.02 = 1.22; slower, receding and unmeasured: the floor 1.6
    floor = 1.6 * 0.4 + 0.42
    np.testing.assert_allclose(thresholds.stop_distance(np.array([2.0, 1.0, -3.0, np.nan])),
                               [1.22, floor, floor, floor])


def test_every_transition_with_hysteresis_and_hold():
    machine = StateMachine(hysteresis_m=0.1, min_hold_s=0.2)
    margin = 0.3  # warning at clearance <= 0.3, stop at <= 0

    def at(ms, clearance):
        return machine.update(clearance, margin, ms * MS)

    assert at(0, 1.0) == CLEAR
    assert at(10, 0.3) == WARNING  # clear -> warning at once
    assert at(20, 0.0) == STOP  # warning -> stop at once
    assert at(30, 0.05) == STOP  # beyond the threshold but within the hysteresis
    assert at(40, 0.15) == STOP  # beyond threshold + hysteresis: held for 200 ms from the last stop at 30 ms
    assert at(220, 0.15) == STOP
    assert at(230, 0.15) == WARNING  # stop -> warning after the hold
    assert at(250, 0.38) == WARNING  # clear would be beyond 0.3 + 0.1: within the hysteresis
    assert at(260, 0.45) == WARNING  # held from 250 ms
    assert at(300, 0.2) == WARNING  # back inside warning: held from 300 ms
    assert at(310, 0.45) == WARNING
    assert at(490, 0.45) == WARNING
    assert at(500, 0.45) == CLEAR  # warning -> clear after an unbroken hold
    assert at(520, -0.5) == STOP  # clear -> stop at once
    assert at(600, 5.0) == STOP
    assert at(710, 5.0) == STOP
    assert at(720, 5.0) == CLEAR  # stop -> clear directly, when the clearance calls for it


# ------------------------------------------------------------------------------------------------
# The monitor
# ------------------------------------------------------------------------------------------------


def test_distances_states_and_the_deciding_joint():
    cfg = config()
    monitor = SafetyMonitor(cfg)
    # person 7's hand 0.9 m from the zone's +x face (x = 0.5) and 3.1 m from the link's sphere (x = 5, r 0.1)
    report = monitor.update(frame(T0, [1.4], ids=[7]), T0, poses(cfg))
    assert report.names == ("zone", "link")
    np.testing.assert_allclose(report.distance, [0.9, 3.5], atol=1e-6)
    np.testing.assert_array_equal(report.state, [CLEAR, CLEAR])
    assert report.person_id.tolist() == [7, 7] and report.causes.tolist() == [0, 0]
    assert 112 <= report.joint[0] < 133  # a right-hand joint
    np.testing.assert_allclose(report.object_point[0], [0.5, 0, 0], atol=1e-6)
    np.testing.assert_allclose(report.object_point[1], [4.9, 0, 0], atol=1e-6)
    # error 0.1 m, k = 2: the hand at x = 1.1 is 0.6 m out, 0.4 m inflated -> warning (<= 0.5, > 0.2)
    report = monitor.update(frame(T0 + 100 * MS, [1.1], error=0.1, ids=[7]), T0 + 100 * MS, poses(cfg))
    np.testing.assert_allclose([report.distance[0], report.inflated_distance[0]], [0.6, 0.4], atol=1e-6)
    assert report.state[0] == WARNING
    # at x = 0.7: 0.2 m out, 0.0 inflated -> stop (<= 0.2)
    report = monitor.update(frame(T0 + 200 * MS, [0.7], error=0.1, ids=[7]), T0 + 200 * MS, poses(cfg))
    assert report.state[0] == STOP and report.stop_distance[0] == 0.2 and report.warning_distance[0] == 0.5
    # no predicted error (NaN): sigma = unknown_error_m = 0.05, so 0.6 m out is 0.5 m inflated
    report = monitor.update(frame(T0 + 300 * MS, [1.1], error=np.nan, ids=[7]), T0 + 300 * MS, poses(cfg))
    assert report.inflated_distance[0] == pytest.approx(0.5, abs=1e-6)


def test_approach_speed_is_along_the_line_to_the_object():
    cfg = config()
    monitor = SafetyMonitor(cfg)
    first = monitor.update(frame(T0, [2.0]), T0, poses(cfg))
    assert np.isnan(first.approach_speed).all()  # no previous frame yet
    # moving -x at 1.5 m/s: towards the zone (x <= 0.5), away from the link (x = 5)
    report = monitor.update(frame(T0 + 100 * MS, [1.85]), T0 + 100 * MS, poses(cfg))
    np.testing.assert_allclose(report.approach_speed, [1.5, -1.5], atol=1e-4)
    # sideways motion (+y) approaches neither
    sideways = frame(T0 + 200 * MS, [1.85])
    sideways.positions[..., 1] = 0.2
    report = monitor.update(sideways, T0 + 200 * MS, poses(cfg))
    np.testing.assert_allclose(report.approach_speed, [0.0, -2.0 * 0.2 / np.hypot(3.15, 0.2)], atol=1e-3)
    # inside the zone, moving deeper (-x) is approaching; the speed comes from the same person's previous frame
    monitor.update(frame(T0 + 300 * MS, [0.4]), T0 + 300 * MS, poses(cfg))
    report = monitor.update(frame(T0 + 400 * MS, [0.3]), T0 + 400 * MS, poses(cfg))
    assert report.distance[0] == pytest.approx(-0.2, abs=1e-6) and report.approach_speed[0] == pytest.approx(1.0)


def test_separation_thresholds_use_each_persons_speed():
    text = CONFIG.replace("default: {mode: fixed, stop_distance_m: 0.2, warning_distance_m: 0.5}",
                          "default: {mode: separation, reaction_time_s: 0.5, stopping_time_s: 0.5, "
                          "robot_speed_m_s: 0.0, stopping_distance_m: 0.0, intrusion_distance_m: 0.0, "
                          "human_uncertainty_m: 0.0, robot_uncertainty_m: 0.0, min_human_speed_m_s: 0.5, "
                          "warning_margin_m: 0.5}")
    cfg = config(text)
    monitor = SafetyMonitor(cfg)
    # person 1 stands 1.2 m out (stop distance: the floor 0.5 m/s x 1 s); person 2 runs in at 2 m/s from 3.0 m
    monitor.update(frame(T0, [1.7, 3.7], ids=[1, 2]), T0, poses(cfg))
    report = monitor.update(frame(T0 + 100 * MS, [1.7, 3.5], ids=[1, 2]), T0 + 100 * MS, poses(cfg))
    np.testing.assert_allclose(report.person_distance[0], [1.2, 3.0], atol=1e-5)
    np.testing.assert_allclose(report.person_speed[0], [0.0, 2.0], atol=1e-4)
    # clearances: person 1: 1.2 - 0.5 = 0.7; person 2: 3.0 - 2.0 = 1.0 -> person 1 decides, clear (> 0.5)
    assert report.person_id[0] == 1 and report.state[0] == CLEAR
    report = monitor.update(frame(T0 + 200 * MS, [1.7, 3.1], ids=[1, 2]), T0 + 200 * MS, poses(cfg))
    # person 2 at 2.6 m coming at 4 m/s: stop distance 4 m -> protective stop although person 1 is nearer
    assert report.person_id[0] == 2 and report.state[0] == STOP
    assert report.stop_distance[0] == pytest.approx(4.0, abs=1e-3)


def test_nobody_is_clear_once_the_data_is_fresh_and_unknown_before():
    cfg = config()
    monitor = SafetyMonitor(cfg)
    before = monitor.check(T0)
    assert before.state.tolist() == [UNKNOWN, UNKNOWN]
    assert before.causes.tolist() == [UnknownCause.NO_SKELETONS] * 2
    report = monitor.update(frame(T0, []), T0 + 10 * MS, poses(cfg))
    assert report.state.tolist() == [CLEAR, CLEAR] and report.worst == CLEAR
    assert np.isnan(report.distance).all() and report.person_id.tolist() == [-1, -1]
    assert report.person_distance.shape == (2, 0)


def test_each_failsafe_cause_gives_unknown():
    cfg = config()
    fresh = monitor_with_person(cfg)

    # no skeletons for longer than the timeout: check() on a timer
    assert fresh.check(T0 + 250 * MS).causes.tolist() == [0, 0]
    late = fresh.check(T0 + 600 * MS)  # also older than max_stamp_age_s by now
    assert late.state.tolist() == [UNKNOWN] * 2
    assert late.causes.tolist() == [UnknownCause.NO_SKELETONS | UnknownCause.STALE] * 2

    # a stale stamp: the image is older than max_stamp_age_s when it arrives (or as far in the future)
    monitor = monitor_with_person(cfg)
    stale = monitor.update(frame(T0 + 100 * MS, [3.0]), T0 + 450 * MS, poses(cfg))
    assert stale.state.tolist() == [UNKNOWN] * 2 and stale.causes.tolist() == [UnknownCause.STALE] * 2
    future = monitor.update(frame(T0 + 900 * MS, [3.0]), T0 + 500 * MS, poses(cfg))
    assert future.causes.tolist() == [UnknownCause.STALE] * 2

    # a failed transform lookup: only the objects in that frame
    monitor = monitor_with_person(cfg)
    report = monitor.update(frame(T0 + 100 * MS, [3.0]), T0 + 100 * MS, {})
    assert report.state.tolist() == [CLEAR, UNKNOWN] and report.causes.tolist() == [0, UnknownCause.TRANSFORM]
    report = monitor.update(frame(T0 + 200 * MS, [3.0]), T0 + 200 * MS, {"link": None})
    assert report.causes[1] == UnknownCause.TRANSFORM

    # the 2D stage drops more than 40 % of its frames over the 1 s window
    monitor = monitor_with_person(cfg)
    report = monitor.update(frame(T0 + 100 * MS, [3.0]), T0 + 100 * MS, poses(cfg), dropped_frames=1)
    assert report.causes.tolist() == [0, 0]  # 1 dropped of 3
    report = monitor.update(frame(T0 + 200 * MS, [3.0]), T0 + 200 * MS, poses(cfg), dropped_frames=2)  # 3 of 6
    assert report.causes.tolist() == [UnknownCause.DROPPING_FRAMES] * 2
    report = monitor.update(frame(T0 + 1500 * MS, [3.0]), T0 + 1500 * MS, poses(cfg))
    assert report.causes.tolist() == [0, 0]  # the drops left the 1 s window

    # a person only FILLED by the temporal stage for longer than max_filled_s (0.2 s)
    monitor = monitor_with_person(cfg)
    for ms in (100, 200, 300):
        report = monitor.update(frame(T0 + ms * MS, [3.0], status=JointStatus.FILLED), T0 + ms * MS, poses(cfg))
        assert report.causes.tolist() == [0, 0]  # filled since 100 ms: 0.2 s is not longer than 0.2 s
    report = monitor.update(frame(T0 + 301 * MS, [3.0], status=JointStatus.FILLED), T0 + 301 * MS, poses(cfg))
    assert report.causes.tolist() == [UnknownCause.FILLED_TOO_LONG] * 2
    report = monitor.update(frame(T0 + 400 * MS, [3.0]), T0 + 400 * MS, poses(cfg))
    assert report.causes.tolist() == [0, 0]  # seen again

    # a person with no usable monitored joint (all MISSING or NaN)
    monitor = monitor_with_person(cfg)
    report = monitor.update(frame(T0 + 100 * MS, [3.0], status=JointStatus.MISSING), T0 + 100 * MS, poses(cfg))
    assert report.causes.tolist() == [UnknownCause.UNMEASURED_PERSON] * 2


def monitor_with_person(cfg):
    monitor = SafetyMonitor(cfg)
    report = monitor.update(frame(T0, [3.0]), T0, poses(cfg))
    assert report.state.tolist() == [CLEAR, CLEAR]
    return monitor


def test_unknown_does_not_release_a_held_stop():
    cfg = config()
    monitor = SafetyMonitor(cfg)
    assert monitor.update(frame(T0, [0.6]), T0, poses(cfg)).state[0] == STOP
    assert monitor.update(frame(T0 + 100 * MS, [3.0]), T0 + 100 * MS, {}).state[0] == STOP  # hold: 0.2 s
    assert monitor.update(frame(T0 + 150 * MS, [3.0]), T0 + 500 * MS, poses(cfg)).state[0] == UNKNOWN  # stale
    assert monitor.update(frame(T0 + 180 * MS, [3.0]), T0 + 180 * MS, poses(cfg)).state[0] == STOP
    assert monitor.update(frame(T0 + 200 * MS, [3.0]), T0 + 200 * MS, poses(cfg)).state[0] == CLEAR


def test_nan_joints_are_ignored_and_counted():
    cfg = config()
    monitor = SafetyMonitor(cfg)
    skeletons = frame(T0, [3.0, 2.0])
    skeletons.positions[1, 120:125] = np.nan  # five right-hand joints of the nearer person
    skeletons.positions[1, 0] = np.nan  # the nose is not monitored here
    skeletons.positions[0, 115, 0] = 0.9  # one of the other's hand joints is nearer still
    report = monitor.update(skeletons, T0, poses(cfg))
    assert report.nan_joints == 5 and monitor.nan_joints == 5
    assert report.distance[0] == pytest.approx(0.4, abs=1e-6) and report.joint[0] == 115 and report.person_id[0] == 0
    monitor.update(skeletons, T0 + 100 * MS, poses(cfg))
    assert monitor.nan_joints == 10


def test_objects_are_placed_by_the_given_pose():
    cfg = config()
    monitor = SafetyMonitor(cfg)
    # TF says the link is at x = 2 now, not at the YAML's x = 5
    report = monitor.update(frame(T0, [3.0]), T0, {"link": Pose.from_quaternion([2.0, 0.0, 0.0], [0, 0, 0, 1])})
    assert report.distance[1] == pytest.approx(0.9, abs=1e-6)
    with pytest.raises(ValueError, match=r"needs wholebody133 skeletons"):
        monitor.update(SkeletonFrame(T0, "cam", np.zeros(1, np.int64), np.zeros((1, 17, 3)), np.zeros((1, 17)),
                                     np.zeros((1, 17)), np.zeros((1, 17), np.uint8)), T0, {})
