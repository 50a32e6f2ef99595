import json

import numpy as np
import pytest

from pose3d_ros.cli import main
from pose3d_ros.data import load_set, synthetic_walk, write_h3wb_predictions, write_motion_file


@pytest.fixture(scope="module")
def motion(tmp_path_factory):
    path = tmp_path_factory.mktemp("motion") / "walkers.npz"
    write_motion_file(path, {"S1/walking_1": synthetic_walk(200, seed=1), "S9/walking_1": synthetic_walk(120, seed=2)})
    return str(path)


def test_stats_prints_counts_and_bone_lengths(motion, tmp_path, capsys):
    assert main(["data", "stats", "--mocap", motion, "--subjects", "S1,S9", "--json", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "S1" in out and "S9" in out and "left_elbow - left_wrist" in out and "left_hand (21 bones)" in out
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["total"] == {"sequences": 2, "frames": 320, "seconds": 6.4}
    forearm = next(b for b in stats["bones"] if b["child"] == "left_wrist")
    assert forearm["max_within_sequence_sd_m"] < 1e-6 and 0.2 < forearm["mean_m"] < 0.3


def test_cache_writes_a_loadable_set(motion, tmp_path, capsys):
    out = tmp_path / "cache" / "seq.npz"
    assert main(["data", "cache", "--mocap", motion, "--subjects", "S9", "--kind", "sequence", "--window", "5",
                 "--fps", "10", "--layout", "h36m17", "--out", str(out)]) == 0
    data = load_set(out)
    assert data["kp2d"].shape[1:] == (5, 17, 2) and data["observed"].shape[1:] == (5, 17)
    assert json.loads(data["settings"])["fps"] == "10.0"
    assert "wrote" in capsys.readouterr().out


def test_preview_renders_pngs(motion, tmp_path):
    assert main(["data", "preview", "--mocap", motion, "--subjects", "S1", "--count", "1",
                 "--out", str(tmp_path)]) == 0
    png = tmp_path / "sample_0.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20000


def test_bench_reports_generation_speed(motion, capsys):
    assert main(["bench", "data", "--mocap", motion, "--subjects", "S1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["lifting_samples"] == 40  # 200 frames, every 5th
    assert result["lifting_samples_per_s"] > 0 and result["sequence_frames"] > 0


def test_h3wb_score_and_clear_errors(tmp_path, capsys):
    rng = np.random.default_rng(0)
    truth = {str(i): {"keypoints_3d": {str(j): dict(zip("xyz", map(float, rng.normal(0, 300, 3)), strict=True))
                                       for j in range(133)}} for i in range(10)}
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    poses = np.array([[[p["x"], p["y"], p["z"]] for p in s["keypoints_3d"].values()] for s in truth.values()]) / 1000
    write_h3wb_predictions(tmp_path / "pred.json", np.arange(10), poses + 0.01)
    assert main(["data", "h3wb-score", "--pred", str(tmp_path / "pred.json"), "--truth", str(tmp_path / "truth.json"),
                 "--fold", "3"]) == 0
    assert "all" in capsys.readouterr().out
    assert main(["data", "stats", "--mocap", str(tmp_path / "absent.npz")]) == 2
