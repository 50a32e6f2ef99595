"""pose3d bench ros without ROS: CPU accounting from /proc, stage rates and drops from diagnostics, the sweep's
report."""

import os
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml import YAML

from pose3d_ros.graph_bench import (
    CpuWindow,
    DiagnosticsWindow,
    StageStatus,
    cpu_per_frame,
    cpu_seconds,
    drop_onset,
    node_processes,
    params_file_for,
    report_lines,
    stage_of,
    stop_launch,
)

PACKAGE = Path(__file__).resolve().parents[1]


def stat_line(pid: int, comm: str, ppid: int, utime: int, stime: int) -> str:
    # fields after the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    return f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194304 10 0 0 0 {utime} {stime} 0 0 20 0 5 0 100 0 0\n"


@given(comm=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0\n"), max_size=15),
       utime=st.integers(0, 10**9), stime=st.integers(0, 10**9))
def test_cpu_seconds_reads_utime_and_stime_whatever_the_command_name(comm, utime, stime):
    assert cpu_seconds(stat_line(7, comm, 1, utime, stime), 100.0) == pytest.approx((utime + stime) / 100.0)


def fake_proc(tmp_path: Path, processes: dict[int, tuple[int, list[str], int]]) -> Path:
    """pid -> (parent pid, argv, CPU ticks) as /proc files."""
    for pid, (ppid, argv, ticks) in processes.items():
        folder = tmp_path / str(pid)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "stat").write_text(stat_line(pid, Path(argv[0]).name, ppid, ticks, 0))
        (folder / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (tmp_path / "self").mkdir(exist_ok=True)  # not a process
    return tmp_path


LIB = "/ws/install/pose3d_ros/lib/pose3d_ros"


def test_node_processes_are_the_launchs_descendants_that_run_a_node(tmp_path):
    proc = fake_proc(tmp_path, {
        100: (1, ["/usr/bin/python3", "/opt/ros2/bin/ros2", "launch", "pose3d_ros", "pipeline.launch.py"], 0),
        101: (100, ["/usr/bin/python3", f"{LIB}/video_source_node", "--ros-args", "-r", "__node:=x"], 0),
        102: (100, ["/bin/sh", "-c", "wrapper"], 0),
        103: (102, ["/usr/bin/python3", f"{LIB}/keypoints2d_node", "--ros-args"], 0),
        104: (100, ["/usr/bin/python3", f"{LIB}/lifter_node"], 0),
        # another engineer's node, not under this launch; an argument that merely mentions a node's name
        200: (1, ["/usr/bin/python3", f"{LIB}/temporal_node"], 0),
        105: (100, ["/usr/bin/python3", "/tmp/tool.py", "--x", "--y", "temporal_node"], 0),
    })
    assert node_processes(100, proc=proc) == {"video_source_node": 101, "keypoints2d_node": 103, "lifter_node": 104}


def test_cpu_window_is_cpu_seconds_over_wall_seconds_per_process(tmp_path):
    proc = fake_proc(tmp_path, {11: (1, ["a"], 100), 12: (1, ["b"], 0), 13: (1, ["c"], 0)})
    now = [50.0]
    window = CpuWindow({"a": 11, "b": 12, "gone": 13}, proc=proc, clock=lambda: now[0])
    window.ticks_per_s = 100.0
    window.start()
    now[0] += 10.0
    (proc / "11" / "stat").write_text(stat_line(11, "a", 1, 100 + 1500, 0))  # 15 s of CPU in 10 s: 1.5 cores
    (proc / "12" / "stat").write_text(stat_line(12, "b", 1, 20, 30))
    (proc / "13" / "stat").unlink()  # ended during the window: no figure
    assert window.stop() == pytest.approx({"a": 1.5, "b": 0.05})


def status(t: float, inputs: int, outputs: int, dropped: int, latency: str = "40.0") -> StageStatus:
    return StageStatus(t, 0, "running", {"total inputs": str(inputs), "total outputs": str(outputs),
                                         "total dropped": str(dropped), "mean latency (ms)": latency})


def test_stage_names_are_the_nodes_whatever_the_namespace():
    assert stage_of("keypoints2d_node: keypoints2d stage") == "keypoints2d_node"
    assert stage_of("/robot1/lifter_node: lifter stage") == "lifter_node"
    assert stage_of("safety_node: safety monitor") is None and stage_of("rviz2: x") is None


def test_the_window_counts_what_happened_between_its_first_and_last_status():
    window = DiagnosticsWindow()
    window.add("keypoints2d_node: keypoints2d stage", status(0.0, 10, 10, 0))  # before the window: not counted
    window.start()
    window.add("keypoints2d_node: keypoints2d stage", status(1.0, 20, 15, 5))
    window.add("lifter_node: lifter stage", status(1.2, 15, 15, 0))  # one status only: no rate
    window.add("some_other_node: x", status(1.5, 0, 0, 0))
    window.add("keypoints2d_node: keypoints2d stage", status(11.0, 320, 115, 205, latency="n/a"))
    stages = window.stop()
    window.add("keypoints2d_node: keypoints2d stage", status(12.0, 999, 999, 999))  # after: not counted
    assert set(stages) == {"keypoints2d_node"}
    two_d = stages["keypoints2d_node"]
    assert two_d["input_hz"] == pytest.approx(30.0) and two_d["output_hz"] == pytest.approx(10.0)
    assert two_d["dropped_hz"] == pytest.approx(20.0) and two_d["drop_ratio"] == pytest.approx(200 / 300)
    assert two_d["mean_latency_ms"] is None
    assert window.latest["keypoints2d_node"].received_s == 12.0


def rate_result(rate: float, drop_ratio: float) -> dict:
    stage = {"input_hz": rate, "output_hz": rate * (1 - drop_ratio), "dropped_hz": rate * drop_ratio,
             "drop_ratio": drop_ratio, "mean_latency_ms": 50.0, "level": 0, "message": "running"}
    return {"rate_hz": rate, "cpu": {"keypoints2d_node": 1.1}, "cpu_total": 1.6, "cpu_ms_per_frame": {},
            "stages": {"keypoints2d_node": stage}, "load_average_1min": [1.0, 1.2], "pids": {}}


def test_cpu_per_frame_is_cpu_use_over_the_nodes_output_rate():
    stages = {"keypoints2d_node": {"output_hz": 10.0}, "lifter_node": {"output_hz": 0.0}}
    assert cpu_per_frame({"keypoints2d_node": 0.5, "lifter_node": 0.1, "temporal_node": 0.2}, stages) == \
        pytest.approx({"keypoints2d_node": 50.0})


def test_the_drop_onset_is_the_lowest_rate_with_more_than_a_few_percent_dropped():
    rates = [rate_result(5, 0.0), rate_result(10, 0.04), rate_result(20, 0.3), rate_result(15, 0.06)]
    assert drop_onset(rates) == 15
    assert drop_onset(rates[:2]) is None
    report = {"source": "v.mp4", "warmup_s": 10, "window_s": 20, "cpu_count": 2, "rates": rates,
              "drop_onset_hz": 15, "drop_onset_ratio": 0.05}
    lines = report_lines(report)
    assert "from 15 Hz input" in lines[-1] and len(lines) == 2 + len(rates) + 1


def test_each_rates_params_file_is_the_given_one_with_the_sources_fps(tmp_path):
    out = params_file_for(PACKAGE / "config" / "pipeline.yaml", 20, tmp_path / "p.yaml")
    document = YAML(typ="safe").load(out.read_text())
    original = YAML(typ="safe").load((PACKAGE / "config" / "pipeline.yaml").read_text())
    assert document["video_source_node"]["ros__parameters"]["fps"] == 20.0
    assert document["video_source_node"]["ros__parameters"]["loop"] is True
    assert document["keypoints2d_node"] == original["keypoints2d_node"]


def test_without_ros_the_command_says_what_it_needs_and_exits_2(tmp_path, caplog):
    try:
        import ament_index_python  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("ROS 2 is here: the command would launch the graph")
    from pose3d_ros.cli import main

    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    assert main(["bench", "ros", "--source", str(video)]) == 2
    assert "needs ROS 2" in caplog.text


def test_stopping_a_launch_leaves_none_of_its_processes(tmp_path):
    # A shell that ends at SIGINT, leaving a background child (which ignores SIGINT) in its process group.
    launch = subprocess.Popen(["sh", "-c", "sleep 300 & wait"], start_new_session=True)
    time.sleep(0.3)
    stop_launch(launch, timeout_s=5.0)
    assert launch.poll() is not None
    for _ in range(50):  # the killed child is reaped by init a moment later
        try:
            os.killpg(launch.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail("a process of the stopped launch's group is still there")
