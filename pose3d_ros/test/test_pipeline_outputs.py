"""The pipeline's plumbing without models: MCAP recording, skeletons.npz, rendering, settings, the run loop."""

import dataclasses
import json
import logging
import os
import signal
import tempfile
import tracemalloc
import zipfile
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.highlevel import AnyReader

from pose3d_ros.keypoints2d import Keypoints2D
from pose3d_ros.lifting import LiftResult
from pose3d_ros.messages import load_message_types, make_header, safety_state_to_numpy, skeleton3d_array
from pose3d_ros.node_logic.temporal_frames import SkeletonFrame
from pose3d_ros.pipeline import outputs
from pose3d_ros.pipeline.core import PipelineSettings, PosePipeline
from pose3d_ros.pipeline.outputs import FrameRecord, FrameRecords, partial_path
from pose3d_ros.pipeline.recording import McapRecorder, camera_info_msg
from pose3d_ros.pipeline.render import Renderer
from pose3d_ros.pipeline.run import run
from pose3d_ros.pipeline.sources import CameraModel, Frame, FrameSource, VideoFileSource
from pose3d_ros.pipeline.writer import TOPICS
from pose3d_ros.safety import SafetyConfig, SafetyMonitor, SafetyState
from pose3d_ros.safety.markers import object_outlines
from pose3d_ros.skeleton import H36M17, WHOLEBODY133, JointStatus, PlacementSource
from pose3d_ros.temporal.streaming import RefinedPose

PACKAGE = Path(__file__).resolve().parents[1]
J = WHOLEBODY133.num_joints


def read_mcap(path):
    """Every message of an MCAP file, decoded by the mcap library from the schemas stored in the file."""
    with open(path, "rb") as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        summary = reader.get_summary()
        messages = [(channel.topic, schema, message.log_time, decoded)
                    for schema, channel, message, decoded in reader.iter_decoded_messages(log_time_order=True)]
    return summary, messages


# ---- MCAP recorder ----------------------------------------------------------------------------------


def test_recorder_writes_cdr_with_ros2msg_schemas_and_a_bag_folder(tmp_path):
    types = load_message_types()
    positions = np.random.default_rng(0).normal(size=(2, J, 3)).astype(np.float32)
    camera = CameraModel(np.diag([500.0, 500.0, 1.0]), np.array([-0.1, 0.01, 0, 0, 0]), "plumb_bob")
    with McapRecorder(tmp_path, types.typestore) as recorder:
        for k in range(3):
            header = make_header(types, 10**9 + k * 10**8, "cam")
            recorder.write("/cam/info", camera_info_msg(types, header, camera, 64, 48), 10**9 + k * 10**8)
            recorder.write("/skeletons", skeleton3d_array(types, header, positions + k, np.full((2, J), 0.5),
                                                          np.full((2, J), 0.02), np.ones((2, J), np.uint8), [4, 9]),
                           10**9 + k * 10**8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata.yaml", "pose3d.mcap"]
    summary, messages = read_mcap(tmp_path / "pose3d.mcap")
    schemas = {schema.name: schema for schema in summary.schemas.values()}
    skeleton_schema = schemas["pose3d_ros_msgs/msg/Skeleton3DArray"]
    assert skeleton_schema.encoding == "ros2msg"
    text = skeleton_schema.data.decode()
    assert text.startswith("std_msgs/Header header\npose3d_ros_msgs/Skeleton3D[] skeletons\n")
    assert "=" * 80 + "\nMSG: pose3d_ros_msgs/Skeleton3D\n" in text and "uint8 STATUS_FILLED=4" in text
    assert {c.message_encoding for c in summary.channels.values()} == {"cdr"}
    skeletons = [m for topic, _, _, m in messages if topic == "/skeletons"]
    assert [m.header.stamp.nanosec for m in skeletons] == [0, 10**8, 2 * 10**8]
    np.testing.assert_allclose(np.array(skeletons[2].skeletons[1].position).reshape(J, 3), positions[1] + 2)
    assert [s.person_id for s in skeletons[0].skeletons] == [4, 9]
    info = next(m for topic, _, _, m in messages if topic == "/cam/info")
    assert list(info.d) == [-0.1, 0.01, 0, 0, 0] and info.k[0] == 500.0 and info.p[5] == 500.0
    # the output folder is itself a rosbag2 bag (what `ros2 bag play DIR` reads)
    with AnyReader([tmp_path]) as reader:
        assert {c.topic: c.msgcount for c in reader.connections} == {"/cam/info": 3, "/skeletons": 3}
        assert "offered_qos_profiles" in (tmp_path / "metadata.yaml").read_text()


def test_recorder_rejects_a_second_type_on_a_topic_and_aborts_cleanly(tmp_path):
    types = load_message_types()
    header = make_header(types, 1, "cam")
    with pytest.raises(ValueError, match="carries sensor_msgs/msg/CameraInfo"):
        with McapRecorder(tmp_path, types.typestore) as recorder:
            recorder.write("/t", camera_info_msg(types, header, CameraModel(np.eye(3)), 4, 4), 1)
            recorder.write("/t", header, 2)
    assert list(tmp_path.iterdir()) == []  # no half-written pose3d.mcap, no staging folder


# ---- settings -------------------------------------------------------------------------------------


def test_settings_read_the_ros_parameter_file(tmp_path):
    defaults = PipelineSettings.defaults()
    assert PipelineSettings.from_params_file(PACKAGE / "config" / "pipeline.yaml") == defaults
    params = tmp_path / "params.yaml"
    params.write_text("lifter_node:\n  ros__parameters:\n    conf_threshold: 0.5\n"
                      "    markers:\n      bone_width: 0.02\n"
                      "temporal_node:\n  ros__parameters:\n    lookahead: 3\n")
    settings = PipelineSettings.from_params_file(params)
    assert settings.lifter["conf_threshold"] == 0.5 and settings.lifter["markers.bone_width"] == 0.02
    assert settings.refiner_options() == {"weights": None, "window": None, "lookahead": 3, "max_gap": 10,
                                          "device": "auto"}
    assert settings.detector_options() == ("movenet", {
        "max_people": 6, "min_person_score": 0.15, "parts_per_frame": 4, "feet_per_frame": 0.5,
        "part_max_age_s": 0.5, "min_part_presence": 0.5, "input_size": 256, "num_threads": 2})
    holistic = settings.replace("keypoints2d", backend="holistic")
    assert holistic.detector_options() == ("holistic", {"model_complexity": 1, "min_detection_confidence": 0.5,
                                                        "min_tracking_confidence": 0.5})
    params.write_text("lifter_node:\n  ros__parameters:\n    confidence_threshold: 0.5\n")
    with pytest.raises(ValueError, match="lifter_node has no parameter confidence_threshold"):
        PipelineSettings.from_params_file(params)
    with pytest.raises(ValueError, match="must be a double"):
        defaults.replace("lifter", conf_threshold="high")


def test_settings_apply_the_wildcard_section_like_the_launch_files(tmp_path, caplog):
    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters:\n    device: cpu\n    use_sim_time: true\n"
                      "temporal_node:\n  ros__parameters:\n    device: cuda\n")
    with caplog.at_level(logging.INFO, logger="pose3d_ros.pipeline.core"):
        settings = PipelineSettings.from_params_file(params)
    assert settings.lifter["device"] == "cpu" and settings.temporal["device"] == "cuda"  # the node's own wins
    assert "device" not in settings.keypoints2d  # a stage without the parameter ignores it, as its node does
    assert "use_sim_time" in caplog.text
    params.write_text("lifter_node: [1, 2]\n")
    with pytest.raises(ValueError, match="lifter_node must hold a ros__parameters mapping"):
        PipelineSettings.from_params_file(params)


# ---- the run loop, with stand-in stages -------------------------------------------------------------


class StubSource(FrameSource):
    def __init__(self, frames=8, size=(64, 48), stamps=None):
        super().__init__()
        self.description, self.fps, self.frame_count, self.size = "stub", 10.0, frames, size
        self.stamps = stamps if stamps is not None else [3 * 10**9 + i * 10**8 for i in range(frames)]

    def __iter__(self):
        width, height = self.size
        for i, stamp in enumerate(self.stamps):
            image = np.full((height, width, 3), 20 * i, np.uint8)
            yield Frame(i, stamp, image, CameraModel(np.diag([100.0, 100.0, 1.0])), "stub_cam")


class StubDetector:
    """Person 7 in every frame but frames 3 and 4; a second person (2) in frames 5-7."""

    def __call__(self, image, timestamp_s=None):
        frame = int(image[0, 0, 0]) // 20
        ids = [i for i, present in ((2, frame >= 5), (7, frame not in (3, 4))) if present]
        kp2d = np.full((len(ids), J, 2), 10.0 + frame, np.float32)
        return Keypoints2D(kp2d, np.full((len(ids), J), 0.9, np.float32), np.array(ids, np.int64), (64, 48))

    def close(self):
        pass


class StubLifter:
    layout = WHOLEBODY133

    def lift(self, kp2d, conf, K, depth=None, image_size=None, up=None):
        positions = np.zeros((len(kp2d), J, 3), np.float32)
        positions[..., 2] = kp2d[..., 0]  # depth = 10 + frame index
        return LiftResult(positions=positions, root_relative=positions, error=np.full(conf.shape, 0.05, np.float32),
                          status=np.ones(conf.shape, np.uint8), root_translation=np.zeros((len(positions), 3)),
                          placement=np.full(len(positions), PlacementSource.LEAST_SQUARES, np.uint8))


def test_run_flags_give_the_lifter_the_cameras_up_direction():
    """`pose3d run --camera-pitch-deg/--camera-roll-deg` set lifter_node's parameters; the pipeline hands the up
    direction they give to every lift (None when the pitch is not given)."""
    from pose3d_ros.camera import up_from_pitch_roll
    from pose3d_ros.cli import build_parser
    from pose3d_ros.pipeline.commands import settings_from_args

    seen = []

    class RecordingLifter(StubLifter):
        def lift(self, kp2d, conf, K, depth=None, image_size=None, up=None):
            seen.append(up)
            return super().lift(kp2d, conf, K)

    keypoints = Keypoints2D(kp2d=np.full((1, J, 2), 5.0, np.float32), conf=np.ones((1, J), np.float32),
                            person_ids=np.array([0]), image_size=(640, 480))
    for flags, expected in ((["--camera-pitch-deg", "35", "--camera-roll-deg", "-3"], up_from_pitch_roll(35, -3)),
                            ([], None)):
        args = build_parser().parse_args(["run", "--source", "demo", "--refine", "none", *flags])
        settings = settings_from_args(args)
        pipeline = PosePipeline(settings, detector=object(), lifter=RecordingLifter())
        pipeline.lift(keypoints, CameraModel(np.eye(3)), 0, "cam")
        if expected is None:
            assert seen[-1] is None and np.isnan(settings.lifter["camera_pitch_deg"])
        else:
            np.testing.assert_allclose(seen[-1], expected)


class DelayRefiner:
    """Releases each person's pose two frames later, shifted by +1 m in x; absent frames are dropped (as if MISSING)."""

    layout = WHOLEBODY133
    lookahead = 2

    def __init__(self):
        self.held = {}

    def push_frame(self, stamp_s, person_ids, positions, confidence, status):
        out = []
        for person_id in set(self.held) | set(person_ids):
            queue = self.held.setdefault(person_id, [])
            if person_id in person_ids:
                p = list(person_ids).index(person_id)
                queue.append(RefinedPose(person_id, stamp_s, positions[p] + [1.0, 0, 0], confidence[p],
                                         np.full_like(status[p], JointStatus.REFINED)))
            else:
                queue.append(None)
            if len(queue) > self.lookahead:
                out.append(queue.pop(0))
        return [pose for pose in out if pose is not None]

    def flush(self):
        out = [pose for queue in self.held.values() for pose in queue if pose is not None]
        self.held.clear()
        return out


def test_run_loop_writes_every_frame_in_order_with_refined_rows(tmp_path):
    pipeline = PosePipeline(detector=StubDetector(), lifter=StubLifter(), refiner=DelayRefiner())
    summary = run(StubSource(), pipeline, tmp_path, render=True, write_images=True, progress=False)
    assert summary.frames == 8 and summary.person_frames == 6 + 3 and summary.max_people == 2
    assert summary.late_refined == 0

    data = np.load(tmp_path / "skeletons.npz")
    np.testing.assert_array_equal(data["stamp_ns"], 3 * 10**9 + np.arange(8) * 10**8)
    np.testing.assert_allclose(data["time_s"], np.arange(8) * 0.1)
    assert data["person_ids"].tolist()[0] == [7, -1] and data["person_ids"].tolist()[6] == [2, 7]
    assert data["person_ids"].tolist()[3] == [-1, -1]
    raw, refined = data["raw_positions"], data["refined_positions"]
    np.testing.assert_allclose(raw[6, 1, :, 2], 16.0)  # person 7's raw depth in frame 6
    np.testing.assert_allclose(refined[6, 1], raw[6, 1] + [1.0, 0, 0])  # its refined pose, in its own row
    assert np.isnan(refined[3]).all() and (data["refined_status"][3] == JointStatus.MISSING).all()
    assert (data["refined_status"][0, 0] == JointStatus.REFINED).all()
    np.testing.assert_allclose(data["refined_error"][0, 0], 0.05)  # the lifter's error is carried over
    assert str(data["layout"]) == "wholebody133" and len(data["joint_names"]) == J

    _, messages = read_mcap(tmp_path / "pose3d.mcap")
    count = {topic: sum(1 for t, *_ in messages if t == topic) for topic in TOPICS.values()}
    assert count[TOPICS["keypoints"]] == count[TOPICS["raw"]] == count[TOPICS["camera_info"]] == 8
    assert count[TOPICS["image"]] == count[TOPICS["raw_markers"]] == 8
    # every frame comes out refined, as temporal_node publishes it: frames 3 and 4 with nobody in them
    assert count[TOPICS["refined"]] == count[TOPICS["refined_markers"]] == 8
    refined_msgs = [m for t, _, _, m in messages if t == TOPICS["refined"]]
    assert refined_msgs[0].header.frame_id == "stub_cam" and refined_msgs[0].header.stamp.sec == 3
    assert summary.topics[TOPICS["refined"]] == 8
    assert [len(m.skeletons) for m in refined_msgs] == [1, 1, 1, 0, 0, 2, 2, 2]  # as many as the lifter saw
    assert (tmp_path / "render.mp4").stat().st_size > 0 and (tmp_path / "summary.json").is_file()


def test_run_loop_without_temporal(tmp_path):
    pipeline = PosePipeline(PipelineSettings.defaults().without_temporal(), detector=StubDetector(),
                            lifter=StubLifter())
    summary = run(StubSource(frames=4), pipeline, tmp_path, max_frames=3, progress=False)
    assert summary.frames == 3
    data = np.load(tmp_path / "skeletons.npz")
    assert "refined_positions" not in data and data["raw_positions"].shape == (3, 1, J, 3)
    _, messages = read_mcap(tmp_path / "pose3d.mcap")
    assert {t for t, *_ in messages} == {TOPICS[name] for name in ("camera_info", "keypoints", "raw", "raw_markers")}
    with pytest.raises(ValueError, match="at least 1"):
        run(StubSource(), pipeline, tmp_path, max_frames=0, progress=False)


def test_frames_whose_stamp_does_not_increase_are_skipped_and_counted(tmp_path):
    pipeline = PosePipeline(detector=StubDetector(), lifter=StubLifter(), refiner=DelayRefiner())
    stamps = [10, 20, 20, 15, 30]  # a duplicate, then a step back
    summary = run(StubSource(frames=5, stamps=stamps), pipeline, tmp_path, progress=False)
    assert (summary.frames, summary.out_of_order) == (3, 2)
    assert [(gap.first, gap.last, gap.count) for gap in summary.gaps] == [(2, 3, 2)]  # both, with their reason
    data = np.load(tmp_path / "skeletons.npz")
    assert data["stamp_ns"].tolist() == [10, 20, 30] and data["frame_index"].tolist() == [0, 1, 4]


class PickyLifter(StubLifter):
    def lift(self, kp2d, conf, K, depth=None, image_size=None, up=None):
        if len(kp2d) and kp2d[0, 0, 0] == 12.0:  # frame 2
            raise ValueError("kp2d contain NaN or infinite values")
        return super().lift(kp2d, conf, K, depth, image_size)


def test_a_frame_a_stage_refuses_is_skipped_and_counted(tmp_path, caplog):
    pipeline = PosePipeline(detector=StubDetector(), lifter=PickyLifter(), refiner=DelayRefiner())
    summary = run(StubSource(frames=5), pipeline, tmp_path, progress=False)
    assert (summary.frames, summary.failed) == (4, 1)
    assert "skipping frame 2: refused by a stage: kp2d contain NaN" in caplog.text
    assert [(gap.first, gap.last) for gap in summary.gaps] == [(2, 2)] and summary.exit_code() == 1
    assert np.load(tmp_path / "skeletons.npz")["frame_index"].tolist() == [0, 1, 3, 4]
    assert summary.topics[TOPICS["keypoints"]] == summary.topics[TOPICS["camera_info"]] == 4  # all or nothing


def test_stages_of_different_layouts_are_refused_at_start():
    """A 17-joint lifter behind the 133-keypoint 2D stage, or a refiner for another layout, would refuse every
    frame; the pipeline says so once, before it starts.
    """
    class H36MLifter(StubLifter):
        layout = H36M17

    class H36MRefiner(DelayRefiner):
        layout = H36M17

    with pytest.raises(ValueError, match="the 2D stage gives wholebody133 keypoints: the pipeline needs a "
                                         "wholebody133 lifter"):
        PosePipeline(PipelineSettings.defaults().without_temporal(), lifter=H36MLifter())
    with pytest.raises(ValueError, match="the refiner is for layout h36m17, the lifter for wholebody133"):
        PosePipeline(detector=StubDetector(), lifter=StubLifter(), refiner=H36MRefiner())


def test_show_without_a_display_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    pipeline = PosePipeline(PipelineSettings.defaults().without_temporal(), detector=StubDetector(),
                            lifter=StubLifter())
    with pytest.raises(ValueError, match="--show needs a display"):
        run(StubSource(), pipeline, tmp_path / "out", show=True, progress=False)
    assert not (tmp_path / "out").exists()


# ---- the output folder, interruptions -------------------------------------------------------------


def stub_pipeline():
    return PosePipeline(detector=StubDetector(), lifter=StubLifter(), refiner=DelayRefiner())


def bag_folder(path):
    """A stand-in for a recording: the input whose folder a run must not write into."""
    path.mkdir()
    (path / "metadata.yaml").write_text("rosbag2_bagfile_information:\n  relative_file_paths: [cam.mcap]\n")
    (path / "cam.mcap").write_bytes(b"recording")
    return path


def test_an_output_folder_in_or_around_the_input_is_refused_and_the_input_kept(tmp_path):
    bag = bag_folder(tmp_path / "bag")
    (tmp_path / "link").symlink_to(bag)
    source = StubSource()
    source.path = bag
    for out, why in ((bag, "inside the input"), (bag / "out", "inside the input"),
                     (tmp_path / "link", "inside the input"), (tmp_path, "holds the input")):
        with pytest.raises(ValueError, match=why):
            run(source, stub_pipeline(), out, progress=False, overwrite=True)
    assert sorted(p.name for p in bag.iterdir()) == ["cam.mcap", "metadata.yaml"]
    assert "cam.mcap" in (bag / "metadata.yaml").read_text()


def test_an_earlier_runs_files_are_refused_and_only_they_are_replaced_with_overwrite(tmp_path):
    run(StubSource(), stub_pipeline(), tmp_path, render=True, progress=False)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"earlier run \(metadata.yaml, pose3d.mcap, render.mp4, skeletons.npz, "
                                         r"summary.json\); give --overwrite"):
        run(StubSource(frames=3), stub_pipeline(), tmp_path, progress=False)
    assert np.load(tmp_path / "skeletons.npz")["stamp_ns"].shape == (8,)  # the refused run changed nothing
    # what a run killed while writing skeletons.npz leaves: its records and the rows folder
    partial_path(tmp_path / FrameRecords.NAME).write_bytes(b"\x93NUMPY")
    (tmp_path / ".pose3d-partial-skeletons-rows-x1y2").mkdir()
    (tmp_path / ".pose3d-partial-skeletons-rows-x1y2" / "kp2d.npy").write_bytes(b"\x93NUMPY")
    run(StubSource(frames=3), stub_pipeline(), tmp_path, progress=False, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata.yaml", "notes.txt", "pose3d.mcap",
                                                          "skeletons.npz", "summary.json"]  # no old render.mp4
    assert np.load(tmp_path / "skeletons.npz")["stamp_ns"].shape == (3,)


def test_another_recordings_metadata_is_never_replaced(tmp_path):
    other = bag_folder(tmp_path / "other")
    with pytest.raises(ValueError, match="another rosbag2 recording"):
        run(StubSource(), stub_pipeline(), other, progress=False, overwrite=True)
    assert "cam.mcap" in (other / "metadata.yaml").read_text()


class BrokenLifter(StubLifter):
    def lift(self, kp2d, conf, K, depth=None, image_size=None, up=None):
        if len(kp2d) and kp2d[0, 0, 0] == 15.0:  # frame 5
            raise RuntimeError("out of memory")
        return super().lift(kp2d, conf, K, depth, image_size)


def test_a_run_that_fails_leaves_no_file_under_an_outputs_name(tmp_path):
    pipeline = PosePipeline(detector=StubDetector(), lifter=BrokenLifter(), refiner=DelayRefiner())
    with pytest.raises(RuntimeError, match="out of memory"):
        run(StubSource(), pipeline, tmp_path / "out", render=True, progress=False)
    assert list((tmp_path / "out").iterdir()) == []  # no half-written render.mp4 or MCAP, no temporary files


class SignalledSource(StubSource):
    """Sends ``signum`` to its own process while frame 3 is read, as docker stop or Ctrl-C would."""

    def __init__(self, signum):
        super().__init__()
        self.signum = signum

    def __iter__(self):
        for frame in super().__iter__():
            if frame.index == 3:
                os.kill(os.getpid(), self.signum)
            yield frame


@pytest.mark.parametrize("overlap", [False, True])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_the_run_after_the_frames_read_with_complete_outputs(tmp_path, signum, overlap):
    before = signal.getsignal(signum)
    summary = run(SignalledSource(signum), stub_pipeline(), tmp_path, render=True, progress=False, overlap=overlap)
    assert signal.getsignal(signum) is before  # the caller's handler is back
    # One after the other, the frame being read when the signal came is the last; overlapped, the reader may have
    # read a few more before the handler ran, and every frame read is finished.
    frames = summary.frames
    assert frames == 4 if not overlap else frames >= 4
    assert summary.stopped_by == signum.name and summary.exit_code() == 128 + signum
    assert summary.lost == 0 and not summary.gaps  # stopping on request loses nothing that was read
    data = np.load(tmp_path / "skeletons.npz")
    assert data["frame_index"].tolist() == list(range(frames))
    assert not np.isnan(data["refined_positions"][2]).all()  # the temporal stage was flushed, not cut off
    _, messages = read_mcap(tmp_path / "pose3d.mcap")
    assert sum(1 for topic, *_ in messages if topic == TOPICS["refined"]) == frames
    assert int(cv2.VideoCapture(str(tmp_path / "render.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == frames
    report = json.loads((tmp_path / "summary.json").read_text())
    assert report["stopped_by"] == signum.name and report["exit_code"] == 128 + signum


def test_a_damaged_video_runs_to_its_end_says_where_frames_were_lost_and_exits_1(tmp_path):
    from test_pipeline_sources import damaged_video

    with VideoFileSource(damaged_video(tmp_path / "clip.mp4", "mp4v")) as source:
        summary = run(source, PosePipeline(PipelineSettings.defaults().without_temporal(), detector=StubDetector(),
                                           lifter=StubLifter()), tmp_path / "out", progress=False)
    assert summary.frames + summary.lost == 90 and summary.lost > 0 and summary.exit_code() == 1
    gap = summary.gaps[0]
    assert f"lost     frames {gap.first}-{gap.last} ({gap.count}) {gap.first / 15:.2f}-{gap.last / 15:.2f} s: " \
           "could not decode" in summary.text()
    report = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert report["gaps"][0]["first_frame"] == gap.first and report["exit_code"] == 1
    assert np.load(tmp_path / "out" / "skeletons.npz")["frame_index"][-1] == 89


def test_frame_records_are_kept_on_disk_read_back_as_often_as_needed_and_removed(tmp_path):
    raw = SkeletonFrame(5, "cam", np.array([3]), np.ones((1, J, 3), np.float32), np.ones((1, J), np.float32),
                        np.ones((1, J), np.float32), np.ones((1, J), np.uint8))
    with FrameRecords(tmp_path) as records:
        for index in range(3):
            records.append(FrameRecord(index, 5 + index, np.eye(3), (64, 48), np.array([3]),
                                       np.full((1, J, 2), index, np.float32), np.ones((1, J), np.float32), raw, None))
        assert partial_path(tmp_path / FrameRecords.NAME).stat().st_size > 3 * J * 3 * 4
        assert len(records) == 3 and [r.index for r in records] == [0, 1, 2] == [r.index for r in records]
        assert [float(r.kp2d[0, 0, 0]) for r in records] == [0.0, 1.0, 2.0]
    assert list(tmp_path.iterdir()) == []
    summary = run(StubSource(), stub_pipeline(), tmp_path / "out", progress=False)
    assert summary.frames == 8 and not any(path.name.startswith(".pose3d") for path in (tmp_path / "out").iterdir())


def test_frame_records_file_is_removed_when_the_run_fails(tmp_path):
    record = FrameRecord(0, 5, np.eye(3), (64, 48), np.zeros(0, np.int64), np.zeros((0, J, 2), np.float32),
                         np.zeros((0, J), np.float32), skeleton_frame(np.random.default_rng(0), 5, [], J), None)
    with pytest.raises(RuntimeError, match="stage failed"), FrameRecords(tmp_path) as records:
        records.append(record)
        raise RuntimeError("stage failed")
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_frame_records_file_is_a_clear_error(tmp_path):
    record = FrameRecord(0, 5, np.eye(3), (64, 48), np.zeros(0, np.int64), np.zeros((0, J, 2), np.float32),
                         np.zeros((0, J), np.float32), skeleton_frame(np.random.default_rng(0), 5, [], J), None)
    with FrameRecords(tmp_path) as records:
        records.append(record)
        records.append(record)
        size = records.path.stat().st_size
        with open(records.path, "r+b") as file:
            file.seek(size // 2)  # where the second record begins
            file.write(b"garbage!" * 8)
        with pytest.raises(ValueError, match="is damaged"):
            list(records)


# ---- skeletons.npz, written row block by row block ------------------------------------------------


def skeleton_frame(rng, stamp_ns: int, ids: list[int], joints: int, placement: bool = False) -> SkeletonFrame:
    people = len(ids)
    return SkeletonFrame(stamp_ns, "cam", np.array(ids, np.int64),
                         rng.normal(size=(people, joints, 3)).astype(np.float32),
                         rng.random((people, joints), np.float32), rng.random((people, joints), np.float32),
                         rng.integers(0, 5, (people, joints)).astype(np.uint8),
                         rng.integers(0, 3, people).astype(np.uint8) if placement else None)


def safety_report(rng, stamp_ns: int, names: tuple[str, ...], ids: list[int]):
    from pose3d_ros.safety import SafetyReport

    objects, people = len(names), len(ids)
    return SafetyReport(stamp_ns + 7, stamp_ns, "cam", names, rng.integers(0, 4, objects).astype(np.uint8),
                        rng.integers(0, 9, objects).astype(np.uint16), *(rng.normal(size=objects) for _ in range(5)),
                        rng.integers(-1, 5, objects), rng.integers(-1, 17, objects), rng.normal(size=(objects, 3)),
                        rng.normal(size=(objects, 3)), np.array(ids, np.int64), rng.normal(size=(objects, people)),
                        rng.integers(-1, 17, (objects, people)), rng.normal(size=(objects, people)),
                        nan_joints=int(rng.integers(0, 3)))


def frame_records(seed: int, people: list[tuple[list[int], list[int], list[int] | None]], joints: int,
                  safety_names: tuple[str, ...] | None) -> list[FrameRecord]:
    """One record per entry of ``people``: the ids with 2D keypoints, raw and refined skeletons (None: no refined
    stage in that frame); random values, NaN in some 2D keypoints.
    """
    rng = np.random.default_rng(seed)
    records = []
    for f, (ids_2d, raw, refined) in enumerate(people):
        stamp_ns = 10**9 + 33_333_333 * f + int(rng.integers(0, 1000))
        kp2d = rng.normal(size=(len(ids_2d), joints, 2)).astype(np.float32)
        kp2d[rng.random(kp2d.shape) < 0.1] = np.nan
        slots = sorted(set(ids_2d) | set(raw) | set(refined or []))
        report = None if safety_names is None else safety_report(rng, stamp_ns, safety_names,
                                                                 [i for i in slots if rng.random() < 0.7])
        records.append(FrameRecord(  # K in Fortran order, as np.asarray may pass it on
            3 * f, stamp_ns, rng.normal(size=(3, 3)).T, (int(rng.integers(1, 2000)), int(rng.integers(1, 2000))),
            np.array(ids_2d, np.int64), kp2d, rng.random((len(ids_2d), joints), np.float32),
            skeleton_frame(rng, stamp_ns, raw, joints, placement=bool(f % 2)),
            None if refined is None else skeleton_frame(rng, stamp_ns, refined, joints), report))
    return records


def in_memory_npz(path, records, layout, source, fps, safety_names=None):
    """The writer before it streamed (every array built whole, then np.savez_compressed): the oracle."""
    from pose3d_ros.skeleton import get_layout

    skeleton = get_layout(layout)
    joints, frames = skeleton.num_joints, len(records)
    slots_per_frame = []
    for record in records:
        ids = set(record.person_ids_2d.tolist()) | set(record.raw.person_ids.tolist())
        if record.refined is not None:
            ids |= set(record.refined.person_ids.tolist())
        slots_per_frame.append(sorted(int(i) for i in ids))
    slots = max((len(ids) for ids in slots_per_frame), default=0)
    stages = ["raw"] + (["refined"] if any(record.refined is not None for record in records) else [])
    arrays = {
        "stamp_ns": np.array([r.stamp_ns for r in records], np.int64),
        "frame_index": np.array([r.index for r in records], np.int64),
        "K": np.array([r.K for r in records], np.float64).reshape(frames, 3, 3),
        "image_size": np.array([r.image_size for r in records], np.int64).reshape(frames, 2),
        "person_ids": np.full((frames, slots), -1, np.int64),
        "kp2d": np.full((frames, slots, joints, 2), np.nan, np.float32),
        "conf": np.full((frames, slots, joints), np.nan, np.float32),
    }
    for stage in stages:
        arrays.update({f"{stage}_positions": np.full((frames, slots, joints, 3), np.nan, np.float32),
                       f"{stage}_error": np.full((frames, slots, joints), np.nan, np.float32),
                       f"{stage}_status": np.full((frames, slots, joints), 0, np.uint8)})
    if "refined" in stages:
        arrays["refined_confidence"] = np.full((frames, slots, joints), np.nan, np.float32)
    for f, (record, ids) in enumerate(zip(records, slots_per_frame, strict=True)):
        slot_of = {person_id: s for s, person_id in enumerate(ids)}
        arrays["person_ids"][f, : len(ids)] = ids
        for p, person_id in enumerate(record.person_ids_2d.tolist()):
            arrays["kp2d"][f, slot_of[person_id]] = record.kp2d[p]
            arrays["conf"][f, slot_of[person_id]] = record.conf[p]
        for stage, skeletons in (("raw", record.raw), ("refined", record.refined)):
            for p, person_id in enumerate([] if skeletons is None else skeletons.person_ids.tolist()):
                for key in ("positions", "error", "status") + (("confidence",) if stage == "refined" else ()):
                    arrays[f"{stage}_{key}"][f, slot_of[person_id]] = getattr(skeletons, key)[p]
    if safety_names is not None:
        objects = len(safety_names)
        per_object = {"state": np.uint8, "causes": np.uint16, "distance": np.float32,
                      "inflated_distance": np.float32, "stop_distance": np.float32, "warning_distance": np.float32,
                      "approach_speed": np.float32, "person_id": np.int64, "joint": np.int64,
                      "joint_point": np.float32, "object_point": np.float32}
        per_person = {"person_distance": np.float32, "person_joint": np.int64, "person_speed": np.float32}
        arrays.update({"safety_objects": np.array(safety_names), "safety_evaluated_ns": np.zeros(frames, np.int64),
                       "safety_nan_joints": np.zeros(frames, np.int64)})
        for key, dtype in per_object.items():
            shape = (frames, objects, 3) if key.endswith("_point") else (frames, objects)
            fill = -1 if dtype is np.int64 else (0 if np.issubdtype(dtype, np.integer) else np.nan)
            arrays[f"safety_{key}"] = np.full(shape, fill, dtype)
        for key, dtype in per_person.items():
            arrays[f"safety_{key}"] = np.full((frames, objects, slots), -1 if dtype is np.int64 else np.nan, dtype)
        for f, (record, ids) in enumerate(zip(records, slots_per_frame, strict=True)):
            report = record.safety
            arrays["safety_evaluated_ns"][f] = report.stamp_ns
            arrays["safety_nan_joints"][f] = report.nan_joints
            for key in per_object:
                arrays[f"safety_{key}"][f] = getattr(report, key)
            columns = [ids.index(int(person_id)) for person_id in report.person_ids]
            for key in per_person:
                arrays[f"safety_{key}"][f][:, columns] = getattr(report, key)
    t0 = arrays["stamp_ns"][0] if frames else 0
    arrays["time_s"] = (arrays["stamp_ns"] - t0) * 1e-9
    np.savez_compressed(path, **arrays, layout=np.array(skeleton.name), joint_names=np.array(skeleton.names),
                        source=np.array(source), fps=np.array(np.nan if fps is None else fps))


def assert_same_npz(path, expected_path):
    with np.load(path, allow_pickle=False) as data, np.load(expected_path, allow_pickle=False) as expected:
        assert sorted(data.files) == sorted(expected.files)
        for key in expected.files:
            assert (data[key].dtype, data[key].shape) == (expected[key].dtype, expected[key].shape), key
            assert data[key].tobytes() == expected[key].tobytes(), key
    with zipfile.ZipFile(path) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_DEFLATED}


def same_record(a: FrameRecord, b: FrameRecord) -> bool:
    def same(x, y) -> bool:
        if dataclasses.is_dataclass(x):
            return type(x) is type(y) and all(same(getattr(x, f.name), getattr(y, f.name))
                                              for f in dataclasses.fields(x))
        if isinstance(x, np.ndarray):
            return isinstance(y, np.ndarray) and x.dtype == y.dtype and x.shape == y.shape and \
                x.tobytes() == y.tobytes()
        return type(x) is type(y) and x == y

    return same(a, b)


person_ids = st.lists(st.integers(0, 6), unique=True, max_size=4)
people_per_frame = st.lists(st.tuples(person_ids, person_ids, st.none() | person_ids), max_size=9)


@settings(max_examples=40, deadline=None)
@given(people=people_per_frame, seed=st.integers(0, 2**32 - 1), block=st.integers(1, 4),
       safety_names=st.none() | st.lists(st.sampled_from(["robot", "press", "belt"]), unique=True, max_size=3))
def test_the_npz_written_from_records_on_disk_equals_the_in_memory_writers(people, seed, block, safety_names):
    safety_names = None if safety_names is None else tuple(safety_names)
    records = frame_records(seed, people, H36M17.num_joints, safety_names)
    with tempfile.TemporaryDirectory() as scratch, mock.patch.object(outputs, "BLOCK_FRAMES", block):
        folder = Path(scratch)
        in_memory_npz(folder / "expected.npz", records, "h36m17", "demo", 15.0, safety_names)
        with FrameRecords(folder) as spilled:
            for record in records:
                spilled.append(record)
            assert all(same_record(a, b) for a, b in zip(spilled, records, strict=True))
            outputs.write_skeletons_npz(folder / "skeletons.npz", spilled, "h36m17", "demo", 15.0, safety_names)
        assert_same_npz(folder / "skeletons.npz", folder / "expected.npz")
        outputs.write_skeletons_npz(folder / "from_list.npz", records, "h36m17", "demo", None, safety_names)
        with np.load(folder / "from_list.npz") as data, np.load(folder / "expected.npz") as expected:
            assert np.isnan(data["fps"]) and data["kp2d"].tobytes() == expected["kp2d"].tobytes()
        assert sorted(path.name for path in folder.iterdir()) == ["expected.npz", "from_list.npz", "skeletons.npz"]


def test_writing_the_npz_takes_no_more_memory_for_more_frames(tmp_path):
    def peak_bytes(frames: int) -> int:
        records = frame_records(0, [([1, 2], [1, 2, 3], [2, 3, 4])] * frames, H36M17.num_joints, ("robot",))
        with FrameRecords(tmp_path) as spilled, mock.patch.object(outputs, "BLOCK_FRAMES", 16):
            for record in records:
                spilled.append(record)
            del records
            tracemalloc.start()
            try:
                outputs.write_skeletons_npz(tmp_path / f"{frames}.npz", spilled, "h36m17", "demo", 15.0, ("robot",))
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    peak_bytes(64)  # first-time allocations (imports, caches)
    small, large = peak_bytes(64), peak_bytes(512)
    # ~0.6 MB, most of it zlib's state; the arrays built whole would add ~3.5 MB for the 448 frames more
    assert large < small + 256 * 1024, (small, large)


def test_a_failed_npz_write_leaves_no_temporary_rows(tmp_path):
    records = frame_records(0, [([1], [1], None)] * 3, H36M17.num_joints, None)
    with pytest.raises(AttributeError):  # safety columns asked for, records without reports
        outputs.write_skeletons_npz(tmp_path / "skeletons.npz", records, "h36m17", "demo", 15.0, ("robot",))
    assert list(tmp_path.iterdir()) == []


def test_the_npz_bench_writes_the_npz_of_its_records_and_measures_the_write():
    from pose3d_ros.pipeline.npz_bench import npz_report_lines, run_npz_benchmark

    report = run_npz_benchmark(frames=40, people=2, objects=1)
    assert report["npz_bytes"] > 0 and report["spill_bytes"] > 40 * 2 * J * 3 * 4 * 2
    assert report["peak_rss_during_write"] >= report["rss_before_write"] > 0 and report["write_s"] > 0
    assert "40 frames of 2 people, 1 safety objects" in "\n".join(npz_report_lines(report))


def test_the_summary_is_a_manifest_of_the_run(tmp_path):
    source = StubSource()
    source.path = tmp_path / "clip.mp4"
    source.path.write_bytes(b"0123456789")
    summary = run(source, stub_pipeline(), tmp_path / "out", max_frames=5, progress=False)
    report = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert report["inputs"][0]["path"] == str(source.path.resolve()) and report["inputs"][0]["bytes"] == 10
    assert report["options"] == {"max_frames": 5, "render": False, "write_images": False}
    assert report["settings"]["lifter"]["flip_test"] == summary.manifest["settings"]["lifter"]["flip_test"]
    assert {"pose3d_ros", "torch", "mediapipe", "numpy"} <= {k for k, v in report["versions"].items() if v}
    assert report["outputs"]["skeletons"].endswith("skeletons.npz") and report["gaps"] == []
    assert report["exit_code"] == 0


# ---- rendering ------------------------------------------------------------------------------------


def test_renderer_draws_both_panels():
    image = np.zeros((360, 480, 3), np.uint8)
    kp2d = np.zeros((1, J, 2), np.float32) + [240.0, 180.0]
    kp2d[0, :17] = np.stack([np.linspace(150, 330, 17), np.linspace(60, 300, 17)], axis=-1)
    conf = np.zeros((1, J), np.float32)
    conf[0, :17] = 1.0
    positions = np.zeros((1, J, 3), np.float32) + [0.0, 0.0, 3.0]
    positions[0, :17, 1] = np.linspace(-0.5, 0.5, 17)
    status = np.full((1, J), JointStatus.REFINED, np.uint8)
    out = Renderer().render(image, kp2d, conf, np.array([0]), positions, status, np.array([0]), 0.0,
                            ghost=positions + [0.6, 0.0, 0.0])
    assert out.shape == (360, 480 + 360, 3)
    assert out[100:250, 200:280].any()  # the 2D skeleton drawn over the (black) image

    def pixels_of(colour, render):
        panel = render[40:220, 480 + 60:]  # the middle of the 3D view, away from the title and the legend
        return (np.abs(panel.astype(int) - np.array(colour)).sum(axis=-1) < 40).sum()

    plain = Renderer().render(image, kp2d, conf, np.array([0]), positions, status, np.array([0]), 0.0)
    assert pixels_of((240, 180, 60), plain) > 50  # refined bones in 3D
    assert pixels_of((150, 150, 150), out) > pixels_of((150, 150, 150), plain) + 20  # the raw skeleton beside


# ---- safety monitoring ----------------------------------------------------------------------------

SAFETY_CONFIG = """\
camera_frame: stub_cam
states: {hysteresis_m: 0.0, min_hold_s: 0.0}
thresholds:
  default: {mode: fixed, stop_distance_m: 0.5, warning_distance_m: 3.0}
objects:
  - name: zone
    frame: stub_cam
    box: {centre: [0.0, 0.0, 16.0], size: [4.0, 4.0, 2.0]}
"""


def test_run_loop_with_safety_writes_states_to_every_output(tmp_path):
    config = SafetyConfig.parse(SAFETY_CONFIG, "safety.yaml")
    pipeline = PosePipeline(detector=StubDetector(), lifter=StubLifter(), refiner=DelayRefiner())
    summary = run(StubSource(), pipeline, tmp_path, render=True, progress=False, safety=config)
    # Refined people stand at x = 1, depth 10 + frame; the zone starts at depth 15. Inflated by 2 x 0.05 m:
    # frame 2 is 2.9 m out (warning), frames 3 and 4 have nobody, from frame 5 on people touch or enter the zone.
    clear, warning, stop = SafetyState.CLEAR, SafetyState.WARNING, SafetyState.PROTECTIVE_STOP
    expected = [clear, clear, warning, clear, clear, stop, stop, stop]
    data = np.load(tmp_path / "skeletons.npz")
    assert data["safety_objects"].tolist() == ["zone"]
    assert data["safety_state"][:, 0].tolist() == expected
    np.testing.assert_allclose(data["safety_distance"][:3, 0], [5.0, 4.0, 3.0], atol=1e-5)
    assert np.isnan(data["safety_distance"][3:5, 0]).all() and data["safety_person_id"][3:5, 0].tolist() == [-1, -1]
    # the monitor saw each frame when the refiner released it, two frames (0.2 s) after its image
    np.testing.assert_array_equal(data["safety_evaluated_ns"][:6] - data["stamp_ns"][:6], 2 * 10**8)
    # per person, in the frame's slots: frame 6 holds persons 2 and 7, both 1 m into the zone's depth
    assert data["person_ids"][6].tolist() == [2, 7]
    np.testing.assert_allclose(data["safety_person_distance"][6, 0], [-1.0, -1.0], atol=1e-5)

    _, messages = read_mcap(tmp_path / "pose3d.mcap")
    states = [m for t, _, _, m in messages if t == TOPICS["safety"]]
    assert len(states) == 8 and summary.topics[TOPICS["safety"]] == 8
    assert [m.objects[0].state for m in states] == expected
    report = safety_state_to_numpy(states[2])
    assert report.image_stamp_ns == data["stamp_ns"][2] and report.frame_id == "stub_cam"

    times = summary.to_dict()["safety"]["objects"]["zone"]["seconds"]
    assert times == pytest.approx({"clear": 0.4, "warning": 0.1, "protective_stop": 0.3, "unknown": 0.0})
    assert "safety   zone  clear 0.4 s | warning 0.1 s | protective_stop 0.3 s | unknown 0.0 s" in summary.text()
    assert (tmp_path / "render.mp4").stat().st_size > 0


def test_renderer_draws_safety_objects_by_state():
    config = SafetyConfig.parse(SAFETY_CONFIG.replace("[0.0, 0.0, 16.0]", "[0.0, 0.0, 3.5]"), "safety.yaml")
    positions = np.zeros((1, J, 3), np.float32) + [0.0, 0.0, 3.0]
    positions[0, :17, 1] = np.linspace(-0.5, 0.5, 17)
    status = np.full((1, J), JointStatus.REFINED, np.uint8)
    skeletons = SkeletonFrame(0, "stub_cam", np.array([0]), positions, np.ones((1, J), np.float32),
                              np.zeros((1, J), np.float32), status)
    report = SafetyMonitor(config).update(skeletons, 0, config.static_poses())
    assert report.state[0] == SafetyState.PROTECTIVE_STOP
    image = np.zeros((360, 480, 3), np.uint8)
    empty = np.zeros((1, J, 2), np.float32), np.zeros((1, J), np.float32), np.array([0])
    out = Renderer().render(image, *empty, positions, status, np.array([0]), 0.0,
                            safety=(object_outlines(config, config.static_poses()), report))
    plain = Renderer().render(image, *empty, positions, status, np.array([0]), 0.0)
    red = np.abs(out[:, 480:].astype(int) - [50, 50, 240]).sum(axis=-1) < 40
    assert red.sum() > 100 + (np.abs(plain[:, 480:].astype(int) - [50, 50, 240]).sum(axis=-1) < 40).sum()
