"""Frame sources without any model: ROS image decoding, intrinsics, video files, recordings, the demo clip."""

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from pose3d_ros.camera import default_intrinsics
from pose3d_ros.pipeline.demo import DemoSource, demo_intrinsics
from pose3d_ros.pipeline.sources import (
    BagSource,
    IntrinsicsOverride,
    VideoFileSource,
    camera_from_camera_info,
    image_from_compressed,
    image_from_ros,
    open_source,
)

STORE = get_typestore(Stores.ROS2_JAZZY)
Image = STORE.types["sensor_msgs/msg/Image"]
CompressedImage = STORE.types["sensor_msgs/msg/CompressedImage"]
CameraInfo = STORE.types["sensor_msgs/msg/CameraInfo"]
Header = STORE.types["std_msgs/msg/Header"]
Time = STORE.types["builtin_interfaces/msg/Time"]
RegionOfInterest = STORE.types["sensor_msgs/msg/RegionOfInterest"]


def header(stamp_ns=0, frame_id="cam_optical"):
    return Header(stamp=Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id=frame_id)


def image_msg(pixels, encoding, step=None, bigendian=False, stamp_ns=0):
    height, width = pixels.shape[:2]
    row = pixels.reshape(height, -1).view(np.uint8)
    step = step or row.shape[1]
    data = np.zeros((height, step), np.uint8)
    data[:, : row.shape[1]] = row
    return Image(header=header(stamp_ns), height=height, width=width, encoding=encoding,
                 is_bigendian=int(bigendian), step=step, data=data.reshape(-1))


def camera_info(K, width, height, stamp_ns=0):
    roi = RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    P = np.zeros(12)
    P.reshape(3, 4)[:, :3] = K
    return CameraInfo(header=header(stamp_ns), height=height, width=width, distortion_model="plumb_bob",
                      d=np.zeros(5), k=np.asarray(K, float).reshape(-1), r=np.eye(3).reshape(-1), p=P,
                      binning_x=0, binning_y=0, roi=roi)


# ---- decoding -----------------------------------------------------------------------------------


def test_rgb8_with_row_padding_becomes_bgr():
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 200  # red
    rgb[1, 2] = [1, 2, 3]
    out = image_from_ros(image_msg(rgb, "rgb8", step=12))
    assert out.shape == (2, 3, 3) and out.dtype == np.uint8
    assert out[0, 0].tolist() == [0, 0, 200]
    assert out[1, 2].tolist() == [3, 2, 1]


@pytest.mark.parametrize("encoding, channels", [("bgr8", 3), ("bgra8", 4), ("rgba8", 4), ("mono8", 1)])
def test_eight_bit_encodings(encoding, channels):
    pixels = np.random.default_rng(0).integers(0, 255, (4, 5, channels), dtype=np.uint8)
    out = image_from_ros(image_msg(pixels, encoding))
    expected = {"bgr8": pixels, "bgra8": pixels[..., :3], "rgba8": pixels[..., 2::-1],
                "mono8": np.repeat(pixels, 3, axis=-1)}[encoding]
    np.testing.assert_array_equal(out, expected)


def test_mono16_big_endian_is_normalised():
    values = np.array([[0, 1000], [2000, 4000]], np.uint16)  # a 12-bit camera
    out = image_from_ros(image_msg(values.astype(">u2"), "mono16", bigendian=True))
    assert out[..., 0].tolist() == [[0, 64], [128, 255]]


def test_bayer_uses_the_cv_bridge_pattern_mapping():
    # an RGGB mosaic of a uniformly red scene: only the R sites (even row, even column) are lit
    mosaic = np.zeros((8, 8), np.uint8)
    mosaic[0::2, 0::2] = 200
    out = image_from_ros(image_msg(mosaic, "bayer_rggb8"))
    b, g, r = out[2:6, 2:6].reshape(-1, 3).mean(axis=0)
    assert r > 150 and g < 60 and b < 60


def test_bad_images_raise_clear_errors():
    with pytest.raises(ValueError, match="unsupported image encoding 'weird'"):
        image_from_ros(image_msg(np.zeros((2, 2, 3), np.uint8), "weird"))
    short = image_msg(np.zeros((2, 2, 3), np.uint8), "bgr8")
    short.data = short.data[:5]
    with pytest.raises(ValueError, match="does not fit"):
        image_from_ros(short)
    with pytest.raises(ValueError, match="does not decode"):
        image_from_compressed(CompressedImage(header=header(), format="jpeg", data=np.arange(50, dtype=np.uint8)))


def test_compressed_jpeg_round_trip():
    image = np.full((16, 24, 3), (10, 120, 240), np.uint8)
    data = cv2.imencode(".jpg", image)[1].reshape(-1)
    out = image_from_compressed(CompressedImage(header=header(), format="bgr8; jpeg compressed bgr8", data=data))
    assert out.shape == image.shape and np.abs(out.astype(int) - image).max() < 6


# ---- intrinsics -----------------------------------------------------------------------------------


def test_camera_info_intrinsics_distortion_and_rescaling():
    K = np.array([[500.0, 0, 320], [0, 510, 240], [0, 0, 1]])
    camera = camera_from_camera_info(camera_info(K, 640, 480), 640, 480)
    np.testing.assert_allclose(camera.K, K)
    assert camera.distortion is None  # all-zero coefficients: an ideal pinhole image
    half = camera_from_camera_info(camera_info(K, 640, 480), 320, 240)  # the image was downscaled by 2
    np.testing.assert_allclose(half.K, [[250, 0, 160], [0, 255, 120], [0, 0, 1]])
    assert camera_from_camera_info(camera_info(np.zeros((3, 3)), 640, 480), 640, 480) is None  # uncalibrated
    distorted = camera_info(K, 640, 480)
    distorted.d = np.array([-0.2, 0.05, 0.0, 0.0, 0.0])
    camera = camera_from_camera_info(distorted, 640, 480)
    assert camera.distortion_model == "plumb_bob" and camera.distortion[0] == -0.2


def test_intrinsics_override():
    K = default_intrinsics(640, 480)
    out = IntrinsicsOverride(fx=400.0).apply(K)
    assert out[0, 0] == out[1, 1] == 400.0 and out[0, 2] == K[0, 2]
    out = IntrinsicsOverride(fy=300.0, cx=1.0, cy=2.0).apply(K)
    assert out[0, 0] == out[1, 1] == 300.0 and (out[0, 2], out[1, 2]) == (1.0, 2.0)
    with pytest.raises(ValueError, match="positive"):
        IntrinsicsOverride(fx=-1.0).apply(K)


# ---- video files and source selection ------------------------------------------------------------------


@pytest.fixture
def small_video(tmp_path):
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for i in range(6):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    return path


def test_video_file_frames_stamps_and_default_intrinsics(small_video):
    with open_source(str(small_video)) as source:
        assert isinstance(source, VideoFileSource) and source.fps == pytest.approx(10.0)
        frames = list(source)
    assert [f.index for f in frames] == list(range(6))
    assert [f.stamp_ns for f in frames] == [i * 100_000_000 for i in range(6)]
    assert frames[3].image.shape == (48, 64, 3)
    np.testing.assert_allclose(frames[0].K, default_intrinsics(64, 48))


def test_default_intrinsics_are_announced_once_with_the_focal_length_and_the_remedy(small_video, caplog):
    with caplog.at_level(logging.WARNING, logger="pose3d_ros.pipeline.sources"):
        with open_source(str(small_video)) as source:
            list(source)
    (warning,) = [r.getMessage() for r in caplog.records if "no camera intrinsics" in r.getMessage()]
    assert f"fx = fy = {default_intrinsics(64, 48)[0, 0]:.1f} px" in warning and "--fx/--fy/--cx/--cy" in warning
    caplog.clear()
    for given, announced in ((IntrinsicsOverride(fx=90.0), False), (IntrinsicsOverride(cx=30.0), True)):
        with caplog.at_level(logging.WARNING, logger="pose3d_ros.pipeline.sources"), \
                open_source(str(small_video), intrinsics=given) as source:
            next(iter(source))
        assert ("no camera intrinsics" in caplog.text) is announced  # only the focal length matters
        caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pose3d_ros.pipeline.sources"), open_source("demo") as source:
        next(iter(source))
    assert "no camera intrinsics" not in caplog.text  # the demo reports its camera


def test_video_file_with_override(small_video):
    with open_source(str(small_video), intrinsics=IntrinsicsOverride(fx=90.0, cx=30.0)) as source:
        K = next(iter(source)).K
    assert (K[0, 0], K[1, 1], K[0, 2], K[1, 2]) == (90.0, 90.0, 30.0, 24.0)


def damaged_video(path, fourcc, frames=90):
    """A 15 fps clip whose frame i has mean brightness about 2 i + 10, with 20 % of its bytes in the middle
    overwritten by noise (the container's index at the end is intact)."""
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 15.0, (64, 48))
    for i in range(frames):
        writer.write((2 * i + rng.integers(0, 21, (48, 64, 3))).astype(np.uint8))
    writer.release()
    data = bytearray(path.read_bytes())
    start, stop = len(data) * 4 // 10, len(data) * 6 // 10
    data[start:stop] = rng.integers(0, 256, stop - start, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("name, fourcc", [
    ("clip.mp4", "mp4v"),  # OpenCV fails 20 reads in a row, then recovers by itself
    ("clip.avi", "MJPG"),  # the demuxer gives up after the damage: only seeking reaches the frames after it
    ("clip.mkv", "XVID"),  # the demuxer skips the damage without an error: only the timestamps show it
])
def test_a_damaged_video_is_read_to_its_end_and_every_lost_frame_is_reported(tmp_path, name, fourcc):
    with open_source(str(damaged_video(tmp_path / name, fourcc))) as source:
        frames = list(source)
    indices = [f.index for f in frames]
    lost = [i for gap in source.gaps for i in range(gap.first, gap.last + 1)]
    assert source.gaps and indices[-1] == 89  # the frames after the damage are read, up to the last
    assert sorted(indices + lost) == list(range(90))  # every frame is either delivered or reported lost
    assert source.skipped == len(lost) and source.ended_early is None
    assert [f.stamp_ns for f in frames] == [round(i * 1e9 / 15) for i in indices]
    for gap in source.gaps:
        assert gap.first_stamp_ns == round(gap.first * 1e9 / 15) and gap.to_dict()["frames"] == gap.count
    # after the damage each frame is the one its index says (mean brightness 2 i + 10)
    assert abs(frames[-1].image.mean() - (2 * 89 + 10)) < 3


def test_bad_sources_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_source(str(tmp_path / "missing.mp4"))
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="not a rosbag2 recording"):
        open_source(str(tmp_path / "folder"))
    (tmp_path / "fake.mp4").write_text("not a video")
    with pytest.raises(ValueError, match="not a readable video"):
        open_source(str(tmp_path / "fake.mp4"))
    (tmp_path / "fake.mcap").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a readable rosbag2/MCAP"):
        open_source(str(tmp_path / "fake.mcap"))
    with pytest.raises(FileNotFoundError, match="no camera at index 99"):
        open_source("99")


def test_demo_source_reports_its_camera():
    source = DemoSource(seconds=0.2)
    frames = list(source)
    assert len(frames) == 3 and frames[0].image.shape == (540, 960, 3)
    np.testing.assert_allclose(frames[1].K, demo_intrinsics())
    assert frames[1].stamp_ns == round(1e9 / source.fps)
    assert frames[0].image.std() > 10  # something is drawn


# ---- recordings ----------------------------------------------------------------------------------


def write_bag(path, storage, topics, frames=4, corrupt_index=None):
    """A rosbag2 with an image stream per topic (every other one compressed) and CameraInfo next to the first."""
    K = np.array([[300.0, 0, 30], [0, 300, 20], [0, 0, 1]])
    with Writer(path, version=8, storage_plugin=storage) as writer:
        connections = {}
        for k, topic in enumerate(topics):
            msgtype = "sensor_msgs/msg/CompressedImage" if k % 2 else "sensor_msgs/msg/Image"
            connections[topic] = writer.add_connection(topic, msgtype, typestore=STORE)
        info = writer.add_connection("/cam/camera_info", "sensor_msgs/msg/CameraInfo", typestore=STORE)
        for i in range(frames):
            stamp = 5 * 10**9 + i * 50_000_000
            writer.write(info, stamp, STORE.serialize_cdr(camera_info(K, 64, 48, stamp), CameraInfo.__msgtype__))
            pixels = np.full((48, 64, 3), 30 * i, np.uint8)
            for connection in connections.values():
                if connection.msgtype.endswith("CompressedImage"):
                    data = cv2.imencode(".png", pixels)[1].reshape(-1)
                    if i == corrupt_index:
                        data = data[:20]
                    msg = CompressedImage(header=header(stamp), format="png", data=data)
                else:
                    msg = image_msg(pixels, "bgr8", stamp_ns=stamp)
                writer.write(connection, stamp + 1000, STORE.serialize_cdr(msg, connection.msgtype))
    return K


@pytest.mark.parametrize("storage", [StoragePlugin.SQLITE3, StoragePlugin.MCAP])
def test_bag_source_reads_images_stamps_and_camera_info(tmp_path, storage):
    K = write_bag(tmp_path / "bag", storage, ["/cam/image_raw"])
    with open_source(str(tmp_path / "bag")) as source:
        assert isinstance(source, BagSource) and source.camera_info_topic == "/cam/camera_info"
        frames = list(source)
    assert [f.stamp_ns for f in frames] == [5 * 10**9 + i * 50_000_000 for i in range(4)]  # header stamps
    assert frames[2].image[0, 0].tolist() == [60, 60, 60]
    assert frames[0].frame_id == "cam_optical"
    np.testing.assert_allclose(frames[0].K, K)


def test_single_mcap_file_and_topic_choice(tmp_path):
    write_bag(tmp_path / "bag", StoragePlugin.MCAP, ["/cam/image_raw", "/cam/image_raw/compressed"],
              corrupt_index=1)
    with pytest.raises(ValueError, match="several image topics.*--image-topic.*/cam/image_raw, "):
        open_source(str(tmp_path / "bag"))
    mcap_file = next((tmp_path / "bag").glob("*.mcap"))
    with open_source(str(mcap_file), image_topic="/cam/image_raw/compressed") as source:
        frames = list(source)
        assert source.skipped == 1  # the truncated PNG: logged, counted, not fatal
    assert [f.index for f in frames] == [0, 2, 3]
    assert frames[0].K[0, 0] == 300.0  # CameraInfo found beside the compressed topic's namespace
    with pytest.raises(ValueError, match="no image topic '/nope'.*topics: /cam/camera_info"):
        open_source(str(mcap_file), image_topic="/nope")
    with pytest.raises(ValueError, match="no CameraInfo topic '/other'"):
        open_source(str(mcap_file), image_topic="/cam/image_raw", camera_info_topic="/other")


def test_a_damaged_sqlite_bag_ends_early_and_keeps_the_frames_before_the_damage(tmp_path):
    """Regression (fuzzing): a .db3 cut short or overwritten in the middle opens, then sqlite's IOError or
    CorruptError escaped from the iteration and ended `pose3d run` with a traceback."""
    write_bag(tmp_path / "bag", StoragePlugin.SQLITE3, ["/cam/image_raw"], frames=6)
    data = next((tmp_path / "bag").glob("*.db3")).read_bytes()
    damaged = tmp_path / "damaged.db3"
    damaged.write_bytes(data[: len(data) - 2])
    with open_source(str(damaged)) as source:
        frames = list(source)
    assert source.ended_early and "cannot be read" in source.ended_early
    assert [f.index for f in frames] == list(range(len(frames))) and len(frames) < 6


def test_bag_without_images_lists_its_topics(tmp_path):
    String = STORE.types["std_msgs/msg/String"]
    with Writer(tmp_path / "bag", version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        connection = writer.add_connection("/chatter", String.__msgtype__, typestore=STORE)
        writer.write(connection, 1, STORE.serialize_cdr(String(data="hi"), String.__msgtype__))
    with pytest.raises(ValueError, match=r"no sensor_msgs/Image or CompressedImage topic.*/chatter \(std_msgs"):
        open_source(str(tmp_path / "bag"))


def test_override_beats_camera_info(tmp_path):
    write_bag(tmp_path / "bag", StoragePlugin.MCAP, ["/cam/image_raw"])
    with open_source(str(tmp_path / "bag"), intrinsics=IntrinsicsOverride(fx=111.0)) as source:
        K = next(iter(source)).K
    assert (K[0, 0], K[1, 1], K[0, 2]) == (111.0, 111.0, 30.0)


def test_bag_folder_without_metadata_uses_its_only_storage_file(tmp_path):
    write_bag(tmp_path / "bag", StoragePlugin.MCAP, ["/cam/image_raw"])
    (tmp_path / "bag" / "metadata.yaml").unlink()
    with open_source(str(tmp_path / "bag")) as source:
        assert Path(source.description).suffix == ".mcap"
        assert len(list(source)) == 4


def test_ros1_bag(tmp_path):
    from rosbags.rosbag1 import Writer as Writer1

    store = get_typestore(Stores.ROS1_NOETIC)
    image_type, header_type = store.types["sensor_msgs/msg/Image"], store.types["std_msgs/msg/Header"]
    with Writer1(tmp_path / "old.bag") as writer:
        connection = writer.add_connection("/cam/image_raw", image_type.__msgtype__, typestore=store)
        for i in range(3):
            pixels = np.full((48, 64, 3), 30 * i, np.uint8)
            header = header_type(seq=i, stamp=Time(sec=10 + i, nanosec=5), frame_id="cam")
            msg = image_type(header=header, height=48, width=64, encoding="bgr8", is_bigendian=0, step=192,
                             data=pixels.reshape(-1))
            writer.write(connection, (10 + i) * 10**9, store.serialize_ros1(msg, image_type.__msgtype__))
    with open_source(str(tmp_path / "old.bag")) as source:
        frames = list(source)
    assert [f.stamp_ns for f in frames] == [10_000_000_005, 11_000_000_005, 12_000_000_005]
    assert frames[2].image[0, 0].tolist() == [60, 60, 60] and frames[0].frame_id == "cam"
    np.testing.assert_allclose(frames[0].K, default_intrinsics(64, 48))
