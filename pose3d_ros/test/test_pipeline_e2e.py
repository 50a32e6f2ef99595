"""`pose3d run` end to end with the real models: the shared video, a rosbag2 made from it, and bad sources."""

import json
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest
from mcap.reader import make_reader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from pose3d_ros.camera import default_intrinsics, project
from pose3d_ros.cli import main
from pose3d_ros.messages import load_typestore
from pose3d_ros.pipeline.writer import TOPICS
from pose3d_ros.skeleton import JointStatus

FRAMES = 4
BAG_K = np.array([[600.0, 0.0, 400.0], [0.0, 600.0, 300.0], [0.0, 0.0, 1.0]])  # far from the default camera


def read_raw_mcap(path):
    """Every message as (topic, schema name, schema text, log time, CDR bytes), read with the mcap library."""
    with open(path, "rb") as stream:
        reader = make_reader(stream)
        return [(channel.topic, schema.name, schema.data.decode(), message.log_time, message.data)
                for schema, channel, message in reader.iter_messages(log_time_order=True)]


def decode_with_project_definitions(messages):
    """Decode the CDR of every message with a typestore built from this package's .msg files (not the file's
    schemas), after checking that the file's schemas are exactly those definitions."""
    store = load_typestore()
    decoded = {}
    for topic, name, schema_text, log_time, data in messages:
        assert schema_text == store.generate_msgdef(name, ros_version=2)[0]
        decoded.setdefault(topic, []).append((log_time, store.deserialize_cdr(data, name)))
    return decoded


def stamp_of(msg):
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def check_outputs(out, expected_stamps, expected_K, frame_id):
    data = np.load(out / "skeletons.npz")
    np.testing.assert_array_equal(data["stamp_ns"], expected_stamps)
    np.testing.assert_allclose(data["K"], np.broadcast_to(expected_K, (len(expected_stamps), 3, 3)))
    assert (data["person_ids"] >= 0).any(), "nobody detected in the clip"

    decoded = decode_with_project_definitions(read_raw_mcap(out / "pose3d.mcap"))
    for topic in ("camera_info", "keypoints", "raw", "raw_markers"):
        messages = decoded[TOPICS[topic]]
        assert [log_time for log_time, _ in messages] == list(expected_stamps), topic
    for topic in ("camera_info", "keypoints", "raw"):
        assert [stamp_of(m) for _, m in decoded[TOPICS[topic]]] == list(expected_stamps), topic
        assert {m.header.frame_id for _, m in decoded[TOPICS[topic]]} == {frame_id}
    refined = decoded[TOPICS["refined"]]
    assert {stamp_of(m) for _, m in refined} <= set(expected_stamps.tolist()) and refined
    np.testing.assert_allclose(decoded[TOPICS["camera_info"]][0][1].k, expected_K.reshape(-1))

    # every message matches the npz row of its frame
    for row, (_, msg) in enumerate(decoded[TOPICS["raw"]]):
        for skeleton in msg.skeletons:
            slot = list(data["person_ids"][row]).index(skeleton.person_id)
            np.testing.assert_allclose(np.array(skeleton.position).reshape(-1, 3), data["raw_positions"][row, slot])
    for _, msg in refined:
        row = list(data["stamp_ns"]).index(stamp_of(msg))
        for skeleton in msg.skeletons:
            slot = list(data["person_ids"][row]).index(skeleton.person_id)
            np.testing.assert_allclose(np.array(skeleton.position).reshape(-1, 3),
                                       data["refined_positions"][row, slot])
            assert set(np.unique(skeleton.status)) <= {JointStatus.REFINED, JointStatus.FILLED,
                                                       JointStatus.MISSING}
    return data


def reprojection_error_px(data, K):
    """Median distance between the observed 2D keypoints and their 3D joints projected with K."""
    seen = (data["raw_status"] == JointStatus.OBSERVED) & (data["person_ids"][..., None] >= 0)
    pixels = project(data["raw_positions"][seen], K)
    return float(np.median(np.linalg.norm(pixels - data["kp2d"][seen], axis=-1)))


def test_video_end_to_end(video_path, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", "--source", str(video_path), "--out", str(out), "--max-frames", str(FRAMES), "--render",
                 "--no-progress", "--device", "cpu"])
    assert code == 0
    report = capsys.readouterr().out
    assert f"{FRAMES} processed" in report and "fps" in report
    fps = cv2.VideoCapture(str(video_path)).get(cv2.CAP_PROP_FPS)
    stamps = np.round(np.arange(FRAMES) * 1e9 / fps).astype(np.int64)  # frame index / fps
    width, height = 960, 540
    data = check_outputs(out, stamps, default_intrinsics(width, height), "camera_optical_frame")
    video = cv2.VideoCapture(str(out / "render.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
    assert int(video.get(cv2.CAP_PROP_FRAME_WIDTH)) == width + height  # the image beside a square 3D view
    assert reprojection_error_px(data, default_intrinsics(width, height)) < 25.0
    assert (tmp_path / "out" / "metadata.yaml").is_file()


def test_rosbag2_end_to_end_uses_the_bags_camera(video_path, tmp_path):
    store = get_typestore(Stores.ROS2_HUMBLE)
    Image, CameraInfo = store.types["sensor_msgs/msg/Image"], store.types["sensor_msgs/msg/CameraInfo"]
    Header, Time = store.types["std_msgs/msg/Header"], store.types["builtin_interfaces/msg/Time"]
    roi = store.types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                          do_rectify=False)
    capture = cv2.VideoCapture(str(video_path))
    stamps = 1_700_000_000 * 10**9 + 7 + np.arange(FRAMES) * 100_000_000  # odd nanoseconds survive
    bag = tmp_path / "bag"
    with Writer(bag, version=8, storage_plugin=StoragePlugin.SQLITE3) as writer:
        images = writer.add_connection("/front/image_raw", Image.__msgtype__, typestore=store)
        infos = writer.add_connection("/front/camera_info", CameraInfo.__msgtype__, typestore=store)
        for stamp in stamps:
            ok, bgr = capture.read()
            assert ok
            header = Header(stamp=Time(sec=int(stamp // 10**9), nanosec=int(stamp % 10**9)), frame_id="front_optical")
            rgb = np.ascontiguousarray(bgr[..., ::-1])
            writer.write(images, int(stamp) + 5_000_000, store.serialize_cdr(Image(
                header=header, height=540, width=960, encoding="rgb8", is_bigendian=0, step=960 * 3,
                data=rgb.reshape(-1)), Image.__msgtype__))
            projection = np.hstack([BAG_K, np.zeros((3, 1))]).reshape(-1)
            writer.write(infos, int(stamp) + 5_000_000, store.serialize_cdr(CameraInfo(
                header=header, height=540, width=960, distortion_model="plumb_bob", d=np.zeros(5),
                k=BAG_K.reshape(-1), r=np.eye(3).reshape(-1), p=projection, binning_x=0, binning_y=0, roi=roi),
                CameraInfo.__msgtype__))
    out = tmp_path / "out"
    assert main(["run", "--source", str(bag), "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    data = check_outputs(out, stamps, BAG_K, "front_optical")
    # the 3D joints were placed with the bag's camera: they reproject onto their keypoints with it, not otherwise
    error_px = reprojection_error_px(data, BAG_K)
    assert error_px < 50.0  # a sanity bound on a 960-px image; how close depends on the shipped lifter's accuracy
    assert reprojection_error_px(data, default_intrinsics(960, 540)) > 3 * error_px


def test_bad_sources_exit_with_a_clear_message(tmp_path, caplog):
    assert main(["run", "--source", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in caplog.text
    caplog.clear()
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["run", "--source", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "o")]) == 2
    assert "not a readable video file" in caplog.text
    caplog.clear()
    assert main(["run", "--source", "57", "--out", str(tmp_path / "o")]) == 2
    assert "no camera at index 57" in caplog.text
    assert not (tmp_path / "o").exists()  # nothing is written for a source that cannot be opened


def test_a_lifter_the_2d_stage_cannot_feed_is_refused_before_anything_runs(tmp_path, caplog):
    from pose3d_ros.weights_file import SHIPPED_WEIGHTS_DIR

    h36m_lifter = SHIPPED_WEIGHTS_DIR / "lifter_semgan_h36m17.safetensors"
    assert main(["run", "--source", "demo", "--lifter-weights", str(h36m_lifter), "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 2
    assert "the lifter is for layout h36m17, but the 2D stage gives wholebody133 keypoints" in caplog.text
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signalled_run_exits_128_plus_the_signal_with_readable_outputs(tmp_path, signum):
    """What docker stop, systemd or timeout (SIGTERM) and Ctrl-C (SIGINT) do to a running `pose3d run`."""
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "pose3d_ros.cli", "run", "--source", "demo", "--out", str(out), "--render",
         "--refine", "none", "--no-progress", "--max-frames", "60", "--device", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stderr:  # wait until frames are being processed
            if "processed 1 frames" in line:
                break
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 128 + signum, stderr
    assert f"stopped by {signum.name}" in stdout
    frames = np.load(out / "skeletons.npz")["frame_index"]
    assert 1 <= len(frames) < 60 and frames.tolist() == list(range(len(frames)))
    assert int(cv2.VideoCapture(str(out / "render.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == len(frames)
    with open(out / "pose3d.mcap", "rb") as stream:
        assert make_reader(stream).get_summary() is not None  # the file was closed, not cut off
    assert sum(1 for topic, *_ in read_raw_mcap(out / "pose3d.mcap") if topic == TOPICS["raw"]) == len(frames)
    assert json.loads((out / "summary.json").read_text())["stopped_by"] == signum.name
    assert sorted(p.name for p in out.iterdir()) == ["metadata.yaml", "pose3d.mcap", "render.mp4", "skeletons.npz",
                                                     "summary.json"]  # nothing left under a temporary name
