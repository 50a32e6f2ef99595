"""The run's writer: messages recorded in order and byte for byte, and `pose3d bench writer`'s replay of an npz."""

import numpy as np
import pytest
from test_pipeline_outputs import StubSource, read_mcap, stub_pipeline

from pose3d_ros.pipeline.run import run
from pose3d_ros.pipeline.writer import TOPICS
from pose3d_ros.pipeline.writer_bench import replay_rows, run_writer_benchmark, writer_report_lines


def test_the_bench_replays_a_runs_rows_as_the_run_wrote_them(tmp_path):
    run(StubSource(), stub_pipeline(), tmp_path / "run", progress=False)
    layout, rows = replay_rows(tmp_path / "run" / "skeletons.npz")
    assert layout == "wholebody133" and len(rows) == 8
    _, messages = read_mcap(tmp_path / "run" / "pose3d.mcap")
    written = {topic: [m for t, _, _, m in messages if t == topic] for topic in (TOPICS["raw"], TOPICS["refined"])}
    for (frame, keypoints, raw, refined), raw_msg, refined_msg in zip(rows, written[TOPICS["raw"]],
                                                                       written[TOPICS["refined"]], strict=True):
        assert frame.stamp_ns == raw_msg.header.stamp.sec * 10**9 + raw_msg.header.stamp.nanosec
        assert keypoints.person_ids.tolist() == raw.person_ids.tolist() == [s.person_id for s in raw_msg.skeletons]
        assert refined.person_ids.tolist() == [s.person_id for s in refined_msg.skeletons]
        for skeletons, msg in ((raw, raw_msg), (refined, refined_msg)):
            for p, person in enumerate(msg.skeletons):
                np.testing.assert_array_equal(skeletons.positions[p].reshape(-1), person.position)
                np.testing.assert_array_equal(skeletons.status[p], np.frombuffer(bytes(person.status), np.uint8))
    report = run_writer_benchmark(tmp_path / "run" / "skeletons.npz", rounds=1)
    assert report["frames"] == 8 and report["median"]["loop_cpu_ms"] > 0
    assert "8 frames" in writer_report_lines(report)[0]


def test_the_bench_refuses_a_file_that_is_no_runs_npz_with_a_clear_error(tmp_path):
    (tmp_path / "text.npz").write_text("not an npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    for name in ("text.npz", "other.npz"):
        with pytest.raises(ValueError, match="is not a skeletons.npz written by pose3d run"):
            replay_rows(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="missing.npz does not exist"):
        replay_rows(tmp_path / "missing.npz")
