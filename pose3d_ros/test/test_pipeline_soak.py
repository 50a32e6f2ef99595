"""`pose3d bench soak` with stand-in stages: every input frame is accounted for, and a frame lost without a word is
caught (the real soak, with the models and 20 000 frames, is the command itself: docs/pipeline.md)."""

import numpy as np
from test_pipeline_outputs import DelayRefiner, StubLifter

from pose3d_ros.keypoints2d import Keypoints2D
from pose3d_ros.pipeline.core import PosePipeline
from pose3d_ros.pipeline.soak import UNREADABLE_REASON, SoakSource, plot_memory, report_lines, run_soak, soak_ok
from pose3d_ros.skeleton import WHOLEBODY133

J = WHOLEBODY133.num_joints


class TwoPeople:
    """Two people in every frame; their ids change every 40 calls (people leave, others come)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, image, timestamp_s=None):
        self.calls += 1
        ids = np.array([2 * (self.calls // 40), 2 * (self.calls // 40) + 1], np.int64)
        kp2d = np.full((2, J, 2), 100.0, np.float32)
        return Keypoints2D(kp2d, np.full((2, J), 0.9, np.float32), ids, (960, 540))

    def close(self):
        pass


def soak(source):
    pipeline = PosePipeline(detector=TwoPeople(), lifter=StubLifter(), refiner=DelayRefiner())
    return run_soak(pipeline, source, warmup=50, every=50)


def test_every_frame_is_output_or_counted_with_its_reason(tmp_path):
    source = SoakSource(150, people=2, jump_back_s=0.5, repeat_every=37, unreadable_every=41, clip_s=4)
    report = soak(source)
    counts = report["accounting"]["counts"]
    # a 60-frame clip: two bag loops 0.5 s back (the 8 frames up to the newest stamp, 60-67 and 120-127, of which
    # 122 is unreadable), stamps repeated at 37, 74, 111, 148, unreadable frames 40, 81, 122
    assert counts == {"input": 150, "output": 150 - 3 - 19, "unreadable": 3, "out_of_order": 8 + 7 + 4,
                      "refused": 0, "dropped": 0}
    assert report["accounting"]["gap_reasons"][UNREADABLE_REASON] == 3
    assert report["accounting"]["problems"] == []
    assert [sample["frames"] // 50 for sample in report["samples"]] == [1, 2, 3]  # the reader may be a frame ahead
    assert all(sample["rss_mb"] > 0 for sample in report["samples"])
    assert report["queues"]["bounded"] and report["queues"]["longest"]["waiting"] <= DelayRefiner.lookahead + 1
    assert soak_ok(report) == report["memory"]["flat"]
    assert any("every input frame" in line for line in report_lines(report))
    plot_memory(report, tmp_path / "soak.png")
    assert (tmp_path / "soak.png").stat().st_size > 0


class LosesAFrame(SoakSource):
    """Frame 90 vanishes: neither given to the run nor recorded as unreadable."""

    def __iter__(self):
        for frame in super().__iter__():
            if frame.index != 90:
                yield frame


def test_a_frame_lost_without_a_word_is_caught():
    report = soak(LosesAFrame(110, people=2, unreadable_every=10**6, clip_s=4))
    problems = report["accounting"]["problems"]
    assert any(problem.startswith("1 of 110 input frames") for problem in problems)
    assert not soak_ok(report)
    assert any(line.startswith("  PROBLEM") for line in report_lines(report))


def test_too_few_samples_after_the_warm_up_leave_memory_unjudged(tmp_path):
    report = soak(SoakSource(60, people=2, clip_s=4))
    assert report["memory"]["flat"] is None and not soak_ok(report)
    assert any("not judged" in line for line in report_lines(report))
    plot_memory(report, tmp_path / "soak.png")
