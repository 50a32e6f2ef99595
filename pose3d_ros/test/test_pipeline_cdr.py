"""The recorder's CDR serializer gives rosbags' bytes, for every message type a run records and odd values."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pose3d_ros.markers import SkeletonMarkers
from pose3d_ros.messages import load_message_types, make_header, skeleton3d_array, wholebody2d_array
from pose3d_ros.pipeline.cdr import CdrSerializer
from pose3d_ros.pipeline.recording import camera_info_msg, compressed_image_msg
from pose3d_ros.pipeline.sources import CameraModel
from pose3d_ros.skeleton import WHOLEBODY133

TYPES = load_message_types()
J = WHOLEBODY133.num_joints
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=12)
doubles = st.floats(allow_nan=True, allow_infinity=True)
singles = st.floats(width=32)
uint8_data = st.binary(max_size=9).map(lambda b: np.frombuffer(b, np.uint8).copy())


def same_bytes(msg):
    msgtype = msg.__msgtype__
    assert CdrSerializer(TYPES.typestore).serialize(msg, msgtype) == bytes(TYPES.typestore.serialize_cdr(msg, msgtype))


@st.composite
def markers(draw):
    new = TYPES.new
    header = new(TYPES.Header, stamp=new(TYPES.Time, sec=draw(st.integers(-2**31, 2**31 - 1)),
                                         nanosec=draw(st.integers(0, 2**32 - 1))), frame_id=draw(texts))
    count = draw(st.integers(0, 5))
    points = [new(TYPES.Point, x=draw(doubles), y=draw(doubles), z=draw(doubles)) for _ in range(count)]
    colors = [new(TYPES.ColorRGBA, r=draw(singles), g=draw(singles), b=draw(singles), a=draw(singles))
              for _ in range(draw(st.integers(0, 5)))]
    types = TYPES.typestore.types
    return new(TYPES.Marker, header=header, ns=draw(texts), id=draw(st.integers(-2**31, 2**31 - 1)),
               type=draw(st.integers(0, 12)), action=draw(st.integers(0, 3)),
               pose=new(TYPES.Pose, position=new(TYPES.Point, x=draw(doubles), y=0.0, z=1.0),
                        orientation=new(TYPES.Quaternion, x=0.0, y=draw(doubles), z=0.0, w=1.0)),
               scale=new(TYPES.Vector3, x=draw(doubles), y=1.0, z=2.0),
               color=new(TYPES.ColorRGBA, r=draw(singles), g=0.5, b=0.25, a=1.0),
               lifetime=new(TYPES.Duration, sec=draw(st.integers(-2**31, 2**31 - 1)), nanosec=5),
               frame_locked=draw(st.booleans()), points=points, colors=colors, text=draw(texts),
               texture_resource=draw(texts),
               texture=new(types["sensor_msgs/msg/CompressedImage"], header=header, format=draw(texts),
                           data=draw(uint8_data)),
               uv_coordinates=[new(types["visualization_msgs/msg/UVCoordinate"], u=draw(singles), v=draw(singles))
                               for _ in range(draw(st.integers(0, 3)))],
               mesh_resource=draw(texts),
               mesh_file=new(types["visualization_msgs/msg/MeshFile"], filename=draw(texts), data=draw(uint8_data)),
               mesh_use_embedded_materials=draw(st.booleans()))


@settings(max_examples=300, deadline=None)
@given(st.lists(markers(), max_size=3))
def test_marker_arrays_of_any_content_serialise_as_rosbags_does(items):
    same_bytes(TYPES.new(TYPES.MarkerArray, markers=items))


@settings(max_examples=60, deadline=None)
@given(people=st.integers(0, 3), seed=st.integers(0, 2**32 - 1), frame_id=texts,
       distortion=st.sampled_from([None, 0, 5, 8]))
def test_every_message_a_run_records_serialises_as_rosbags_does(people, seed, frame_id, distortion):
    rng = np.random.default_rng(seed)
    header = make_header(TYPES, int(rng.integers(0, 2**31 * 10**9)), frame_id)
    positions = rng.normal(size=(people, J, 3)).astype(np.float32)
    confidence = rng.uniform(size=(people, J)).astype(np.float32)
    status = rng.integers(0, 5, size=(people, J)).astype(np.uint8)
    ids = rng.permutation(50)[:people]
    camera = CameraModel(np.diag([500.0, 510.0, 1.0]), None if distortion is None else rng.normal(size=distortion),
                         "plumb_bob" if distortion != 8 else "rational_polynomial")
    same_bytes(camera_info_msg(TYPES, header, camera, 640, 480))
    same_bytes(wholebody2d_array(TYPES, header, rng.uniform(0, 600, (people, J, 2)), confidence, ids, (640, 480)))
    same_bytes(skeleton3d_array(TYPES, header, positions, confidence, rng.uniform(0, 1, (people, J)), status, ids))
    same_bytes(SkeletonMarkers(TYPES).update(header, positions, confidence, status, ids))
    same_bytes(compressed_image_msg(TYPES, header, rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)))


def test_a_fixed_size_array_of_the_wrong_length_is_refused():
    header = make_header(TYPES, 0, "c")
    info = camera_info_msg(TYPES, header, CameraModel(np.eye(3)), 4, 4)
    info.k = np.zeros(8)
    with pytest.raises(ValueError, match="holds 8 values"):
        CdrSerializer(TYPES.typestore).serialize(info, info.__msgtype__)
