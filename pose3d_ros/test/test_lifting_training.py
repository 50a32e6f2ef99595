"""Lifting stage: the training loop (loss falls, checkpoints resume, no pickle) and the pose3d commands."""

import json

import numpy as np
import pytest
import torch

from pose3d_ros.camera import project
from pose3d_ros.checkpoint import load_checkpoint, save_checkpoint
from pose3d_ros.cli import main
from pose3d_ros.lifting import Lifter
from pose3d_ros.lifting.config import LifterConfig
from pose3d_ros.lifting.perspective import virtual_views
from pose3d_ros.lifting.training import TrainOptions, prepare_samples, train_lifter
from pose3d_ros.skeleton import H36M17


def synthetic_set(count: int, seed: int) -> dict:
    """Mannequin-like H36M-17 people: one rest pose, random yaw, random limb swings, random camera distance."""
    rng = np.random.default_rng(seed)
    rest = np.array([[0, 0, 0], [-.13, 0, 0], [-.13, .45, 0], [-.13, .9, 0], [.13, 0, 0], [.13, .45, 0], [.13, .9, 0],
                     [0, -.25, 0], [0, -.5, 0], [0, -.6, 0], [0, -.7, 0], [.18, -.48, 0], [.45, -.48, 0],
                     [.7, -.48, 0], [-.18, -.48, 0], [-.45, -.48, 0], [-.7, -.48, 0]], dtype=np.float64)
    poses = np.repeat(rest[None], count, axis=0)
    poses[:, [12, 13, 15, 16]] += rng.normal(0, 0.15, (count, 4, 3))  # arms move
    poses[:, [13, 16]] += rng.normal(0, 0.15, (count, 2, 3))
    yaw = rng.uniform(-np.pi, np.pi, count)
    rotation = np.zeros((count, 3, 3))
    rotation[:, 0, 0], rotation[:, 0, 2], rotation[:, 1, 1] = np.cos(yaw), np.sin(yaw), 1.0
    rotation[:, 2, 0], rotation[:, 2, 2] = -np.sin(yaw), np.cos(yaw)
    pose3d = np.einsum("nij,nkj->nki", rotation, poses)
    shift = np.stack([rng.uniform(-.5, .5, count), rng.uniform(-.2, .2, count), rng.uniform(3, 6, count)], -1)
    pose3d += shift[:, None]
    K = np.array([[1000.0, 0, 500], [0, 1000, 500], [0, 0, 1]])
    return {"kp2d": project(pose3d, K).astype(np.float32), "conf": np.ones((count, 17), np.float32),
            "K": np.broadcast_to(K, (count, 3, 3)).astype(np.float32), "pose3d": pose3d.astype(np.float32)}


@pytest.fixture(scope="module")
def samples():
    return prepare_samples(synthetic_set(600, 0), H36M17), prepare_samples(synthetic_set(200, 1), H36M17)


def test_prepare_samples_checks_its_input():
    data = synthetic_set(4, 0)
    with pytest.raises(ValueError, match="lacks K"):
        prepare_samples({k: v for k, v in data.items() if k != "K"}, H36M17)
    with pytest.raises(ValueError, match="needs 17 joints"):
        prepare_samples({**data, "kp2d": data["kp2d"][:, :16], "conf": data["conf"][:, :16]}, H36M17)
    prepared = prepare_samples(data, H36M17)
    assert torch.allclose(prepared.target[:, 0], torch.zeros(4, 3))  # root-relative targets


def test_training_samples_are_seen_by_each_persons_virtual_camera():
    """With the perspective correction (the default) a sample is what the lifter will be given: the person as
    their virtual camera sees them, the 3D target in that camera's orientation; without it, the real view."""
    data = synthetic_set(6, 2)
    view, rotation = virtual_views(data["kp2d"], data["conf"], data["K"], H36M17)
    pose3d = np.einsum("pij,pkj->pki", rotation, data["pose3d"])
    virtual = {**data, "kp2d": view.astype(np.float32), "pose3d": pose3d.astype(np.float32)}
    corrected = prepare_samples(data, H36M17)
    expected = prepare_samples(virtual, H36M17, perspective_correction=False)
    torch.testing.assert_close(corrected.coords, expected.coords, rtol=0, atol=1e-5)
    torch.testing.assert_close(corrected.target, expected.target, rtol=0, atol=1e-6)
    plain = prepare_samples(data, H36M17, perspective_correction=False)
    assert not torch.allclose(plain.target, corrected.target, atol=1e-3)


@pytest.mark.parametrize("model", ["semgan", "semgcn", "simplebaseline"])
def test_a_few_seconds_of_training_reduce_the_error(tmp_path, samples, model):
    train, val = samples
    small = {"semgan": dict(dim=32, depth=1, heads=2, decoder_layers=1), "semgcn": dict(hidden=32, blocks=1),
             "simplebaseline": dict(hidden=128, blocks=1, dropout=0.0)}[model]
    config = LifterConfig.create(model, "h36m17", **small)
    options = TrainOptions(epochs=3, batch_size=50, lr=3e-3, max_val_samples=200)
    net, history = train_lifter(config, train, val, options, tmp_path, progress=False)
    assert len(history) == 3
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["val_mpjpe_mm"] < history[0]["val_mpjpe_mm"]
    assert (tmp_path / "lifter.safetensors").is_file() and (tmp_path / "curves.png").stat().st_size > 1000
    record = json.loads((tmp_path / "lifter.json").read_text())["record"]
    assert record["train_samples"] == 600 and len(record["history"]) == 3


class Interrupted(Exception):
    pass


def test_an_interrupted_run_resumes_to_the_same_result(tmp_path, samples):
    train, val = samples
    config = LifterConfig.create("semgan", "h36m17", dim=16, depth=1, heads=2, decoder_layers=1)
    options = TrainOptions(epochs=3, batch_size=200, max_val_samples=50)
    _, straight = train_lifter(config, train, val, options, tmp_path / "straight", progress=False)

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        train_lifter(config, train, val, options, tmp_path / "split", progress=False, on_epoch=stop_after_two)
    names = sorted(path.name for path in (tmp_path / "split").iterdir())  # nothing pickled, no half-written files
    assert names == ["checkpoint.json", "checkpoint.safetensors", "curves.png"]
    _, resumed = train_lifter(config, train, val, options, tmp_path / "split", resume=True, progress=False)
    assert [h["epoch"] for h in resumed] == [1, 2, 3]
    for a, b in zip(straight, resumed, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["val_mpjpe_mm"] == pytest.approx(b["val_mpjpe_mm"], rel=1e-4)
    other = LifterConfig.create("semgan", "h36m17", dim=32, depth=1, heads=2, decoder_layers=1)
    with pytest.raises(ValueError, match="made with other settings"):
        train_lifter(other, train, val, options, tmp_path / "split", resume=True, progress=False)


def test_checkpoint_round_trip_and_clear_errors(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(4, 3)).square().sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path, model, optimizer, {"epoch": 1}, {"width": 2, "sizes": (1, 2)})
    restored = torch.nn.Linear(3, 2)
    restored_optimizer = torch.optim.AdamW(restored.parameters(), lr=5.0)
    settings = {"width": 2, "sizes": (1, 2)}  # a tuple comes back from JSON as a list: still the same settings
    assert load_checkpoint(tmp_path, restored, restored_optimizer, settings) == {"epoch": 1}
    assert torch.equal(restored.weight, model.weight)
    assert restored_optimizer.param_groups[0]["lr"] == 1e-3
    torch.testing.assert_close(restored_optimizer.state_dict()["state"][0]["exp_avg"],
                               optimizer.state_dict()["state"][0]["exp_avg"])
    with pytest.raises(ValueError, match="do not match the network"):
        load_checkpoint(tmp_path, torch.nn.Linear(3, 5), restored_optimizer, settings)
    with pytest.raises(ValueError, match="made with other settings"):
        load_checkpoint(tmp_path, torch.nn.Linear(3, 5), restored_optimizer, {"width": 5})
    (tmp_path / "checkpoint.json").write_text('{"format": "pose3d_ros.lifter"}')
    with pytest.raises(ValueError, match="checkpoint.json is not a version-1 pose3d_ros checkpoint"):
        load_checkpoint(tmp_path, restored, restored_optimizer, settings)


def test_train_eval_bench_commands(tmp_path, mocap_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "lifter", "--layout", "h36m17", "--model", "semgan", "--data", str(mocap_path),
                 "--train-subjects", "S1", "--frame-step", "400", "--epochs", "1", "--batch-size", "50",
                 "--arch", "dim=16", "depth=1", "heads=2", "--out", str(out), "--no-progress", "--threads", "1"])
    assert code == 0
    weights = out / "lifter.safetensors"
    assert weights.is_file() and (out / "checkpoint.safetensors").is_file()
    assert json.loads((out / "lifter.json").read_text())["record"]["data"]["perspective_correction"] is True
    report = tmp_path / "eval.json"
    assert main(["eval", "lifter", "--weights", str(weights), "--data", str(mocap_path), "--subjects", "S9",
                 "--max-frames", "100", "--noise", "detector", "--json", str(report)]) == 0
    metrics = json.loads(report.read_text())
    assert metrics["samples"] == 100 and set(metrics["pose_mm"]) == {"mpjpe", "p_mpjpe"}
    assert metrics["placement"]["depth_error_mm"] > 0
    bench = tmp_path / "bench.json"
    assert main(["bench", "lifter", "--weights", str(weights), "--iterations", "5", "--json", str(bench)]) == 0
    assert json.loads(bench.read_text())["latency_ms"]["lift_flip"]["p50"] > 0
    assert "MPJPE" in capsys.readouterr().out or "mpjpe" in json.dumps(metrics)
    setups = tmp_path / "setups.json"
    assert main(["eval", "lifter", "--setups", "--weights", str(weights), "--data", str(mocap_path), "--max-frames",
                 "30", "--json", str(setups)]) == 0
    report = json.loads(setups.read_text())
    assert report["data"]["samples"] == 30 and report["data"]["subjects"] == "S9"
    assert list(report["setups"]) == ["level_centred", "level_off_axis_25", "level_close", "overhead_35"]
    assert report["setups"]["overhead_35"]["on"]["torso_lean_deg"] > 0
    assert "level_off_axis_25" in capsys.readouterr().out
    assert Lifter.load(weights).layout.name == "h36m17"
    # A bad setting is a clear error, not a crash.
    assert main(["train", "lifter", "--layout", "h36m17", "--data", str(mocap_path), "--arch", "width=3",
                 "--out", str(out)]) == 2


def test_eval_on_h3wb_json_follows_the_h3wb_protocol(tmp_path, capsys):
    """A file in the official H3WB JSON layout: the H3WB metrics, no placement (H3WB 3D has no origin), and an
    official submission file."""
    from pose3d_ros.data.h3wb import score_h3wb_files
    from pose3d_ros.lifting.models import build_model
    from pose3d_ros.lifting.weights_io import save_lifter

    config = LifterConfig.create("semgan", "wholebody133", dim=16, depth=1, heads=2, decoder_layers=1)
    weights = save_lifter(tmp_path / "wb.safetensors", build_model(config), config)
    rng = np.random.default_rng(0)
    pose3d = rng.normal(0, 300.0, (10, 133, 3)) + np.array([0, 0, 5000.0])  # millimetres
    kp2d = project(pose3d, np.array([[1145.0, 0, 500], [0, 1145, 500], [0, 0, 1]]))
    samples = {str(i): {"keypoints_2d": {str(j): {"x": float(kp2d[i, j, 0]), "y": float(kp2d[i, j, 1])}
                                         for j in range(133)},
                        "keypoints_3d": {str(j): dict(zip("xyz", map(float, pose3d[i, j]), strict=True))
                                         for j in range(133)}} for i in range(10)}
    truth = tmp_path / "2Dto3D_train.json"
    truth.write_text(json.dumps(samples))
    report, submission = tmp_path / "h3wb.json", tmp_path / "pred_cv1.json"
    assert main(["eval", "lifter", "--weights", str(weights), "--data", str(truth), "--fold", "1",
                 "--h3wb-predictions", str(submission), "--json", str(report)]) == 0
    metrics = json.loads(report.read_text())
    assert metrics["protocol"] == "h3wb" and metrics["samples"] == 2  # fold 1 of 10 samples: ids 0 and 1
    assert set(metrics["pose_mm"]) == {"all", "body", "face", "face_aligned", "hands", "hands_aligned"}
    assert "placement" not in metrics
    scored = score_h3wb_files(submission, truth, fold=1)
    assert scored["all"] == pytest.approx(metrics["pose_mm"]["all"], rel=1e-4)
