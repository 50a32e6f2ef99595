"""The overlapped run (pipeline/overlap.py): the same skeletons as one stage after the other, live sources drop the
oldest frame and count it, files never drop.
"""

import time

import numpy as np
import pytest

from pose3d_ros.keypoints2d import Keypoints2D
from pose3d_ros.lifting import LiftResult
from pose3d_ros.pipeline.core import PipelineSettings, PosePipeline
from pose3d_ros.pipeline.demo import DemoSource
from pose3d_ros.pipeline.overlap import FrameBuffer
from pose3d_ros.pipeline.run import run
from pose3d_ros.pipeline.sources import CameraModel, Frame, FrameSource
from pose3d_ros.skeleton import WHOLEBODY133

J = WHOLEBODY133.num_joints


def test_a_dropping_buffer_drops_the_oldest_and_counts_it():
    buffer = FrameBuffer(2, drop_oldest=True)
    for item in range(5):
        assert buffer.put(item)
    buffer.finish()
    assert [buffer.get(), buffer.get(), buffer.get()] == [3, 4, FrameBuffer.END] and buffer.dropped == 3


class FastSource(FrameSource):
    """Frames as fast as they are asked for, each image holding its index; ``live`` like a camera or not."""

    def __init__(self, frames: int, live: bool) -> None:
        super().__init__()
        self.description, self.fps, self.frame_count, self.live = "fast", 100.0, frames, live

    def __iter__(self):
        for index in range(self.frame_count):
            time.sleep(0.001)  # a camera's frames come at intervals
            yield Frame(index, (index + 1) * 10**7, np.full((8, 8, 3), index % 256, np.uint8),
                        CameraModel(np.diag([100.0, 100.0, 1.0])), "cam")


class SlowDetector:
    """Nobody in any image, after 10 ms: far slower than FastSource delivers."""

    def __call__(self, image, timestamp_s=None):
        time.sleep(0.01)
        return Keypoints2D(np.zeros((0, J, 2), np.float32), np.zeros((0, J), np.float32), np.zeros(0, np.int64),
                           (8, 8))

    def close(self):
        pass


class NoLifter:
    layout = WHOLEBODY133

    def lift(self, kp2d, conf, K, depth=None, image_size=None, up=None):
        assert len(kp2d) == 0
        return LiftResult(positions=np.zeros((0, J, 3), np.float32), root_relative=np.zeros((0, J, 3), np.float32),
                          error=np.zeros((0, J), np.float32), status=np.zeros((0, J), np.uint8),
                          root_translation=np.zeros((0, 3), np.float32), placement=np.zeros(0, np.uint8))


def slow_pipeline():
    return PosePipeline(PipelineSettings.defaults().without_temporal(), detector=SlowDetector(), lifter=NoLifter())


def test_a_live_source_drops_the_oldest_frames_when_the_2d_stage_is_busy_and_counts_them(tmp_path):
    summary = run(FastSource(60, live=True), slow_pipeline(), tmp_path, progress=False)
    assert summary.dropped > 0 and summary.frames + summary.dropped == 60
    assert summary.exit_code() == 0 and summary.lost == 0  # dropping from a camera is by design
    indices = np.load(tmp_path / "skeletons.npz")["frame_index"]
    assert indices[-1] == 59  # the newest frame is kept, older ones went
    assert len(indices) == summary.frames and (np.diff(indices) > 0).all()


def test_a_file_never_drops_a_frame(tmp_path):
    summary = run(FastSource(40, live=False), slow_pipeline(), tmp_path, progress=False)
    assert summary.dropped == 0 and summary.frames == 40 and summary.exit_code() == 0
    assert np.load(tmp_path / "skeletons.npz")["frame_index"].tolist() == list(range(40))


def test_an_error_in_the_2d_thread_reaches_the_caller_and_leaves_no_output(tmp_path):
    class Broken(SlowDetector):
        def __call__(self, image, timestamp_s=None):
            raise RuntimeError("the 2D model broke")

    pipeline = PosePipeline(PipelineSettings.defaults().without_temporal(), detector=Broken(), lifter=NoLifter())
    with pytest.raises(RuntimeError, match="the 2D model broke"):
        run(FastSource(10, live=False), pipeline, tmp_path / "out", progress=False)
    assert list((tmp_path / "out").iterdir()) == []


def counting(network, batches: list):
    """``network`` that notes the batch size of each call in ``batches``."""

    def call(first, *rest):
        batches.append(len(first))
        return network(first, *rest)

    return call


def test_overlapped_and_one_after_the_other_give_the_same_skeletons(tmp_path):
    """The shipped models on the first second of the two-person demo, each run with fresh stages; every frame is
    one call of the lifter's network and at most one of the refiner's, whatever the number of people.
    """
    outputs = {}
    for overlap in (False, True):
        with PosePipeline() as pipeline:
            lifter_batches, refiner_batches = [], []
            lifter = pipeline.lifter
            lifter._graphs[lifter.flip_test] = counting(lifter._graph(), lifter_batches)
            pipeline.refiner._network = counting(pipeline.refiner._network, refiner_batches)
            summary = run(DemoSource(people=2), pipeline, tmp_path / str(overlap), max_frames=15, progress=False,
                          overlap=overlap)
        assert summary.frames == 15 and summary.exit_code() == 0
        assert len(lifter_batches) == 15 and max(lifter_batches) == summary.max_people == 2
        assert len(refiner_batches) <= 15 + 1 and max(refiner_batches[:-1]) == 2  # the last: the flush, all at once
        outputs[overlap] = np.load(tmp_path / str(overlap) / "skeletons.npz")
    sequential, overlapped = outputs[False], outputs[True]
    assert np.isfinite(sequential["refined_positions"]).any()
    for key in ("person_ids", "kp2d", "conf", "raw_positions", "raw_error", "raw_status", "refined_positions",
                "refined_confidence", "refined_status"):
        np.testing.assert_allclose(overlapped[key], sequential[key], rtol=0, atol=1e-5, err_msg=key)


def test_the_benchmark_reports_every_variant():
    from pose3d_ros.pipeline.bench import report_lines, run_benchmark

    cheap = PipelineSettings.defaults().replace("lifter", flip_test=False, body_expert="none")
    report = run_benchmark(PipelineSettings.defaults(), people=[2], frames=4, rounds=1, threads=[1, 2],
                           alternatives={"cheap": cheap})
    result = report["people"]["2"]
    assert set(result["over_2d_stage"]) == {"sequential", "overlapped_2d_threads_1", "overlapped_2d_threads_2",
                                            "overlapped_cheap"}
    # the alternative ran with models of its own settings, read back from the loaded lifters
    assert report["lifts"] == {
        "default": {"flip_test": True, "body_expert": True, "perspective_correction": True},
        "cheap": {"flip_test": False, "body_expert": False, "perspective_correction": True}}
    assert result["overlapped_cheap"]["latency_ms"]["lift_refine"]["p50"] > 0
    assert result["2d"]["fps"] > 0 and result["sequential"]["latency_ms"]["after_2d"]["p50"] > 0
    for variant in ("sequential", "overlapped_2d_threads_2"):  # the networks are part of what follows the 2D stage
        latency = result[variant]["latency_ms"]
        assert 0 < latency["lift_refine"]["p50"] <= latency["after_2d"]["p50"]
        assert latency["lift_refine"]["p95"] <= latency["after_2d"]["p95"]
    assert "load average" in report_lines(report)[0] and report["machine"]["load_average_1min"] >= 0
    # CPU time is the whole process's (every thread's): no variant keeps more cores busy than it may use, and a run
    # (the 2D stage, then lifting, refining and writing) costs more CPU per frame than its 2D stage alone.
    for variant in ("2d", "sequential", "overlapped_2d_threads_2"):
        assert 0 < result[variant]["cores_busy"] <= report["machine"]["usable_cpus"] + 0.25
    assert result["sequential"]["cpu_ms_per_frame"] > result["2d"]["cpu_ms_per_frame"]
    assert any(line.strip().startswith("CPU-bound ceiling") for line in report_lines(report))


def test_the_benchmark_refuses_an_alternative_that_would_replace_a_variant():
    from pose3d_ros.pipeline.bench import run_benchmark

    with pytest.raises(ValueError, match="would replace the variant overlapped_2d_threads_1"):
        run_benchmark(PipelineSettings.defaults(), people=[1], frames=2, rounds=1, threads=[1],
                      alternatives={"2d_threads_1": PipelineSettings.defaults()})


def test_the_benchmark_refuses_two_compared_files_of_one_name(tmp_path, caplog):
    from pose3d_ros.cli import main

    files = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        files.append(tmp_path / folder / "lift.yaml")
        files[-1].write_text("lifter_node:\n  ros__parameters:\n    flip_test: false\n")
    assert main(["bench", "pipeline", "--people", "1", "--frames", "2", "--compare", *map(str, files)]) == 2
    assert "different names" in caplog.text
