"""Depth offline (issue #17): depth images from a recording, paired with the colour frames by stamp, checked, and
used by `pose3d run` to place people; and the node-side helpers (nearest stamp, DepthCheck)."""

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from pose3d_ros.camera import intrinsics_from_fov, look_at_rotation, project
from pose3d_ros.data.depth import add_background, render_depth
from pose3d_ros.data.sets import poses_in_layout
from pose3d_ros.data.synthetic import synthetic_walk
from pose3d_ros.keypoints2d.result import Keypoints2D
from pose3d_ros.lifting.normalization import root_centre
from pose3d_ros.messages import load_message_types, skeleton3d_to_numpy
from pose3d_ros.node_logic.depth_input import DepthCheck, nearest_stamp
from pose3d_ros.pipeline.core import PipelineSettings, PosePipeline
from pose3d_ros.pipeline.run import run
from pose3d_ros.pipeline.sources import IntrinsicsOverride, depth_from_ros, open_source
from pose3d_ros.skeleton import WHOLEBODY133, PlacementSource

STORE = get_typestore(Stores.ROS2_JAZZY)
Image = STORE.types["sensor_msgs/msg/Image"]
Header = STORE.types["std_msgs/msg/Header"]
Time = STORE.types["builtin_interfaces/msg/Time"]
K = intrinsics_from_fov(320, 240, 70.0)
T0 = 7 * 10**9


def image_msg(pixels, encoding, stamp_ns, bigendian=False, padding=0):
    height, width = pixels.shape[:2]
    row = pixels.astype(pixels.dtype.newbyteorder(">" if bigendian else "<")).reshape(height, -1).view(np.uint8)
    data = np.zeros((height, row.shape[1] + padding), np.uint8)
    data[:, : row.shape[1]] = row
    return Image(header=Header(stamp=Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id="cam"),
                 height=height, width=width, encoding=encoding, is_bigendian=int(bigendian),
                 step=data.shape[1], data=data.reshape(-1))


def walker(distance=3.0):
    """Camera-frame whole-body joints (J, 3) of a person ``distance`` m straight ahead of a level camera."""
    world = poses_in_layout(synthetic_walk(1), np.zeros(1), "wholebody133", "S0/walk", 0)
    pelvis = root_centre(world, WHOLEBODY133)
    eye = pelvis - np.array([0.0, distance, 0.0])
    return np.einsum("nij,nkj->nki", look_at_rotation(eye, pelvis), world - eye[:, None])[0]


def write_recording(path, depth_images, depth_stamps, frames=4):
    """Colour frames every 100 ms on /cam/color/image_raw; depth images on /cam/aligned_depth_to_color/image_raw,
    each written 30 ms after its colour frame (as a driver's depth often arrives later)."""
    with Writer(path, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        colour = writer.add_connection("/cam/color/image_raw", Image.__msgtype__, typestore=STORE)
        depth = writer.add_connection("/cam/aligned_depth_to_color/image_raw", Image.__msgtype__, typestore=STORE)
        for i in range(frames):
            stamp = T0 + i * 10**8
            writer.write(colour, stamp, STORE.serialize_cdr(
                image_msg(np.full((240, 320, 3), 40 * i, np.uint8), "bgr8", stamp), Image.__msgtype__))
            if i < len(depth_images):
                pixels, encoding = depth_images[i]
                writer.write(depth, stamp + 30_000_000, STORE.serialize_cdr(
                    image_msg(pixels, encoding, depth_stamps[i]), Image.__msgtype__))


def test_depth_messages_decode_as_they_are():
    millimetres = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000
    for bigendian in (False, True):
        pixels, encoding = depth_from_ros(image_msg(millimetres, "16UC1", 0, bigendian, padding=3))
        assert encoding == "16UC1" and pixels.dtype == np.uint16
        np.testing.assert_array_equal(pixels, millimetres)
    metres = np.linspace(0.5, 4.0, 12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(depth_from_ros(image_msg(metres, "32FC1", 0))[0], metres)
    with pytest.raises(ValueError, match="depth encoding 'bgr8' is not supported"):
        depth_from_ros(image_msg(np.zeros((2, 2, 3), np.uint8), "bgr8", 0))


def test_nearest_stamp_and_depth_check():
    assert nearest_stamp(100, [10, 95, 130], 10) == 1
    assert nearest_stamp(100, [10, 130], 10) is None and nearest_stamp(100, [], 10) is None
    check = DepthCheck()
    assert check.metres(np.zeros((240, 320), np.uint16), "16UC1", (640, 480)).dtype == np.float32  # half size
    assert check.warning is None
    assert check.metres(np.zeros((240, 300), np.uint16), "16UC1", (640, 480)) is None
    assert "not a scaled copy" in check.warning
    assert check.metres(np.zeros((240, 300), np.uint16), "16UC1", (640, 480)) is None
    assert check.warning is None  # each problem is said once
    assert check.metres(np.zeros((240, 320), np.uint16), "32FC1", (320, 240)) is None
    assert "32FC1 depth image holds float32" in check.warning
    assert (check.used, check.refused) == (1, 3)
    # lifter_node: a depth Image whose buffer does not fit its fields is refused like these, the lift goes on
    cut = image_msg(np.zeros((240, 320), np.uint16), "16UC1", 0)
    cut.data = cut.data[:-1]
    with pytest.raises(ValueError, match="does not fit") as unreadable:
        depth_from_ros(cut)
    check.refuse(unreadable.value)
    assert "depth image not used" in check.warning and (check.used, check.refused) == (1, 4)


def test_a_recording_pairs_depth_by_stamp_and_counts_what_it_cannot_use(tmp_path, caplog):
    good = np.full((240, 320), 2500, np.uint16)
    depth = [(good, "16UC1"), (good, "16UC1"), (np.zeros((240, 320), np.uint8), "8UC1"), (good, "16UC1")]
    stamps = [T0 + 10_000_000, T0 + 10**8 - 20_000_000, T0 + 2 * 10**8, T0 + 3 * 10**8 + 150_000_000]
    write_recording(tmp_path / "bag", depth, stamps)
    with open_source(str(tmp_path / "bag")) as source:  # colour and depth topics found by their names
        assert source.image_topic == "/cam/color/image_raw"
        assert source.depth_topic == "/cam/aligned_depth_to_color/image_raw"
        frames = list(source)
        assert (source.depth_paired, source.depth_too_far, source.depth_unreadable) == (2, 2, 1)
    assert [f.depth is not None for f in frames] == [True, True, False, False]
    assert frames[0].depth_encoding == "16UC1" and frames[0].depth[0, 0] == 2500
    assert "not supported" in caplog.text and "no depth image within 50 ms of frame 2" in caplog.text
    with open_source(str(tmp_path / "bag"), depth_topic="") as source:
        assert source.depth_topic is None and all(f.depth is None for f in source)
    with pytest.raises(ValueError, match="no sensor_msgs/Image topic '/nope' for depth"):
        open_source(str(tmp_path / "bag"), depth_topic="/nope")


class ExactDetector:
    """The walker's exact 2D keypoints, whatever the image."""

    def __init__(self, pose):
        self.kp2d = project(pose[None], K).astype(np.float32)

    def __call__(self, image, timestamp_s=None):
        return Keypoints2D(self.kp2d, np.ones(self.kp2d.shape[:2], np.float32), np.array([3]), (320, 240))

    def close(self):
        pass


def test_pose3d_run_places_people_by_depth_and_says_how_many(tmp_path):
    pose = walker(3.0)
    depth_m = add_background(render_depth(pose[None], WHOLEBODY133, K, (320, 240)), 5.0)
    depth_mm = np.round(depth_m * 1000).astype(np.uint16)
    depth = [(depth_mm, "16UC1"), (depth_m, "32FC1"), (depth_mm[::2, ::2].copy(), "16UC1"),
             (np.zeros((240, 300), np.uint16), "16UC1")]  # the last: not aligned, refused
    write_recording(tmp_path / "bag", depth, [T0 + i * 10**8 for i in range(4)], frames=5)
    settings = PipelineSettings.defaults().without_temporal()
    intrinsics = IntrinsicsOverride(K[0, 0], K[1, 1], K[0, 2], K[1, 2])  # the recording has no CameraInfo
    with open_source(str(tmp_path / "bag"), intrinsics=intrinsics) as source, \
            PosePipeline(settings, detector=ExactDetector(pose)) as pipeline:
        summary = run(source, pipeline, tmp_path / "out", progress=False)
    assert summary.frames == 5 and summary.exit_code() == 0  # depth trouble never costs a frame
    assert summary.placed_by_depth == 3
    assert summary.depth == {"topic": "/cam/aligned_depth_to_color/image_raw", "paired": 4, "too_far": 1,
                             "unreadable": 0, "refused": 1}
    assert "3 of 5 person-frames placed by depth" in summary.text()
    from rosbags.highlevel import AnyReader

    types = load_message_types()
    with AnyReader([tmp_path / "out"], default_typestore=types.typestore) as reader:
        connection = next(c for c in reader.connections if c.topic == "/skeletons3d")
        frames = [skeleton3d_to_numpy(reader.deserialize(raw, connection.msgtype))
                  for _, _, raw in reader.messages([connection])]
    placement = [int(frame.placement[0]) for frame in frames]
    assert placement == [PlacementSource.DEPTH] * 3 + [PlacementSource.LEAST_SQUARES] * 2
    pelvis = root_centre(pose, WHOLEBODY133)
    for frame in frames[:3]:
        assert abs(root_centre(frame.positions, WHOLEBODY133)[0, 2] - pelvis[2]) < 0.06
