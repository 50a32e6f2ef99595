"""The .msg files through a real ROS 2 message library (rosbags), and numpy <-> message conversion."""

import array
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from pose3d_ros import messages
from pose3d_ros.messages import (
    MessageTypes,
    load_message_types,
    make_header,
    safety_state_array,
    safety_state_to_numpy,
    skeleton3d_array,
    skeleton3d_to_numpy,
    stamp_ns,
    wholebody2d_array,
    wholebody2d_to_numpy,
)
from pose3d_ros.safety import SafetyReport, SafetyState, UnknownCause
from pose3d_ros.skeleton import H36M17, WHOLEBODY133, JointStatus, PlacementSource

MSG_DIR = Path(__file__).resolve().parents[2] / "pose3d_ros_msgs" / "msg"
STAMP_NS = 1_700_000_123_987_654_321


@pytest.fixture(scope="module", params=["humble", "jazzy"])
def types(request):
    return load_message_types(request.param)


def roundtrip(types, msg):
    """Serialize to CDR and back, as a ROS 2 transport or an MCAP file would."""
    raw = types.typestore.serialize_cdr(msg, msg.__msgtype__)
    return types.typestore.deserialize_cdr(raw, msg.__msgtype__)


def random_2d(people, layout=WHOLEBODY133, seed=0):
    rng = np.random.default_rng(seed)
    kp2d = rng.uniform(0, 640, (people, layout.num_joints, 2)).astype(np.float32)
    conf = rng.uniform(0, 1, (people, layout.num_joints)).astype(np.float32)
    return kp2d, conf


def random_3d(people, layout=WHOLEBODY133, seed=0):
    rng = np.random.default_rng(seed)
    positions = rng.normal(0, 1, (people, layout.num_joints, 3)).astype(np.float32)
    confidence = rng.uniform(0, 1, (people, layout.num_joints)).astype(np.float32)
    error = rng.uniform(0, 0.2, (people, layout.num_joints)).astype(np.float32)
    status = rng.integers(0, 5, (people, layout.num_joints)).astype(np.uint8)
    return positions, confidence, error, status


# ------------------------------------------------------------------------------------------------
# The .msg files themselves (issue #2's message test)
# ------------------------------------------------------------------------------------------------


def test_every_msg_file_parses_with_the_documented_fields():
    files = sorted(MSG_DIR.glob("*.msg"))
    assert [f.stem for f in files] == sorted(messages.PACKAGE_MSGS)
    fields = {}
    for path in files:
        parsed = get_types_from_msg(path.read_text(), f"pose3d_ros_msgs/msg/{path.stem}")
        consts, defs = parsed[f"pose3d_ros_msgs/msg/{path.stem}"]
        fields[path.stem] = ([name for name, _ in defs], {name: value for name, _, value in consts})
    assert fields["WholeBody2D"][0] == ["layout", "num_joints", "person_id", "keypoints", "confidence",
                                        "image_width", "image_height"]
    assert fields["Skeleton3D"][0] == ["layout", "num_joints", "person_id", "position", "confidence", "error",
                                       "status", "placement"]
    assert fields["WholeBody2DArray"][0] == ["header", "people"]
    assert fields["Skeleton3DArray"][0] == ["header", "skeletons"]
    # The status constants are the core's JointStatus values.
    assert fields["Skeleton3D"][1] == ({f"STATUS_{s.name}": int(s) for s in JointStatus}
                                       | {f"PLACEMENT_{p.name}": int(p) for p in PlacementSource})
    assert fields["SafetyState"][0] == ["name", "state", "unknown_causes", "image_stamp", "distance",
                                        "inflated_distance", "stop_distance", "warning_distance", "approach_speed",
                                        "person_id", "joint", "joint_point", "object_point"]
    assert fields["SafetyStateArray"][0] == ["header", "worst_state", "objects"]
    # The state and cause constants are the safety core's values.
    assert fields["SafetyState"][1] == ({f"STATE_{s.name}": int(s) for s in SafetyState}
                                        | {f"CAUSE_{c.name}": int(c) for c in UnknownCause})


def test_the_package_ships_the_same_msg_files_it_links_to():
    shipped = messages.msg_definitions()
    for name in messages.PACKAGE_MSGS:
        assert shipped[f"pose3d_ros_msgs/msg/{name}"] == (MSG_DIR / f"{name}.msg").read_text()


@pytest.mark.parametrize("name", messages.PACKAGE_MSGS)
def test_each_message_type_roundtrips_through_cdr(types, name):
    kp2d, conf = random_2d(2)
    positions, confidence, error, status = random_3d(2)
    header = make_header(types, STAMP_NS, "camera_optical")
    built = {
        "WholeBody2DArray": wholebody2d_array(types, header, kp2d, conf, [4, 9], (640, 480)),
        "Skeleton3DArray": skeleton3d_array(types, header, positions, confidence, error, status, [4, 9]),
    }
    built["SafetyStateArray"] = safety_state_array(types, header, safety_report())
    built["SafetyState"] = built["SafetyStateArray"].objects[1]
    built["WholeBody2D"] = built["WholeBody2DArray"].people[1]
    built["Skeleton3D"] = built["Skeleton3DArray"].skeletons[1]
    msg = built[name]
    back = roundtrip(types, msg)
    raw = types.typestore.serialize_cdr(msg, msg.__msgtype__)
    assert types.typestore.serialize_cdr(back, msg.__msgtype__) == raw
    if name == "Skeleton3D":
        np.testing.assert_array_equal(back.position, positions[1].reshape(-1))
        np.testing.assert_array_equal(back.status, status[1])
        assert back.person_id == 9 and back.num_joints == 133 and back.layout == "wholebody133"
    if name == "WholeBody2D":
        np.testing.assert_array_equal(back.keypoints, kp2d[1].reshape(-1))
        assert (back.image_width, back.image_height) == (640, 480)


# ------------------------------------------------------------------------------------------------
# Conversion
# ------------------------------------------------------------------------------------------------


def test_header_keeps_the_stamp_exact(types):
    header = roundtrip(types, make_header(types, STAMP_NS, "cam"))
    assert stamp_ns(header) == STAMP_NS
    assert (header.stamp.sec, header.stamp.nanosec, header.frame_id) == (1_700_000_123, 987_654_321, "cam")


def test_wholebody2d_roundtrip(types):
    kp2d, conf = random_2d(3)
    msg = wholebody2d_array(types, make_header(types, STAMP_NS, "cam"), kp2d, conf, [5, 1, 2], (960, 540))
    frame = wholebody2d_to_numpy(roundtrip(types, msg))
    assert frame.layout == "wholebody133" and frame.image_size == (960, 540)
    np.testing.assert_array_equal(frame.kp2d, kp2d)
    np.testing.assert_array_equal(frame.conf, conf)
    np.testing.assert_array_equal(frame.person_ids, [5, 1, 2])
    assert frame.kp2d.dtype == np.float32 and frame.kp2d.shape == (3, 133, 2)


def test_skeleton3d_roundtrip_other_layout(types):
    positions, confidence, error, status = random_3d(2, H36M17)
    msg = skeleton3d_array(types, make_header(types, STAMP_NS, "cam"), positions, confidence, error, status,
                           np.array([7, 3]), layout="h36m17")
    frame = skeleton3d_to_numpy(roundtrip(types, msg), layout="h36m17")
    assert frame.layout == "h36m17" and frame.positions.shape == (2, 17, 3)
    np.testing.assert_array_equal(frame.positions, positions)
    np.testing.assert_array_equal(frame.confidence, confidence)
    np.testing.assert_array_equal(frame.error, error)
    np.testing.assert_array_equal(frame.status, status)
    assert frame.status.dtype == np.uint8
    np.testing.assert_array_equal(frame.placement, [PlacementSource.UNKNOWN] * 2)  # not given: not said


def test_skeleton3d_says_how_each_person_was_placed(types):
    positions, confidence, error, status = random_3d(2, H36M17)
    placement = np.array([PlacementSource.DEPTH, PlacementSource.LEAST_SQUARES], np.uint8)
    header = make_header(types, STAMP_NS, "cam")
    msg = skeleton3d_array(types, header, positions, confidence, error, status, [7, 3], "h36m17", placement)
    np.testing.assert_array_equal(skeleton3d_to_numpy(roundtrip(types, msg), "h36m17").placement, placement)
    with pytest.raises(ValueError, match="placement"):
        skeleton3d_array(types, header, positions, confidence, error, status, [7, 3], "h36m17", placement + 5)
    with pytest.raises(ValueError, match="placement has shape"):
        skeleton3d_array(types, header, positions, confidence, error, status, [7, 3], "h36m17", placement[:1])


def test_no_people_gives_empty_arrays_of_the_expected_layout(types):
    header = make_header(types, STAMP_NS, "cam")
    msg = roundtrip(types, wholebody2d_array(types, header, np.zeros((0, 133, 2)), np.zeros((0, 133)), [],
                                             (640, 480)))
    frame = wholebody2d_to_numpy(msg)
    assert frame.kp2d.shape == (0, 133, 2) and frame.conf.shape == (0, 133) and frame.person_ids.shape == (0,)
    empty3d = skeleton3d_array(types, header, np.zeros((0, 17, 3)), np.zeros((0, 17)), np.zeros((0, 17)),
                               np.zeros((0, 17), np.uint8), [], layout="h36m17")
    frame3d = skeleton3d_to_numpy(roundtrip(types, empty3d), layout="h36m17")
    assert frame3d.positions.shape == (0, 17, 3) and frame3d.layout == "h36m17"
    assert skeleton3d_to_numpy(empty3d, layout=None).positions.shape == (0, 0, 3)


def test_consumer_is_told_about_a_wrong_layout(types):
    positions, confidence, error, status = random_3d(1, H36M17)
    msg = skeleton3d_array(types, make_header(types, 0, "cam"), positions, confidence, error, status, [1],
                           layout="h36m17")
    with pytest.raises(ValueError, match="carries layout 'h36m17' but this consumer needs 'wholebody133'"):
        skeleton3d_to_numpy(msg)
    assert skeleton3d_to_numpy(msg, layout=None).layout == "h36m17"


def test_inconsistent_messages_are_rejected_clearly(types):
    kp2d, conf = random_2d(2)
    msg = wholebody2d_array(types, make_header(types, 0, "cam"), kp2d, conf, [1, 2], (640, 480))
    msg.people[0].num_joints = 17
    with pytest.raises(ValueError, match="person 1: num_joints 17 does not match layout wholebody133"):
        wholebody2d_to_numpy(msg)
    msg = wholebody2d_array(types, make_header(types, 0, "cam"), kp2d, conf, [1, 2], (640, 480))
    msg.people[1].confidence = msg.people[1].confidence[:100]
    with pytest.raises(ValueError, match="person 2: confidence has 100 values, expected 133"):
        wholebody2d_to_numpy(msg)
    msg = wholebody2d_array(types, make_header(types, 0, "cam"), kp2d, conf, [1, 2], (640, 480))
    msg.people[1].layout = "h36m17"
    with pytest.raises(ValueError, match="mixes skeleton layouts"):
        wholebody2d_to_numpy(msg, layout=None)
    msg.people[1].layout = "no_such_layout"
    with pytest.raises(ValueError, match="mixes"):
        wholebody2d_to_numpy(msg, layout=None)
    msg = wholebody2d_array(types, make_header(types, 0, "cam"), kp2d[:1], conf[:1], [1], (640, 480))
    msg.people[0].layout = "no_such_layout"
    with pytest.raises(ValueError, match="unknown skeleton layout 'no_such_layout'"):
        wholebody2d_to_numpy(msg, layout=None)


@pytest.mark.parametrize("change, match", [
    (lambda a: {**a, "kp2d": a["kp2d"][:, :17]}, r"expected \(P, 133, 2\) for layout wholebody133"),
    (lambda a: {**a, "conf": a["conf"][:, :-1]}, r"conf has shape \(2, 132\)"),
    (lambda a: {**a, "conf": a["conf"] + 1.5}, r"confidence must lie in \[0, 1\]"),
    (lambda a: {**a, "person_ids": [1, 1]}, "unique"),
    (lambda a: {**a, "person_ids": [1]}, "1 entries for 2 people"),
    (lambda a: {**a, "person_ids": [-1, 2]}, r"integers in \[0, 2\*\*32\)"),
    (lambda a: {**a, "image_size": (0, 480)}, "two positive integers"),
    (lambda a: {**a, "kp2d": np.where(np.arange(133)[None, :, None] == 5, np.nan, a["kp2d"])}, "NaN"),
])
def test_bad_2d_input_raises(types, change, match):
    kp2d, conf = random_2d(2)
    args = change({"kp2d": kp2d, "conf": conf, "person_ids": [1, 2], "image_size": (640, 480)})
    with pytest.raises(ValueError, match=match):
        wholebody2d_array(types, make_header(types, 0, "cam"), args["kp2d"], args["conf"], args["person_ids"],
                          args["image_size"])


def test_bad_3d_input_raises(types):
    positions, confidence, error, status = random_3d(1)
    header = make_header(types, 0, "cam")
    with pytest.raises(ValueError, match="JointStatus values 0..4"):
        skeleton3d_array(types, header, positions, confidence, error, status + 5, [0])
    with pytest.raises(ValueError, match=r"expected \(P, 17, 3\) for layout h36m17"):
        skeleton3d_array(types, header, positions, confidence, error, status, [0], layout="h36m17")
    with pytest.raises(ValueError, match="positions contains NaN"):
        skeleton3d_array(types, header, positions * np.nan, confidence, error, status, [0])
    for bad in (np.inf, -0.01):
        with pytest.raises(ValueError, match=r"error must hold errors >= 0 in metres or NaN"):
            skeleton3d_array(types, header, positions, confidence, np.full_like(error, bad), status, [0])


def test_values_beyond_float32_are_refused_not_written_as_infinities(types):
    """Regression (fuzzing): a finite float64 above float32's range became inf in the message, which every reader
    then refused; the writer now says so itself."""
    positions, confidence, error, status = random_3d(1)
    header = make_header(types, 0, "cam")
    with pytest.raises(ValueError, match="beyond-float32"):
        skeleton3d_array(types, header, positions * 1e39, confidence, error, status, [0])
    with pytest.raises(ValueError, match="error must hold errors >= 0"):
        skeleton3d_array(types, header, positions, confidence, np.full(error.shape, 1e39), status, [0])
    kp2d, conf = random_2d(1)
    with pytest.raises(ValueError, match="beyond-float32"):
        wholebody2d_array(types, header, kp2d + 1e39, conf, [0], (640, 480))


def test_stamps_and_sizes_the_message_cannot_hold_are_value_errors(types):
    """Regression (fuzzing): a stamp past int32 seconds failed later in the serializer (struct.error), an infinite
    image size raised OverflowError."""
    with pytest.raises(ValueError, match="int32 seconds"):
        make_header(types, 2**31 * 10**9, "cam")
    make_header(types, -(2**31) * 10**9, "cam")  # the most negative Time is fine
    kp2d, conf = random_2d(1)
    with pytest.raises(ValueError, match="two positive integers"):
        wholebody2d_array(types, make_header(types, 0, "cam"), kp2d, conf, [0], (np.inf, 480))


def test_the_reader_refuses_what_the_writer_refuses(types):
    """Regression (fuzzing): the readers took confidences outside [0, 1], statuses beyond JointStatus (and wrapped
    1e39 into a uint8), duplicate ids and zero image sizes, and let numpy's TypeError through for a field that is
    no sequence of numbers."""
    def skeletons():
        positions, confidence, error, status = random_3d(2)
        return skeleton3d_array(types, make_header(types, 0, "cam"), positions, confidence, error, status, [0, 1])

    def keypoints():
        kp2d, conf = random_2d(2)
        return wholebody2d_array(types, make_header(types, 0, "cam"), kp2d, conf, [0, 1], (640, 480))

    for change, match in [(lambda m: setattr(m.skeletons[1], "confidence", np.full(133, 1.5)), r"\[0, 1\]"),
                          (lambda m: setattr(m.skeletons[0], "status", np.full(133, 9)), "JointStatus"),
                          (lambda m: setattr(m.skeletons[0], "status", np.full(133, 1e39)), "JointStatus"),
                          (lambda m: setattr(m.skeletons[1], "person_id", 0), "duplicate person ids"),
                          (lambda m: setattr(m.skeletons[0], "position", object()), "not a sequence of numbers")]:
        msg = skeletons()
        change(msg)
        with pytest.raises(ValueError, match=match):
            skeleton3d_to_numpy(msg)
    for change, match in [(lambda m: setattr(m.people[0], "confidence", np.full(133, -0.5)), r"\[0, 1\]"),
                          (lambda m: setattr(m.people[1], "person_id", 0), "duplicate person ids"),
                          (lambda m: setattr(m.people[0], "image_width", 0), "not a picture's size")]:
        msg = keypoints()
        change(msg)
        with pytest.raises(ValueError, match=match):
            wholebody2d_to_numpy(msg)


def test_unknown_error_is_nan_both_ways(types):
    """Skeleton3D.msg: error is NaN where there is no prediction (a person the temporal stage filled in)."""
    positions, confidence, error, status = random_3d(2)
    error[1] = np.nan
    msg = skeleton3d_array(types, make_header(types, 0, "cam"), positions, confidence, error, status, [0, 1])
    raw = types.typestore.serialize_cdr(msg, msg.__msgtype__)
    frame = skeleton3d_to_numpy(types.typestore.deserialize_cdr(raw, msg.__msgtype__))
    np.testing.assert_array_equal(frame.error[0], error[0])
    assert np.isnan(frame.error[1]).all()
    msg.skeletons[0].error[3] = np.inf
    with pytest.raises(ValueError, match="person 0: error must hold errors >= 0"):
        skeleton3d_to_numpy(msg)


def test_array_sequences_are_what_rclpy_setters_accept():
    """rclpy's generated setters take array.array with the field's type code; numpy arrays fail their assertion."""
    rosbags_types = load_message_types()
    fields = {name: getattr(rosbags_types, name) for name in MessageTypes.__dataclass_fields__
              if name not in ("sequences", "typestore")}
    as_rclpy = MessageTypes(**fields, sequences="array")
    values = np.arange(6, dtype=np.float64).reshape(2, 3)
    floats = as_rclpy.float32_sequence(values)
    assert isinstance(floats, array.array) and floats.typecode == "f" and list(floats) == [0, 1, 2, 3, 4, 5]
    status = as_rclpy.uint8_sequence(np.array([[1, 4]]))
    assert isinstance(status, array.array) and status.typecode == "B" and list(status) == [1, 4]
    # Reading goes through the buffer protocol for array.array as for numpy.
    positions, confidence, error, status = random_3d(2)

    class Plain:  # a keyword-constructed class without defaults, like rclpy's with every field given
        def __init__(self, **fields):
            self.__dict__.update(fields)

    plain = MessageTypes(**{name: Plain for name in fields}, sequences="array")
    msg = skeleton3d_array(plain, make_header(plain, 5, "cam"), positions, confidence, error, status, [0, 1])
    assert isinstance(msg.skeletons[0].position, array.array)
    frame = skeleton3d_to_numpy(msg)
    np.testing.assert_array_equal(frame.positions, positions)
    np.testing.assert_array_equal(frame.status, status)


def test_rosbags_message_fields_left_out_get_zero_values():
    types = load_message_types("jazzy")
    marker = types.new(types.Marker, ns="x")
    assert marker.ns == "x" and marker.id == 0 and marker.text == "" and marker.frame_locked is False
    assert marker.points == [] and marker.texture.data.dtype == np.uint8 and marker.texture.data.size == 0
    assert marker.header.stamp.sec == 0 and marker.scale.x == 0.0
    assert len(types.typestore.serialize_cdr(marker, marker.__msgtype__)) > 0


def test_unknown_distro_and_sequence_kind_are_errors():
    with pytest.raises(ValueError, match="unknown ROS 2 distribution 'kinetic'"):
        load_message_types("kinetic")
    with pytest.raises(ValueError, match="sequences must be"):
        MessageTypes(**{name: object for name in messages.MessageTypes.__dataclass_fields__
                        if name not in ("sequences", "typestore")}, sequences="list")


def test_standard_types_match_rosbags_own_store():
    """Our typestore adds the project's types without changing the standard ones."""
    ours = messages.load_typestore("jazzy")
    reference = get_typestore(Stores.ROS2_JAZZY)
    assert ours.fielddefs["visualization_msgs/msg/Marker"] == reference.fielddefs["visualization_msgs/msg/Marker"]


@pytest.mark.skipif(sys.platform == "win32", reason="the msg link is a POSIX symlink")
def test_non_editable_install_carries_the_msg_files(tmp_path):
    """A wheel built from pose3d_ros/ contains the .msg files (the link is resolved at build time)."""
    pytest.importorskip("setuptools")
    repo = Path(__file__).resolve().parents[2]
    junk = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache", "test", "weights")
    for folder in ("pose3d_ros", "pose3d_ros_msgs"):  # a copy, so that the build leaves nothing in the checkout
        shutil.copytree(repo / folder, tmp_path / "src" / folder, symlinks=True, ignore=junk)
    assert (tmp_path / "src" / "pose3d_ros" / "pose3d_ros" / "msg").is_symlink()
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
         str(tmp_path / "src" / "pose3d_ros")], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        pytest.skip(f"could not build a wheel here: {result.stderr[-300:]}")
    (wheel,) = tmp_path.glob("pose3d_ros-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert sorted(n for n in names if n.endswith(".msg")) == [f"pose3d_ros/msg/{m}.msg"
                                                               for m in sorted(messages.PACKAGE_MSGS)]


# ------------------------------------------------------------------------------------------------
# SafetyStateArray
# ------------------------------------------------------------------------------------------------


def safety_report():
    """Two objects: one in warning because of person 4's joint 120, one unknown with nobody measured."""
    return SafetyReport(
        stamp_ns=STAMP_NS + 5, image_stamp_ns=STAMP_NS, frame_id="camera_optical", names=("forearm", "floor"),
        state=np.array([SafetyState.WARNING, SafetyState.UNKNOWN], np.uint8),
        causes=np.array([0, UnknownCause.TRANSFORM | UnknownCause.STALE], np.uint16),
        distance=np.array([0.75, np.nan]), inflated_distance=np.array([0.5, np.nan]),
        stop_distance=np.array([0.25, np.nan]), warning_distance=np.array([0.75, np.nan]),
        approach_speed=np.array([1.5, np.nan]), person_id=np.array([4, -1]), joint=np.array([120, -1]),
        joint_point=np.array([[0.5, -0.25, 2.0], [np.nan] * 3]), object_point=np.array([[1.0, 0.0, 2.5], [np.nan] * 3]),
        person_ids=np.array([4]), person_distance=np.array([[0.75], [np.nan]]), person_joint=np.array([[120], [-1]]),
        person_speed=np.array([[1.5], [np.nan]]))


def test_safety_states_roundtrip_through_cdr(types):
    report = safety_report()
    msg = roundtrip(types, safety_state_array(types, make_header(types, report.stamp_ns, report.frame_id), report))
    assert msg.worst_state == SafetyState.UNKNOWN and [o.name for o in msg.objects] == ["forearm", "floor"]
    assert msg.objects[1].unknown_causes == UnknownCause.TRANSFORM | UnknownCause.STALE
    back = safety_state_to_numpy(msg)
    assert (back.stamp_ns, back.image_stamp_ns, back.frame_id, back.names) == (
        report.stamp_ns, report.image_stamp_ns, report.frame_id, report.names)
    for field in ("state", "causes", "distance", "inflated_distance", "stop_distance", "warning_distance",
                  "approach_speed", "person_id", "joint", "joint_point", "object_point"):
        np.testing.assert_array_equal(getattr(back, field), getattr(report, field), err_msg=field)
    assert back.person_distance.shape == (2, 0) and back.worst == SafetyState.UNKNOWN


def test_safety_states_with_mixed_image_stamps_are_refused(types):
    msg = safety_state_array(types, make_header(types, STAMP_NS, "cam"), safety_report())
    msg.objects[1].image_stamp.nanosec += 1
    with pytest.raises(ValueError, match="mixes image stamps"):
        safety_state_to_numpy(msg)
