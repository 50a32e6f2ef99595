"""The body expert (lifting/body_expert.py): the map from whole-body 2D to H36M-17, the fusion of the two lifts, and
its use in Lifter.lift and in training."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from pose3d_ros.camera import intrinsics_from_fov, project
from pose3d_ros.data.synthetic import synthetic_walk
from pose3d_ros.data.wholebody import sample_identity, synthesize_wholebody
from pose3d_ros.lifting import Lifter
from pose3d_ros.lifting.body_expert import (
    BODY_SOURCES,
    FEET,
    HANDS,
    HEAD,
    LIMBS,
    SHARED,
    TORSO,
    body_keypoints,
    fit_input_map,
    fuse_body,
)
from pose3d_ros.lifting.config import LifterConfig
from pose3d_ros.lifting.models import build_model
from pose3d_ros.lifting.weights_io import load_lifter, save_lifter
from pose3d_ros.skeleton import H36M17_FROM_H36M32, join_face_twins

K = intrinsics_from_fov(640, 480, 70.0)


def walking_people(count: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """The same people as whole-body (N, 133, 3) and H36M-17 (N, 17, 3) camera-frame poses, 3-6 m away."""
    poses32 = synthetic_walk(10 * count)[::10]
    wholebody = synthesize_wholebody(poses32, np.arange(count) / 5.0, sample_identity(np.random.default_rng(0)))
    body = poses32[:, list(H36M17_FROM_H36M32)]
    rng = np.random.default_rng(1)
    turn = Rotation.from_euler("z", rng.uniform(0, 360, (count, 1)), degrees=True).as_matrix()
    to_camera = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # world z up -> camera y down
    place = np.stack([rng.uniform(-1, 1, count), rng.uniform(0.2, 0.8, count), rng.uniform(3, 6, count)], -1)

    def view(points):
        centred = points - body[:, None, 0]
        return np.einsum("ij,njk,nlk->nli", to_camera, turn, centred) + place[:, None]

    return view(wholebody), view(body)


def root_relative(poses: np.ndarray, root: list[int]) -> np.ndarray:
    return poses - poses[:, root].mean(1, keepdims=True)


def test_the_fitted_map_copies_the_shared_joints_and_is_affine():
    wholebody, body = walking_people()
    weights = fit_input_map(project(wholebody, K), project(body, K))
    assert weights.shape == (17, BODY_SOURCES)
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-9)  # moving the picture moves the mapped joints alike
    for h36m, coco in SHARED.items():
        np.testing.assert_array_equal(weights[h36m], np.eye(BODY_SOURCES)[coco])
    kp17, conf17 = body_keypoints(weights, project(wholebody, K), np.ones((len(body), 133)))
    assert np.linalg.norm(kp17 - project(body, K), axis=-1).mean() < 3.0  # pixels, people 3-6 m away
    np.testing.assert_array_equal(conf17, 1.0)
    with pytest.raises(ValueError, match="keypoints"):
        fit_input_map(project(wholebody, K)[:, :23], project(body, K))


def test_a_mapped_joint_is_as_confident_as_its_least_confident_source():
    weights = np.zeros((17, BODY_SOURCES))
    weights[:, 11] = 1.0
    weights[0] = 0.0
    weights[0, [11, 12]] = 0.5  # the pelvis: midway between the hips
    conf = np.ones((1, 133), np.float32)
    conf[0, 12] = 0.2
    conf[0, 30] = 0.0  # a face point: not a source
    kp133 = np.zeros((1, 133, 2), np.float32)
    kp133[0, 11], kp133[0, 12] = (100.0, 200.0), (140.0, 210.0)
    kp17, conf17 = body_keypoints(weights, kp133, conf)
    np.testing.assert_allclose(kp17[0, 0], (120.0, 205.0))
    assert conf17[0, 0] == pytest.approx(0.2) and conf17[0, 1] == 1.0


def errors(count: int, wholebody: float, body: float) -> tuple[np.ndarray, np.ndarray]:
    return np.full((count, 133), wholebody, np.float32), np.full((count, 17), body, np.float32)


def test_fusing_the_truth_gives_the_truth_with_the_head_on_the_mapped_head_joint():
    wholebody, body = walking_people()
    weights = fit_input_map(project(wholebody, K), project(body, K))
    truth = root_relative(wholebody, [11, 12])
    fused, _ = fuse_body(truth, *errors(len(truth), 0.01, 1e-6)[:1], root_relative(body, [0]),
                         errors(len(truth), 0.01, 1e-6)[1], weights)
    not_head = np.setdiff1d(np.arange(133), HEAD)
    np.testing.assert_allclose(fused[:, not_head], truth[:, not_head], atol=1e-5)
    assert np.abs(fused[:, list(HEAD)] - truth[:, list(HEAD)]).max() < 0.03  # the map's residual in 3D


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def test_the_torso_is_the_expert_s_and_the_limbs_take_its_lengths_along_directions_weighed_by_errors():
    wholebody, body = walking_people(6)
    weights = fit_input_map(project(wholebody, K), project(body, K))
    rng = np.random.default_rng(3)
    predicted = root_relative(wholebody + rng.normal(0, 0.05, wholebody.shape), [11, 12])
    expert = root_relative(body + rng.normal(0, 0.05, body.shape), [0])
    trusted_expert, _ = fuse_body(predicted, *errors(6, 1.0, 1e-4)[:1], expert, errors(6, 1.0, 1e-4)[1], weights)
    trusted_whole, error = fuse_body(predicted, *errors(6, 1e-4, 1.0)[:1], expert, errors(6, 1e-4, 1.0)[1], weights)
    for h36m, coco in SHARED.items():  # a trusted expert gives every joint
        np.testing.assert_allclose(trusted_expert[:, coco] - trusted_expert[:, 5], expert[:, h36m] - expert[:, 11],
                                   atol=1e-6)
        if coco in TORSO:  # the torso is the expert's whatever the errors say, and so is its error
            np.testing.assert_allclose(trusted_whole[:, coco], trusted_expert[:, coco], atol=1e-6)
            np.testing.assert_allclose(error[:, coco], 1.0)
        else:
            np.testing.assert_allclose(error[:, coco], 1e-4)  # the better of the two
    for root, middle, end in LIMBS:  # a trusted whole body's limb directions, on the expert's bone lengths
        for a, b in ((root, middle), (middle, end)):
            np.testing.assert_allclose(unit(trusted_whole[:, b] - trusted_whole[:, a]),
                                       unit(predicted[:, b] - (predicted[:, a] if a != root else trusted_whole[:, a])),
                                       atol=1e-5)
            np.testing.assert_allclose(np.linalg.norm(trusted_whole[:, b] - trusted_whole[:, a], axis=-1),
                                       np.linalg.norm(trusted_expert[:, b] - trusted_expert[:, a], axis=-1), atol=1e-6)
    # The head moves by the errors' share towards the expert's head joint: all the way, none, half way.
    equal, _ = fuse_body(predicted, *errors(6, 0.05, 0.05)[:1], expert, errors(6, 0.05, 0.05)[1], weights)
    head_offset = [pose[:, 0] - pose[:, 5] for pose in (trusted_expert, trusted_whole, equal)]
    np.testing.assert_allclose(head_offset[1], predicted[:, 0] - trusted_whole[:, 5], atol=1e-5)
    np.testing.assert_allclose(head_offset[2], 0.5 * (head_offset[0] + head_offset[1]), atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(st.floats(-np.pi, np.pi), st.floats(-1.0, 1.0), st.floats(-0.2, 0.2), st.integers(0, 2**16))
def test_fusion_turns_with_the_poses_and_keeps_the_parts_shapes(angle, tilt, shift, seed):
    wholebody, body = walking_people(8)
    weights = fit_input_map(project(wholebody, K), project(body, K))
    rng = np.random.default_rng(seed)
    predicted = root_relative(wholebody + rng.normal(0, 0.03, wholebody.shape), [11, 12])
    expert = root_relative(body + rng.normal(0, 0.03, body.shape), [0]) + shift
    predicted_error = rng.uniform(0.01, 0.2, (8, 133)).astype(np.float32)
    expert_error = rng.uniform(0.01, 0.2, (8, 17)).astype(np.float32)
    R = Rotation.from_rotvec([tilt, angle, 0.0]).as_matrix()
    fused, error = fuse_body(predicted, predicted_error, expert, expert_error, weights)
    turned, turned_error = fuse_body(predicted @ R.T, predicted_error, expert @ R.T, expert_error, weights)
    np.testing.assert_allclose(turned, fused @ R.T, atol=1e-5)
    np.testing.assert_array_equal(turned_error, error)
    np.testing.assert_allclose(fused[:, [11, 12]].mean(1), 0.0, atol=1e-6)  # centred on its own root
    for joints, anchor in (*HANDS, *FEET):  # each hand and foot keeps its shape about its wrist or ankle
        joints = list(joints)
        np.testing.assert_allclose(fused[:, joints] - fused[:, [anchor]], predicted[:, joints] - predicted[:, [anchor]],
                                   atol=1e-5)
    head = list(HEAD)
    np.testing.assert_allclose(fused[:, head] - fused[:, head[:1]], predicted[:, head] - predicted[:, head[:1]],
                               atol=1e-5)
    assert (error <= np.maximum(predicted_error, np.pad(expert_error, ((0, 0), (0, 116))).max(1, keepdims=True))
            + 1e-7).all()


def test_the_nose_and_eyes_are_their_face_points_as_in_the_training_data():
    wholebody, _ = walking_people(5)
    error = np.random.default_rng(4).uniform(0.01, 0.1, (5, 133))
    joined, joined_error = join_face_twins(wholebody, error)
    np.testing.assert_allclose(joined, wholebody, atol=1e-7)  # the synthesised people already obey it
    moved = wholebody.copy()
    moved[:, :3] += 0.05  # a lifter's nose and eyes drifted from its face
    joined, joined_error = join_face_twins(moved, error)
    np.testing.assert_allclose(joined, wholebody, atol=1e-7)
    np.testing.assert_allclose(joined_error[:, 0], error[:, 23 + 30])
    np.testing.assert_allclose(joined_error[:, 3:], error[:, 3:])


def small_expert(weights: np.ndarray) -> tuple[torch.nn.Module, LifterConfig]:
    torch.manual_seed(0)
    config = LifterConfig.create("semgan", "h36m17", dim=16, depth=1, heads=2, decoder_layers=1, input_map=weights)
    return build_model(config), config


def test_the_input_map_travels_with_the_expert_s_weights_file(tmp_path):
    wholebody, body = walking_people()
    weights = fit_input_map(project(wholebody, K), project(body, K))
    model, config = small_expert(weights)
    path = save_lifter(tmp_path / "expert.safetensors", model, config)
    _, loaded, _ = load_lifter(path)
    np.testing.assert_allclose(np.array(loaded.input_map), weights)
    assert LifterConfig.from_dict(LifterConfig.create("semgan", "h36m17").to_dict()).input_map is None
    with pytest.raises(ValueError, match="input_map"):
        LifterConfig.create("semgan", "wholebody133", input_map=weights)
    with pytest.raises(ValueError, match="input_map"):
        LifterConfig.create("semgan", "h36m17", input_map=weights[:, :17])


def test_a_lift_with_an_expert_is_the_fusion_of_the_two_lifts(tmp_path):
    wholebody, body = walking_people(4)
    weights = fit_input_map(project(wholebody, K), project(body, K))
    model, config = small_expert(weights)
    expert_path = save_lifter(tmp_path / "expert.safetensors", model, config)
    torch.manual_seed(1)
    whole_config = LifterConfig.create("semgan", "wholebody133", dim=16, depth=1, heads=2, decoder_layers=1)
    whole_path = save_lifter(tmp_path / "whole.safetensors", build_model(whole_config), whole_config)
    kp2d = project(wholebody, K).astype(np.float32)
    conf = np.ones(kp2d.shape[:2], np.float32)
    alone = Lifter.load(whole_path, device="cpu")
    assert alone.body_expert is None  # another whole-body file: no expert unless asked for
    fused = Lifter.load(whole_path, device="cpu", body_expert=expert_path)
    expert = Lifter.load(expert_path, device="cpu")
    # Without the virtual camera both networks see the real one; with it, the expert is given the whole-body
    # lift's virtual view (test_lifting_perspective checks that such a lift turns with the person).
    alone.perspective_correction = fused.perspective_correction = expert.perspective_correction = False
    result = fused.lift(kp2d, conf, K)
    kp17, conf17 = body_keypoints(weights, kp2d, conf)
    expert_lift = expert.lift(kp17, conf17, K)
    network, network_error = alone._network_lift(kp2d, conf, np.broadcast_to(K, (4, 3, 3)), None)  # twins apart
    expected, expected_error = join_face_twins(*fuse_body(network, network_error, expert_lift.root_relative,
                                                          expert_lift.error, weights))
    np.testing.assert_allclose(result.root_relative, expected, atol=1e-5)
    np.testing.assert_allclose(result.error, expected_error, atol=1e-6)
    np.testing.assert_allclose(result.error[:, 5], expert_lift.error[:, 11], atol=1e-6)
    np.testing.assert_allclose(result.root_relative[:, 0], result.root_relative[:, 23 + 30], atol=1e-6)  # one nose
    np.testing.assert_allclose(result.positions - result.root_translation[:, None], result.root_relative, atol=1e-5)
    fused.flip_test = False
    assert fused.body_expert.flip_test is False
    with pytest.raises(ValueError, match="body expert"):
        Lifter(build_model(whole_config), whole_config, device="cpu", body_expert=alone)


def test_the_shipped_lifter_lifts_with_the_shipped_body_expert():
    lifter = Lifter.load(device="cpu")
    assert lifter.body_expert is not None and lifter.body_expert.layout.name == "h36m17"
    assert Lifter.load(device="cpu", body_expert="none").body_expert is None


def test_train_a_body_expert_and_evaluate_the_whole_body_lifter_with_it(tmp_path, mocap_path):
    from pose3d_ros.cli import main

    out = tmp_path / "expert"
    assert main(["train", "lifter", "--layout", "h36m17", "--body-expert", "--data", str(mocap_path),
                 "--train-subjects", "S1", "--frame-step", "400", "--epochs", "2", "--batch-size", "50",
                 "--camera-kind", "mounts", "--arch", "dim=16", "depth=1", "heads=2", "--out", str(out),
                 "--no-progress", "--threads", "1"]) == 0
    history = json.loads((out / "lifter.json").read_text())["record"]["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    _, config, _ = load_lifter(out / "lifter.safetensors")
    assert np.array(config.input_map).shape == (17, BODY_SOURCES)
    assert np.isfinite(np.array(config.input_map)).all()  # mounts puts people partly behind the camera: left out
    report = tmp_path / "eval.json"
    assert main(["eval", "lifter", "--body-expert", str(out / "lifter.safetensors"), "--data", str(mocap_path),
                 "--max-frames", "30", "--json", str(report)]) == 0
    metrics = json.loads(report.read_text())
    assert metrics["body_expert"].endswith("lifter.safetensors") and metrics["pose_mm"]["all"] > 0
    assert main(["train", "lifter", "--layout", "wholebody133", "--body-expert", "--data", str(mocap_path),
                 "--out", str(out)]) == 2


def test_the_pipeline_and_lifter_node_parameter_switches_the_expert_off():
    from pose3d_ros.pipeline.core import PipelineSettings, PosePipeline

    class NoDetector:
        def close(self):
            pass

    settings = PipelineSettings.defaults().without_temporal()
    with PosePipeline(settings, detector=NoDetector()) as pipeline:
        assert pipeline.lifter.body_expert is not None
    with PosePipeline(settings.replace("lifter", body_expert="none"), detector=NoDetector()) as pipeline:
        assert pipeline.lifter.body_expert is None
