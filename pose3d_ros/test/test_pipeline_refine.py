"""`pose3d run --refine offline` and `pose3d refine IN OUT` on the synthetic demo, and refine's bad inputs."""

import numpy as np
import pytest
import torch
from test_pipeline_e2e import read_raw_mcap

from pose3d_ros.cli import main
from pose3d_ros.pipeline.refine import REFINED_TOPIC
from pose3d_ros.skeleton import JointStatus
from pose3d_ros.temporal.model import UGCN, UGCNConfig
from pose3d_ros.temporal.weights import save_weights

FRAMES = 40


@pytest.fixture(scope="module")
def offline_weights(tmp_path_factory):
    """A small random wholebody offline refiner (the pipeline's behaviour, not its accuracy, is under test)."""
    torch.manual_seed(0)
    model = UGCN(UGCNConfig(widths=(4, 6, 8, 10, 12), window=16, centred=True))
    with torch.no_grad():
        model.head.weight.normal_(0.0, 0.01)
    return save_weights(tmp_path_factory.mktemp("weights") / "offline.safetensors", model.eval())


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, offline_weights):
    out = tmp_path_factory.mktemp("demo")
    assert main(["run", "--source", "demo:1", "--max-frames", str(FRAMES), "--out", str(out), "--no-progress",
                 "--device", "cpu", "--refine", "offline", "--refiner-weights", str(offline_weights)]) == 0
    return out


def test_run_refines_the_demo_offline_and_refine_reproduces_it(demo_run, offline_weights, tmp_path):
    run = np.load(demo_run / "skeletons.npz")
    assert run["stamp_ns"].shape == (FRAMES,)
    assert (run["refined_status"][run["person_ids"] >= 0] == JointStatus.REFINED).mean() > 0.9
    out = tmp_path / "again.npz"
    assert main(["refine", str(demo_run / "skeletons.npz"), str(out), "--weights", str(offline_weights),
                 "--device", "cpu"]) == 0
    again = np.load(out)
    assert sorted(again.files) == sorted(run.files)
    for key in run.files:  # the same refiner on the same raw skeletons: the same file
        np.testing.assert_array_equal(again[key], run[key], err_msg=key)


def test_refine_a_recording_writes_raw_and_refined_topics(demo_run, offline_weights, tmp_path):
    out = tmp_path / "bag"
    assert main(["refine", str(demo_run / "pose3d.mcap"), str(out), "--weights", str(offline_weights),
                 "--device", "cpu"]) == 0
    topics = [message[0] for message in read_raw_mcap(out / "pose3d.mcap")]
    assert topics.count("/skeletons3d") == FRAMES and topics.count(REFINED_TOPIC) == FRAMES
    assert (out / "metadata.yaml").is_file()


def test_refine_bad_inputs_are_clear(demo_run, offline_weights, tmp_path, caplog):
    weights = ["--weights", str(offline_weights), "--device", "cpu"]
    assert main(["refine", str(demo_run / "skeletons.npz"), str(tmp_path / "out.mcap"), *weights]) == 2
    assert "give OUT as FILE.npz" in caplog.text
    assert main(["refine", str(demo_run / "pose3d.mcap"), str(tmp_path / "bag"), "--topic", "/nothing",
                 *weights]) == 2
    assert "no topic /nothing" in caplog.text
    # without --weights: the shipped offline refiner
    assert main(["refine", str(demo_run / "skeletons.npz"), str(tmp_path / "o.npz"), "--device", "cpu"]) == 0
    assert np.isfinite(np.load(tmp_path / "o.npz")["refined_positions"]).any()
    # 17-joint skeletons for a 133-joint refiner
    data = dict(np.load(demo_run / "skeletons.npz"))
    data["layout"] = np.array("h36m17")
    for key in ("raw_positions", "raw_error", "raw_status", "conf"):
        data[key] = data[key][:, :, :17]
    np.savez(tmp_path / "h36m.npz", **data)
    assert main(["refine", str(tmp_path / "h36m.npz"), str(tmp_path / "o.npz"), *weights]) == 2
    assert "holds h36m17 skeletons; this refiner is for wholebody133" in caplog.text
    # stamps that repeat or go backwards are skipped and counted
    data = dict(np.load(demo_run / "skeletons.npz"))
    data["stamp_ns"] = data["stamp_ns"].copy()
    data["stamp_ns"][10] = data["stamp_ns"][9]
    data["stamp_ns"][20] = data["stamp_ns"][5]
    np.savez(tmp_path / "loop.npz", **data)
    assert main(["refine", str(tmp_path / "loop.npz"), str(tmp_path / "o.npz"), *weights]) == 0
    assert len(np.load(tmp_path / "o.npz")["stamp_ns"]) == FRAMES - 2


def test_recordings_are_refined_offline_and_cameras_streaming_by_default():
    from pose3d_ros.cli import build_parser
    from pose3d_ros.pipeline.commands import refine_mode, settings_from_args, with_refinement

    assert refine_mode("auto", live=False) == "offline" and refine_mode("auto", live=True) == "streaming"
    assert refine_mode("streaming", live=False) == "streaming" and refine_mode("none", live=True) == "none"
    assert refine_mode("auto", live=False, safety=True) == "streaming"  # what the live monitor would decide
    args = build_parser().parse_args(["run", "--source", "clip.mp4"])
    settings = settings_from_args(args)
    assert with_refinement(settings, args, live=False).offline
    assert not with_refinement(settings, args, live=True).offline
    no_refiner = build_parser().parse_args(["run", "--refine", "none"])
    assert not with_refinement(settings_from_args(no_refiner), no_refiner, live=False).temporal_enabled


def test_npz_rows_reads_a_large_file_row_by_row_in_little_memory(tmp_path):
    import tracemalloc

    from pose3d_ros.pipeline.outputs import npz_rows

    rng = np.random.default_rng(0)
    arrays = {"stamp_ns": np.arange(4000, dtype=np.int64), "raw_positions": rng.normal(size=(4000, 4, 133, 3)),
              "raw_status": rng.integers(0, 3, (4000, 4, 133), dtype=np.uint8)}
    path = tmp_path / "big.npz"
    np.savez_compressed(path, **arrays)  # 51 MB of arrays
    tracemalloc.start()
    count = 0
    for f, row in enumerate(npz_rows(path, tuple(arrays))):
        for key, value in arrays.items():
            np.testing.assert_array_equal(row[key], value[f])
        count += 1
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 4000 and peak < 2_000_000  # bytes: a few rows, not the 51 MB


def test_npz_rows_refuses_what_is_not_rows(tmp_path):
    from pose3d_ros.pipeline.outputs import npz_rows

    path = tmp_path / "bad.npz"
    np.savez(path, a=np.zeros((3, 2)), b=np.zeros(4), scalar=np.array(1.0))
    with pytest.raises(ValueError, match="differ in length"):
        list(npz_rows(path, ("a", "b")))
    with pytest.raises(ValueError, match="not an array of rows"):
        list(npz_rows(path, ("scalar",)))
    cut = tmp_path / "cut.npz"
    import zipfile

    with zipfile.ZipFile(path) as source, zipfile.ZipFile(cut, "w") as target:
        target.writestr("a.npy", source.read("a.npy")[:-8])  # the last row cut short
    with pytest.raises(ValueError, match="ends early"):
        list(npz_rows(cut, ("a",)))
