import json

import numpy as np
import pytest

from pose3d_ros.data import (
    cross_validation_split,
    load_h3wb_json,
    load_h3wb_npz,
    score_h3wb,
    write_h3wb_predictions,
)
from pose3d_ros.data.h3wb import camera_intrinsics, score_h3wb_files
from pose3d_ros.metrics import h3wb_errors


def _sample(rng, with_2d=True, with_3d=True, drop=()):
    sample = {"image_path": "S1/S1_Directions_1.54138969/frame_0001.jpg",
              "bbox": {"x_min": 10, "y_min": 20, "x_max": 300, "y_max": 900}}
    if with_2d:
        sample["keypoints_2d"] = {str(j): {"x": float(x), "y": float(y)}
                                  for j, (x, y) in enumerate(rng.uniform(0, 1000, (133, 2))) if j not in drop}
    if with_3d:
        sample["keypoints_3d"] = {str(j): {"x": float(x), "y": float(y), "z": float(z)}
                                  for j, (x, y, z) in enumerate(rng.normal(0, 500, (133, 3)))}
    return sample


@pytest.fixture()
def train_file(tmp_path):
    rng = np.random.default_rng(0)
    data = {str(i): _sample(rng) for i in range(12)}
    path = tmp_path / "2Dto3D_train.json"
    path.write_text(json.dumps(data))
    return path, data


def test_train_json_loads_in_metres_and_pixels(train_file):
    path, raw = train_file
    data = load_h3wb_json(path)
    np.testing.assert_array_equal(data["ids"], np.arange(12))
    assert data["kp2d"].shape == (12, 133, 2) and data["pose3d"].shape == (12, 133, 3)
    assert (data["conf"] == 1).all()
    np.testing.assert_allclose(data["kp2d"][3, 7], [raw["3"]["keypoints_2d"]["7"]["x"],
                                                    raw["3"]["keypoints_2d"]["7"]["y"]], rtol=1e-6)
    point = raw["5"]["keypoints_3d"]["100"]
    np.testing.assert_allclose(data["pose3d"][5, 100], np.array([point["x"], point["y"], point["z"]]) / 1000,
                               rtol=1e-6)
    np.testing.assert_array_equal(data["bbox"][0], [10, 20, 300, 900])
    K, size = camera_intrinsics("54138969")
    np.testing.assert_allclose(data["K"][0], K, rtol=1e-6)
    np.testing.assert_array_equal(data["image_size"][0], [1000, 1002])


def test_test_layout_is_2d_only_with_official_ids_and_missing_points(tmp_path):
    rng = np.random.default_rng(1)
    ids = [(i // 4) * 8 + (i % 4) + 4 for i in range(8)]  # the I2D test set's ids: 4-7, 12-15
    data = {str(i): _sample(rng, with_3d=False, drop=(5, 95, 100) if i == 12 else ()) for i in ids}
    data["13"]["keypoints_2d"]["50"] = None
    path = tmp_path / "I2Dto3D_test_2d.json"
    path.write_text(json.dumps(data))
    loaded = load_h3wb_json(path)
    assert "pose3d" not in loaded
    np.testing.assert_array_equal(loaded["ids"], [4, 5, 6, 7, 12, 13, 14, 15])
    row = list(loaded["ids"]).index(12)
    assert loaded["conf"][row, [5, 95, 100]].tolist() == [0, 0, 0] and loaded["conf"][row].sum() == 130
    np.testing.assert_allclose(loaded["kp2d"][row, 5], loaded["kp2d"][row, 0])  # left shoulder -> nose
    np.testing.assert_allclose(loaded["kp2d"][row, 95], loaded["kp2d"][row, 94])  # a finger point -> its parent
    assert loaded["conf"][list(loaded["ids"]).index(13), 50] == 0


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ("[]", "non-empty dict"),
    (json.dumps({"a": {}}), "non-negative integers"),
    (json.dumps({"0": {"keypoints_2d": {"133": {"x": 1, "y": 2}}}}), "joint key '133'"),
    (json.dumps({"0": {"keypoints_2d": {"0": {"x": 1}}}}), "must be a dict with x, y"),
    (json.dumps({"0": {"keypoints_2d": {"0": {"x": "a", "y": 2}}}}), "not numeric"),
    (json.dumps({"0": {"image_path": "a.jpg"}}), "neither"),
    (json.dumps({"0": {"keypoints_3d": {"0": {"x": 1, "y": 2, "z": 3}}}}), "lacks some 3D keypoints"),
])
def test_bad_json_files_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_h3wb_json(path)


def test_official_cross_validation_split():
    train, validation = cross_validation_split(12, 1)
    np.testing.assert_array_equal(validation, [0, 1])
    np.testing.assert_array_equal(train, np.arange(2, 12))
    folds = [cross_validation_split(80000, k)[1] for k in range(1, 6)]
    assert [f[0] for f in folds] == [0, 16000, 32000, 48000, 64000] and all(len(f) == 16000 for f in folds)
    never = set(range(12)) - set(np.concatenate([cross_validation_split(12, k)[1] for k in range(1, 6)]))
    assert never == {10, 11}
    with pytest.raises(ValueError):
        cross_validation_split(12, 0)


def test_predictions_round_trip_and_score_with_the_official_metric(train_file, tmp_path):
    path, _ = train_file
    truth = load_h3wb_json(path)
    prediction_path = tmp_path / "2Dto3D_cv2_predictions.json"
    shifted = truth["pose3d"] + np.array([0.3, -0.2, 1.0], dtype=np.float32)  # a global offset only
    write_h3wb_predictions(prediction_path, truth["ids"], shifted)
    raw = json.loads(prediction_path.read_text())
    assert set(raw) == {str(i) for i in range(12)} and set(raw["0"]["keypoints_3d"]["132"]) == {"x", "y", "z"}
    np.testing.assert_allclose(raw["4"]["keypoints_3d"]["9"]["z"], shifted[4, 9, 2] * 1000, rtol=1e-6)
    errors = score_h3wb_files(prediction_path, path, fold=2)
    assert errors["all"] < 1e-3 and errors["hands_aligned"] < 1e-3  # pelvis alignment removes the offset
    noisy = truth["pose3d"] + np.random.default_rng(0).normal(0, 0.01, truth["pose3d"].shape).astype(np.float32)
    expected = h3wb_errors(noisy.astype(np.float64) * 1000, truth["pose3d"].astype(np.float64) * 1000)
    assert score_h3wb(noisy, truth["pose3d"]) == pytest.approx(expected)
    partial = tmp_path / "partial.json"
    write_h3wb_predictions(partial, truth["ids"][:3], shifted[:3])
    with pytest.raises(ValueError, match="lacks predictions for 9 ids"):
        score_h3wb_files(partial, path)
    with pytest.raises(ValueError, match="must be"):
        write_h3wb_predictions(partial, truth["ids"], shifted[:3])


def test_official_npz_format_loads(tmp_path):
    rng = np.random.default_rng(2)
    cameras = {cam: {"pose_2d": rng.uniform(0, 1000, (6, 133, 2)), "camera_3d": rng.normal(0, 500, (6, 133, 3))}
               for cam in ("54138969", "60457274")}
    tree = {"S1": {"Directions": {"frame_id": np.arange(6) * 5, **cameras}},
            "S7": {"Walking 1": {"frame_id": np.arange(6), "55011271": cameras["54138969"]}}}
    path = tmp_path / "h3wb_train.npz"
    np.savez(path, train_data=np.array(tree, dtype=object), metadata=np.array({}, dtype=object))
    sequences = load_h3wb_npz(path)
    assert list(sequences) == ["S1/Directions/54138969", "S1/Directions/60457274", "S7/Walking 1/55011271"]
    first = sequences["S1/Directions/54138969"]
    assert first["kp2d"].shape == (6, 133, 2) and first["pose3d"].dtype == np.float32
    np.testing.assert_allclose(first["pose3d"], cameras["54138969"]["camera_3d"] / 1000, rtol=1e-6)
    np.testing.assert_array_equal(first["frame_id"], np.arange(6) * 5)
    np.testing.assert_allclose(first["K"][0, 0], 1145.0494, rtol=1e-6)
    assert list(load_h3wb_npz(path, ["S7"])) == ["S7/Walking 1/55011271"]
    with pytest.raises(ValueError, match="S9"):
        load_h3wb_npz(path, ["S9"])


def test_bad_npz_files_give_clear_errors(tmp_path):
    not_zip = tmp_path / "a.npz"
    not_zip.write_bytes(b"hello")
    with pytest.raises(ValueError, match="not an .npz"):
        load_h3wb_npz(not_zip)
    other = tmp_path / "b.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(ValueError, match="no 'train_data'"):
        load_h3wb_npz(other)
    bad_shape = tmp_path / "c.npz"
    tree = {"S1": {"Eating": {"54138969": {"pose_2d": np.zeros((4, 17, 2)), "camera_3d": np.zeros((4, 133, 3))}}}}
    np.savez(bad_shape, train_data=np.array(tree, dtype=object))
    with pytest.raises(ValueError, match="S1/Eating/54138969"):
        load_h3wb_npz(bad_shape)
    with pytest.raises(FileNotFoundError):
        load_h3wb_npz(tmp_path / "absent.npz")
