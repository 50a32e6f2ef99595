"""The safety scenario on the synthetic demo: a person walks up to a machine's opening, reaches in and leaves
(``--source demo:reach``, config/safety_demo_reach.yaml); the states of ``pose3d run --safety`` against those of
the same monitor on the true joints."""

import json
from pathlib import Path

import numpy as np
import pytest

from pose3d_ros.cli import main
from pose3d_ros.pipeline import safety_truth
from pose3d_ros.pipeline.demo import DemoSource
from pose3d_ros.pipeline.sources import open_source
from pose3d_ros.safety import SafetyConfig, SafetyState

SCENARIO = Path(__file__).resolve().parents[1] / "config" / "safety_demo_reach.yaml"
CLEAR, WARNING, STOP, UNKNOWN = (SafetyState.CLEAR, SafetyState.WARNING, SafetyState.PROTECTIVE_STOP,
                                 SafetyState.UNKNOWN)


def runs(states):
    """The sequence of states with repeats removed."""
    states = np.asarray(states)
    return states[np.r_[True, states[1:] != states[:-1]]].tolist()


def test_the_scene_is_selectable_and_the_default_cast_is_unchanged():
    assert [person.person_id for person in open_source("demo:reach").people] == [0]
    assert open_source("demo:reach").description == "demo (a person reaches into a zone)"
    assert len(open_source("demo").people) == 4
    with pytest.raises(ValueError, match="demo:reach"):
        open_source("demo:dance")
    person = open_source("demo:reach").people[0]
    assert person.reach(4.0) == 0.0 and person.reach(4.55) == pytest.approx(0.5) and person.reach(5.5) == 1.0


def test_the_true_states_go_clear_warning_stop_warning_clear():
    source = DemoSource(scene="reach")
    frames = np.arange(source.frame_count)
    truth = safety_truth.truth_states(source, SafetyConfig.load(SCENARIO), frames,
                                      np.round(frames / source.fps * 1e9).astype(np.int64), "demo_camera_optical_frame")
    assert runs(truth.state[:, 0]) == [CLEAR, WARNING, STOP, WARNING, CLEAR]
    inside = truth.state[:, 0] == STOP
    assert truth.distance[inside, 0].min() < -0.1  # the hand is well inside while reaching
    assert 0.2 < truth.distance[frames == 60, 0][0] < 0.5  # standing beside the opening at 4 s: a warning


def test_a_lead_or_lag_within_the_tolerance_is_allowed_and_a_missed_stop_is_flagged():
    times = np.arange(20) * 0.1
    truth = np.array([CLEAR] * 5 + [STOP] * 10 + [CLEAR] * 5)
    late = np.roll(truth, 2)  # 0.2 s late on both changes
    result = safety_truth.compare_states("zone", times, truth, late, tolerance_s=0.25, frame_s=0.1)
    assert (result.mismatched_s, result.missed_stop_s) == (0.0, 0.0)
    assert result.within_tolerance_s == pytest.approx(0.4) and result.agreeing_s == pytest.approx(1.6)
    blind = truth.copy()
    blind[9:11] = WARNING  # in the middle of the stop
    result = safety_truth.compare_states("zone", times, truth, blind, tolerance_s=0.25, frame_s=0.1)
    assert result.missed_stop_s == pytest.approx(0.2) and result.mismatched_s == pytest.approx(0.2)
    cautious = np.where(truth == CLEAR, UNKNOWN, truth)
    result = safety_truth.compare_states("zone", times, truth, cautious, tolerance_s=0.25, frame_s=0.1)
    assert result.missed_stop_s == 0.0 and result.unknown_s == pytest.approx(1.0)


def test_pose3d_run_on_the_scene_follows_the_truth_without_missing_a_stop(tmp_path, capsys):
    """The real models on the 12 s scene (about a minute of CPU)."""
    out = tmp_path / "reach"
    assert main(["run", "--source", "demo:reach", "--safety", str(SCENARIO), "--out", str(out), "--no-progress",
                 "--device", "cpu"]) == 0
    capsys.readouterr()
    assert safety_truth.main([str(out), "--plot", str(tmp_path / "reach.png")]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["name"] == "opening" and result["missed_stop_s"] == 0.0
    # measured: 8.5 s agree, 2.1 s within 0.5 s of a true change, 1.4 s stopped while the truth warns (the
    # 2-sigma inflation of the hands at 0.3 m from the opening)
    assert result["agreeing_s"] >= 7.0 and result["mismatched_s"] <= 2.5
    assert (tmp_path / "reach.png").stat().st_size > 10_000
