"""Property-based fuzzing of numpy <-> message conversion (pose3d_ros.messages), with rosbags' classes.

Round trips must be exact (array -> message -> CDR -> message -> array), and a malformed message or array (wrong
lengths, NaN, infinities, values beyond float32, out-of-range confidence or status, duplicate ids, bad stamps) must
raise the documented ValueError, never another exception. Each test runs EXAMPLES examples (MALFORMED_EXAMPLES for
the mutation tests): about 5 s for the whole file on the shared 2-core machine.
"""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pose3d_ros.messages import (
    load_message_types,
    make_header,
    skeleton3d_array,
    skeleton3d_to_numpy,
    stamp_ns,
    wholebody2d_array,
    wholebody2d_to_numpy,
)
from pose3d_ros.skeleton import JointStatus, get_layout

EXAMPLES = 40
MALFORMED_EXAMPLES = 80
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ_MALFORMED = settings(FUZZ, max_examples=MALFORMED_EXAMPLES)

TYPES = load_message_types("jazzy")
# The same rosbags classes, filled with array.array sequences as the rclpy class set does: readers take both.
ARRAY_TYPES = dataclasses.replace(TYPES, sequences="array")
FLOAT32_MAX = float(np.finfo(np.float32).max)

layouts = st.sampled_from(["h36m17", "wholebody133"])
stamps = st.integers(-(2**31) * 10**9, (2**31 - 1) * 10**9 + 999_999_999)
finite32 = st.floats(allow_nan=False, allow_infinity=False, width=32)
unit32 = st.floats(0.0, 1.0, width=32)


@st.composite
def people_ids(draw, max_people=3):
    return np.array(draw(st.lists(st.integers(0, 2**32 - 1), max_size=max_people, unique=True)), dtype=np.int64)


def cdr_round_trip(msg):
    raw = TYPES.typestore.serialize_cdr(msg, msg.__msgtype__)
    return TYPES.typestore.deserialize_cdr(raw, msg.__msgtype__)


@FUZZ
@given(layout=layouts, ids=people_ids(), stamp=stamps, frame_id=st.text(max_size=20), data=st.data(),
       size=st.tuples(st.integers(1, 2**32 - 1), st.integers(1, 2**32 - 1)))
def test_keypoints_round_trip_exactly(layout, ids, stamp, frame_id, data, size):
    joints = get_layout(layout).num_joints
    kp2d = data.draw(arrays(np.float32, (len(ids), joints, 2), elements=finite32))
    conf = data.draw(arrays(np.float32, (len(ids), joints), elements=unit32))
    assume("\x00" not in frame_id)  # CDR strings end at NUL
    msg = wholebody2d_array(TYPES, make_header(TYPES, stamp, frame_id), kp2d, conf, ids, size, layout)
    back = cdr_round_trip(msg)
    frame = wholebody2d_to_numpy(back, layout=layout)
    np.testing.assert_array_equal(frame.kp2d, kp2d)
    np.testing.assert_array_equal(frame.conf, conf)
    np.testing.assert_array_equal(frame.person_ids, ids)
    assert frame.image_size == (size if len(ids) else (0, 0))
    assert stamp_ns(back.header) == stamp and back.header.frame_id == frame_id


@FUZZ
@given(layout=layouts, ids=people_ids(), stamp=stamps, data=st.data())
def test_skeletons_round_trip_exactly(layout, ids, stamp, data):
    joints = get_layout(layout).num_joints
    shape = (len(ids), joints)
    positions = data.draw(arrays(np.float32, shape + (3,), elements=finite32))
    confidence = data.draw(arrays(np.float32, shape, elements=unit32))
    error = data.draw(arrays(np.float32, shape, elements=st.floats(0.0, FLOAT32_MAX, width=32) | st.just(np.nan)))
    status = data.draw(arrays(np.uint8, shape, elements=st.integers(0, max(JointStatus))))
    for types in (TYPES, ARRAY_TYPES):
        msg = skeleton3d_array(types, make_header(types, stamp, "cam"), positions, confidence, error, status, ids,
                               layout)
        frame = skeleton3d_to_numpy(cdr_round_trip(msg) if types is TYPES else msg, layout=layout)
        np.testing.assert_array_equal(frame.positions, positions)
        np.testing.assert_array_equal(frame.confidence, confidence)
        np.testing.assert_array_equal(frame.error, error)  # NaN where NaN
        np.testing.assert_array_equal(frame.status, status)
        np.testing.assert_array_equal(frame.person_ids, ids)


# ---- malformed messages: one mutation of a valid message --------------------------------------------------------

BAD_FLOATS = st.sampled_from([np.nan, np.inf, -np.inf, 1e39, -1e39])


def valid_skeletons(people=2, layout="wholebody133", types=TYPES):
    joints = get_layout(layout).num_joints
    return skeleton3d_array(types, make_header(types, 1, "cam"), np.ones((people, joints, 3)),
                            np.full((people, joints), 0.5), np.full((people, joints), 0.1),
                            np.full((people, joints), JointStatus.OBSERVED), np.arange(people), layout)


def valid_keypoints(people=2, layout="wholebody133", types=TYPES):
    joints = get_layout(layout).num_joints
    return wholebody2d_array(types, make_header(types, 1, "cam"), np.ones((people, joints, 2)),
                             np.full((people, joints), 0.5), np.arange(people), (640, 480), layout)


def same_integer(value, integer) -> bool:
    """Whether int() reads ``value`` as ``integer`` (as the reader does for sizes: "0640" and "6_40" are 640)."""
    try:
        return int(value) == integer
    except (TypeError, ValueError):
        return False


def resized(values, length):
    values = np.asarray(values)
    return np.resize(values, length) if length else values[:0]


@st.composite
def field_mutation(draw, fields):
    """(field, new value of that field) for the person at index 0 or 1: a wrong length, a non-finite or huge value
    where the contract forbids it, an out-of-range value, or something that is no sequence of numbers.
    """
    field = draw(st.sampled_from(fields))
    kind = draw(st.sampled_from(["length", "value", "garbage"]))
    if kind == "length":
        return field, ("length", draw(st.integers(0, 600)))
    if kind == "garbage":
        return field, ("garbage", draw(st.sampled_from(["abc", None, [[1.0, "x"]], {"a": 1}, object()])))
    return field, ("value", draw(st.integers(0, 132)))


def apply(person, field, mutation, bad_value):
    kind, detail = mutation
    values = np.asarray(getattr(person, field))
    if kind == "length":
        assume(detail != values.size)
        setattr(person, field, resized(values, detail))
    elif kind == "garbage":
        setattr(person, field, detail)
    else:
        changed = values.astype(np.float64)
        changed[detail % values.size] = bad_value
        setattr(person, field, changed)


@FUZZ_MALFORMED
@given(mutation=field_mutation(["position", "confidence", "error", "status"]), person=st.integers(0, 1),
       bad=BAD_FLOATS | st.sampled_from([-0.5, 1.5, 7.0, 255.0]), array_types=st.booleans())
def test_malformed_skeletons_raise_value_error(mutation, person, bad, array_types):
    msg = valid_skeletons(types=ARRAY_TYPES if array_types else TYPES)
    field, change = mutation
    if change[0] == "value":
        # what the contract allows: any finite position, an error >= 0 or NaN, any confidence in [0, 1]
        assume(not (field == "position" and abs(bad) < FLOAT32_MAX))
        assume(not (field == "error" and (np.isnan(bad) or 0 <= bad < FLOAT32_MAX)))
    apply(msg.skeletons[person], field, change, bad)
    with pytest.raises(ValueError):
        skeleton3d_to_numpy(msg)


@FUZZ_MALFORMED
@given(mutation=field_mutation(["keypoints", "confidence"]), person=st.integers(0, 1),
       bad=BAD_FLOATS | st.sampled_from([-0.5, 1.5]))
def test_malformed_keypoints_raise_value_error(mutation, person, bad):
    msg = valid_keypoints()
    field, change = mutation
    if change[0] == "value":
        assume(not (field == "keypoints" and abs(bad) < FLOAT32_MAX))
    apply(msg.people[person], field, change, bad)
    with pytest.raises(ValueError):
        wholebody2d_to_numpy(msg)


@FUZZ_MALFORMED
@given(header_change=st.sampled_from(["layout", "num_joints", "person_id", "image_width", "image_height"]),
       value=st.one_of(st.text(max_size=12), st.integers(-(2**40), 2**40)), three_d=st.booleans())
def test_inconsistent_headers_of_people_raise_value_error(header_change, value, three_d):
    assume(three_d is False or not header_change.startswith("image_"))
    msg = valid_skeletons() if three_d else valid_keypoints()
    people = msg.skeletons if three_d else msg.people
    if header_change == "person_id":
        value = 0  # a duplicate of person 0
    else:
        unchanged = {"layout": "wholebody133", "num_joints": 133, "image_width": 640, "image_height": 480}
        assume(value != unchanged[header_change] and not same_integer(value, unchanged[header_change]))
    setattr(people[1], header_change, value)
    with pytest.raises(ValueError):
        (skeleton3d_to_numpy if three_d else wholebody2d_to_numpy)(msg)


@FUZZ_MALFORMED
@given(target=st.sampled_from(["kp2d", "conf", "size", "ids", "stamp"]), bad=BAD_FLOATS, data=st.data())
def test_bad_arrays_are_refused_by_the_writer_with_value_error(target, bad, data):
    joints = 133
    kp2d, conf, ids, size, stamp = np.ones((2, joints, 2)), np.full((2, joints), 0.5), [0, 1], (640, 480), 5
    index = data.draw(st.integers(0, 2 * joints - 1))
    if target == "kp2d":
        kp2d.reshape(-1)[index] = bad
    elif target == "conf":
        conf.reshape(-1)[index] = bad
    elif target == "size":
        size = (bad, 480)
    elif target == "ids":
        ids = data.draw(st.sampled_from([[0, 0], [-1, 2], [0, 2**32], [0.5, 1], [np.nan, 1], [0]]))
    else:
        stamp = data.draw(st.sampled_from([2**31 * 10**9, -(2**31 + 1) * 10**9, 2**80]))
    with pytest.raises(ValueError):
        wholebody2d_array(TYPES, make_header(TYPES, stamp, "cam"), kp2d, conf, ids, size)
