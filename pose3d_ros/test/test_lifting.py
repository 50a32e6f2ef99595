"""Lifting stage: networks, losses, normalisation, placement, weights I/O and the Lifter API (no training here)."""

import logging
import math

import numpy as np
import pytest
import torch

from pose3d_ros.camera import project
from pose3d_ros.inference import resolve_device
from pose3d_ros.lifting import Lifter, LiftResult
from pose3d_ros.lifting.config import LifterConfig
from pose3d_ros.lifting.graph import SemGraphConv
from pose3d_ros.lifting.lifter import LiftGraph
from pose3d_ros.lifting.losses import LossWeights, bone_loss, error_loss, lifting_losses, normal_loss, position_loss
from pose3d_ros.lifting.models import build_model
from pose3d_ros.lifting.normalization import (
    camera_coordinates,
    gravity_input,
    joint_features,
    normalise_keypoints,
    root_centre,
)
from pose3d_ros.lifting.perspective import rotate_back, virtual_views
from pose3d_ros.lifting.placement import solve_root_translation
from pose3d_ros.lifting.weights_io import DEFAULT_WEIGHTS, load_lifter, save_lifter
from pose3d_ros.skeleton import H36M17, WHOLEBODY133, JointStatus, get_layout

MODELS = ("semgan", "semgcn", "simplebaseline")
LAYOUTS = ("h36m17", "wholebody133")
SMALL = {"semgan": {"dim": 16, "depth": 1, "heads": 2, "decoder_layers": 1}, "semgcn": {"hidden": 16, "blocks": 1},
         "simplebaseline": {"hidden": 32, "blocks": 1}}


def small_config(model="semgan", layout="h36m17", **kwargs) -> LifterConfig:
    return LifterConfig.create(model, layout, **{**SMALL[model], **kwargs})


def K_matrix(f=800.0, cx=320.0, cy=240.0, skew=0.0):
    return np.array([[f, skew, cx], [0.0, f * 1.01, cy], [0.0, 0.0, 1.0]])


def random_people(layout, count, rng, depth=4.0):
    """Camera-frame people: a person-sized cloud of joints per person, at ``depth`` metres, spread sideways."""
    points = rng.normal(0.0, 0.35, (count, layout.num_joints, 3))
    points += np.stack([rng.uniform(-1, 1, count), rng.uniform(-0.5, 0.5, count), np.full(count, depth)], -1)[:, None]
    return points


# ------------------------------------------------------------------------------------------------------------------
# Networks
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("model", MODELS)
def test_every_network_maps_joint_features_to_positions_and_positive_errors(model, layout):
    config = small_config(model, layout, confidence=True)
    joints = get_layout(layout).num_joints
    net = build_model(config)
    features = torch.randn(5, joints, config.inputs.channels)
    assert config.inputs.channels == 4
    pose, error = net(features)
    assert pose.shape == (5, joints, 3) and error.shape == (5, joints)
    assert bool((error >= 0).all())
    (pose.square().mean() + error.mean()).backward()  # every output is differentiable
    net.eval()
    pose1, _ = net(features[:1])
    assert pose1.shape == (1, joints, 3)  # batch-1 inference works (batch norm in eval mode)


def test_default_semgan_is_the_seed_design_at_cpu_width():
    config = LifterConfig.create("semgan", "wholebody133")
    arch = config.architecture
    assert (arch.depth, arch.decoder, arch.decoder_layers, config.inputs.distance) == (4, True, 2, True)
    net = build_model(config)
    # Body-part decoder: one weight set per part (body / face / hands), padded to the largest part (68 face points).
    assert net.decoder.parts == 3 and net.decoder.size == 68
    assert net.decoder.layers[0].qkv.weight.shape[0] == 3


def test_body_part_decoder_keeps_the_parts_apart():
    """Changing the face's input features must not change the hands' decoder output except through the encoder:
    with no encoder blocks the decoder alone decides, so hands and body must be untouched."""
    config = LifterConfig.create("semgan", "wholebody133", dim=16, depth=0, heads=2)
    net = build_model(config).eval()
    features = torch.randn(1, 133, config.inputs.channels)
    changed = features.clone()
    changed[:, 23:91] += 1.0  # the face
    with torch.no_grad():
        before, _ = net(features)
        after, _ = net(changed)
    assert torch.allclose(before[:, :23], after[:, :23]) and torch.allclose(before[:, 91:], after[:, 91:])
    assert not torch.allclose(before[:, 23:91], after[:, 23:91])


@pytest.mark.parametrize("anchored", [True, False])
def test_anchored_parts_hang_face_and_hands_from_the_body_prediction(anchored):
    """With the face and hand parts' output layer zeroed, anchored parts sit exactly on the predicted nose and
    wrists; unanchored ones on the pelvis origin."""
    config = LifterConfig.create("semgan", "wholebody133", dim=16, depth=1, heads=2, anchored_parts=anchored)
    net = build_model(config).eval()
    with torch.no_grad():
        net.decoder.position_head.weight[1:] = 0.0
        net.decoder.position_head.bias[1:] = 0.0
        pose, _ = net(torch.randn(2, 133, config.inputs.channels))
    nose, left_wrist, right_wrist = (pose[:, [j]] if anchored else torch.zeros(2, 1, 3) for j in (0, 9, 10))
    assert pose[:, :23].abs().sum() > 0  # the body part itself is untouched
    torch.testing.assert_close(pose[:, 23:91], nose.expand(-1, 68, -1))
    torch.testing.assert_close(pose[:, 91:112], left_wrist.expand(-1, 21, -1))
    torch.testing.assert_close(pose[:, 112:], right_wrist.expand(-1, 21, -1))


def test_semgan_files_written_before_anchored_parts_read_as_unanchored():
    data = LifterConfig.create("semgan", "wholebody133").to_dict()
    assert data["architecture"].pop("anchored_parts") is True  # the default for new models
    assert LifterConfig.from_dict(data).architecture.anchored_parts is False


def test_encoder_only_ablation_has_a_linear_head():
    net = build_model(small_config("semgan", "wholebody133", decoder=False))
    assert not hasattr(net, "decoder") and isinstance(net.position_head, torch.nn.Linear)


def test_unknown_model_or_setting_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown lifting model"):
        LifterConfig.create("resnet", "h36m17")
    with pytest.raises(ValueError, match="has no setting"):
        LifterConfig.create("semgan", "h36m17", width=3)
    with pytest.raises(ValueError, match="supports layouts"):
        LifterConfig.create("semgan", "h36m32")


# ------------------------------------------------------------------------------------------------------------------
# Semantic graph convolution
# ------------------------------------------------------------------------------------------------------------------


def test_precomputed_adjacency_equals_the_training_mode_one():
    conv = SemGraphConv(4, 3, H36M17.adjacency())
    with torch.no_grad():
        conv.edge_logits.normal_()
    conv.train()
    train_self, train_neighbours = conv.mixing()
    x = torch.randn(2, 17, 4)
    train_out = conv(x)
    conv.eval()
    eval_self, eval_neighbours = conv.mixing()
    assert conv._cached_neighbours is not None  # cached in eval mode
    assert torch.allclose(eval_self, train_self) and torch.allclose(eval_neighbours, train_neighbours)
    assert torch.allclose(conv(x), train_out, atol=1e-6)
    # The softmax runs over each joint's neighbours: rows sum to 1 and non-edges get exactly 0.
    full = eval_neighbours + torch.diag_embed(eval_self[:, 0])
    assert torch.allclose(full.sum(1), torch.ones(17))
    assert bool((full[torch.as_tensor(H36M17.adjacency()) == 0] == 0).all())


def test_cache_is_dropped_when_weights_change():
    conv = SemGraphConv(2, 2, H36M17.adjacency()).eval()
    x = torch.randn(1, 17, 2)
    before = conv(x)
    state = {k: v.clone() for k, v in conv.state_dict().items()}
    state["edge_logits"] = torch.randn_like(state["edge_logits"])
    conv.load_state_dict(state)
    expected_self, expected_neighbours = SemGraphConv._split(conv.adjacency())
    assert torch.allclose(conv.mixing()[1], expected_neighbours)
    assert not torch.allclose(conv(x), before)


def test_graph_convolution_mixes_only_neighbours():
    """A joint's output depends on its own and its neighbours' features and on nothing else."""
    conv = SemGraphConv(3, 2, H36M17.adjacency()).eval()
    x = torch.randn(1, 17, 3)
    y = x.clone()
    y[:, 10] += 5.0  # head: neighbours are the neck (9) only
    changed = (conv(x) - conv(y)).abs().sum(-1)[0] > 1e-6
    assert set(torch.nonzero(changed).flatten().tolist()) == {9, 10}


def test_grouped_graph_convolution_equals_separate_ones():
    adjacency = np.stack([H36M17.adjacency(), np.eye(17, dtype=np.float32)])
    grouped = SemGraphConv(3, 2, adjacency)
    x = torch.randn(2, 4, 17, 3)  # (G, B, J, C)
    out = grouped(x)
    for g in range(2):
        single = SemGraphConv(3, 2, adjacency[g])
        count = int((adjacency[:g] > 0).sum())
        with torch.no_grad():
            single.weight.copy_(grouped.weight[g])
            single.bias.copy_(grouped.bias[g])
            single.edge_logits.copy_(grouped.edge_logits[count:count + single.edge_logits.numel()])
        assert torch.allclose(single(x[g]), out[g], atol=1e-6)


# ------------------------------------------------------------------------------------------------------------------
# Losses against hand-computed values
# ------------------------------------------------------------------------------------------------------------------


def test_position_and_error_losses_by_hand():
    target = torch.zeros(1, 2, 3)
    pred = torch.tensor([[[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]]])  # joint errors 5 and 1
    assert position_loss(pred, target).item() == pytest.approx((25 + 1) / 2)
    predicted_error = torch.tensor([[4.0, 1.0]], requires_grad=True)
    loss = error_loss(predicted_error, pred.requires_grad_(), target)
    assert loss.item() == pytest.approx(((4 - 5) ** 2 + 0) / 2)
    loss.backward()
    assert pred.grad is None or bool((pred.grad == 0).all())  # the actual error is detached


def test_normal_loss_by_hand():
    # Ground-truth triangle in the xy-plane: normal (0, 0, 1).
    target = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    assert normal_loss(target.clone(), target, [(0, 1, 2)]).item() == pytest.approx(0.0, abs=1e-7)
    # Predicted distal joint lifted to (0, 1, 1): edges a->b (1,0,0), b->c (-1,1,1)/sqrt3, c->a (0,-1,-1)/sqrt2.
    pred = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]])
    expected = (0.0 + 1 / math.sqrt(3) + 1 / math.sqrt(2)) / 3
    assert normal_loss(pred, target, [(0, 1, 2)]).item() == pytest.approx(expected, rel=1e-6)


def test_bone_loss_by_hand():
    target = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]])
    pred = target.clone()
    pred[0, 2] = torch.tensor([1.0, 1.0, 2.0])  # bone 1->2 off by (0, 0, 2); bone 0->1 exact
    assert bone_loss(pred, target, [(0, 1), (1, 2)]).item() == pytest.approx((0 + 4) / 2)
    pred = target + 0.3  # a translated pose has the same bones
    assert bone_loss(pred, target, [(0, 1), (1, 2)]).item() == pytest.approx(0.0, abs=1e-7)


def test_total_loss_weights_the_terms():
    rng = torch.Generator().manual_seed(0)
    pred, target = torch.randn(3, 17, 3, generator=rng), torch.randn(3, 17, 3, generator=rng)
    error = torch.rand(3, 17, generator=rng)
    weights = LossWeights(position=0.5, error=0.25, normal=2.5e-4, bone=5e-4)
    terms = lifting_losses(pred, error, target, H36M17, weights)
    expected = 0.5 * terms["position"] + 0.25 * terms["error"] + 2.5e-4 * terms["normal"] + 5e-4 * terms["bone"]
    assert terms["total"].item() == pytest.approx(expected.item())
    assert LossWeights() == weights  # the seed's weights are the defaults


# ------------------------------------------------------------------------------------------------------------------
# Normalisation
# ------------------------------------------------------------------------------------------------------------------


def test_normalisation_removes_intrinsics_position_and_size():
    rng = np.random.default_rng(0)
    points = random_people(H36M17, 3, rng)
    conf = torch.ones(3, 17)
    reference = None
    for K in (K_matrix(), K_matrix(f=1500.0, cx=900.0, cy=100.0, skew=2.0)):
        kp2d = torch.as_tensor(project(points, K), dtype=torch.float32)
        coords = normalise_keypoints(kp2d, conf, torch.as_tensor(K, dtype=torch.float32), H36M17)
        assert torch.allclose(root_centre(coords, H36M17), torch.zeros(3, 2), atol=1e-5)  # centred on the pelvis
        assert torch.allclose(coords.square().sum(-1).mean(-1), torch.ones(3), atol=1e-4)  # unit RMS size
        if reference is not None:
            assert torch.allclose(coords, reference, atol=1e-4)  # the camera's intrinsics are gone
        reference = coords
    # Twice as far away and twice as large: the same input.
    far = points.copy()
    far[..., 2] *= 2.0
    far[..., :2] *= 2.0
    kp2d = torch.as_tensor(project(far, K_matrix()), dtype=torch.float32)
    assert torch.allclose(normalise_keypoints(kp2d, conf, torch.as_tensor(K_matrix(), dtype=torch.float32), H36M17),
                          reference, atol=1e-4)


def test_camera_coordinates_match_the_formula():
    K = torch.as_tensor(K_matrix(f=1000.0, cx=500.0, cy=400.0), dtype=torch.float32)
    kp2d = torch.tensor([[[600.0, 300.0]]])
    expected = torch.tensor([[[(600 - 500) / 1000, (300 - 400) / 1010]]])
    assert torch.allclose(camera_coordinates(kp2d, K), expected)


def test_scale_uses_the_visible_body_joints():
    coords_in = torch.zeros(1, 133, 2)
    coords_in[0, :23, 0] = torch.linspace(-1, 1, 23)
    coords_in[0, 91:, 0] = 50.0  # far-away hand points do not set the scale
    conf = torch.ones(1, 133)
    conf[0, 0] = 0.0
    K = torch.eye(3)
    coords = normalise_keypoints(coords_in, conf, K, WHOLEBODY133)
    centred = coords_in[0, :23, 0] - (coords_in[0, 11, 0] + coords_in[0, 12, 0]) / 2
    rms = centred[1:].square().mean().sqrt()
    assert coords[0, 5, 0].item() == pytest.approx((centred[5] / rms).item(), rel=1e-5)


def test_joint_features_channels():
    coords = torch.tensor([[[0.0, 0.0], [3.0, 4.0]] + [[0.0, 0.0]] * 15])
    conf = torch.full((1, 17), 0.5)
    config = LifterConfig.create("semgan", "h36m17", distance=True, confidence=True)
    features = joint_features(coords, conf, H36M17, config.inputs)
    assert features.shape == (1, 17, 4)
    assert features[0, 1, 2].item() == pytest.approx(5.0)  # joint 1's distance to its parent, the pelvis
    assert features[0, 0, 2].item() == 0.0  # the root has no parent
    assert bool((features[..., 3] == 0.5).all())


def test_part_offset_channels_are_each_joints_offset_from_its_anchor():
    coords = torch.zeros(1, 133, 2)
    coords[0, 0] = torch.tensor([0.1, -0.2])  # nose
    coords[0, 10] = torch.tensor([0.5, 0.0])  # right wrist
    coords[0, 53] = torch.tensor([0.12, -0.2])  # a face point 0.02 right of the nose
    coords[0, 120] = torch.tensor([0.5, 0.03])  # a right-hand point 0.03 below the wrist
    config = LifterConfig.create("semgan", "wholebody133", part_offsets=True)
    features = joint_features(coords, torch.ones(1, 133), WHOLEBODY133, config.inputs)
    assert features.shape == (1, 133, 5) == (1, 133, config.inputs.channels)
    torch.testing.assert_close(features[0, 53, 3:], torch.tensor([0.2, 0.0]))  # x 10, the gain
    torch.testing.assert_close(features[0, 120, 3:], torch.tensor([0.0, 0.3]))
    assert bool((features[0, :23, 3:] == 0).all())  # body joints: no anchor, no offset


# ------------------------------------------------------------------------------------------------------------------
# Camera-frame placement
# ------------------------------------------------------------------------------------------------------------------


def test_root_translation_is_recovered_exactly_from_noise_free_projections():
    rng = np.random.default_rng(1)
    root_relative = rng.normal(0.0, 0.4, (4, 17, 3))
    translation = np.array([[0.3, -0.2, 3.0], [-1.5, 0.4, 6.5], [0.0, 0.0, 2.0], [2.0, 1.0, 9.0]])
    K = K_matrix(skew=1.5)
    kp2d = project(root_relative + translation[:, None], K)
    conf = rng.uniform(0.0, 1.0, (4, 17))
    conf[2] = 0.0  # no confidence at all: equal weights
    solved = solve_root_translation(kp2d, conf, root_relative, K)
    np.testing.assert_allclose(solved, translation, atol=1e-8)
    # One K per person works the same.
    np.testing.assert_allclose(solve_root_translation(kp2d, conf, root_relative, np.stack([K] * 4)), translation,
                               atol=1e-8)
    assert solve_root_translation(kp2d[:0], conf[:0], root_relative[:0], K).shape == (0, 3)


def test_zero_confidence_joints_do_not_pull_the_solution():
    rng = np.random.default_rng(2)
    root_relative = rng.normal(0.0, 0.4, (1, 17, 3))
    K = K_matrix()
    kp2d = project(root_relative + np.array([0.5, 0.1, 4.0]), K)
    kp2d[0, 5] += 300.0  # a wild outlier at confidence 0
    conf = np.ones((1, 17))
    conf[0, 5] = 0.0
    np.testing.assert_allclose(solve_root_translation(kp2d, conf, root_relative, K)[0], [0.5, 0.1, 4.0], atol=1e-8)


# ------------------------------------------------------------------------------------------------------------------
# Weights I/O
# ------------------------------------------------------------------------------------------------------------------


def test_weights_round_trip(tmp_path):
    config = small_config("semgan", "h36m17", confidence=True)
    model = build_model(config).eval()
    path = save_lifter(tmp_path / "w.safetensors", model, config, {"epochs": 3})
    assert path.with_suffix(".json").is_file()
    loaded, loaded_config, record = load_lifter(path)
    assert loaded_config == config and record == {"epochs": 3}
    features = torch.randn(2, 17, config.inputs.channels)
    with torch.no_grad():
        for a, b in zip(model(features), loaded(features), strict=True):
            assert torch.equal(a, b)


def test_missing_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="lifter weights"):
        Lifter.load(tmp_path / "nothing.safetensors")
    config = small_config()
    path = save_lifter(tmp_path / "w.safetensors", build_model(config), config)
    path.with_suffix(".json").unlink()
    with pytest.raises(FileNotFoundError, match="lifter config"):
        Lifter.load(path)


def test_weights_path_forms(tmp_path):
    config = small_config()
    path = save_lifter(tmp_path / "run" / "lifter_v1.2.safetensors", build_model(config), config)
    for given in (path, path.with_suffix(".json"), tmp_path / "run" / "lifter_v1.2"):
        assert load_lifter(given)[1] == config  # the file, its config, or the name without suffix
    (tmp_path / "run" / "checkpoint.safetensors").write_bytes(b"")  # training state, never offered as weights
    with pytest.raises(ValueError, match=r"is a folder; give the weights file in it: \S*lifter_v1\.2\.safetensors$"):
        Lifter.load(tmp_path / "run")  # a training run's output folder
    other = tmp_path / "notes.txt"
    other.write_text("not weights")
    with pytest.raises(ValueError, match="notes.txt is not a weights file"):
        Lifter.load(other)


def test_corrupt_weights_file(tmp_path):
    config = small_config()
    path = save_lifter(tmp_path / "w.safetensors", build_model(config), config)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        Lifter.load(path)
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        Lifter.load(path)
    save_lifter(path, build_model(config), config)
    path.with_suffix(".json").write_text("{ not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Lifter.load(path)


def test_mismatched_weights_file(tmp_path):
    small = small_config("semgan", "h36m17")
    path = save_lifter(tmp_path / "w.safetensors", build_model(small), small)
    wider = small_config("semgan", "h36m17", dim=32)
    save_lifter(tmp_path / "other.safetensors", build_model(wider), wider)
    (tmp_path / "other.json").replace(path.with_suffix(".json"))  # the config of another network
    with pytest.raises(ValueError, match="do not match the network.*wrong shape"):
        Lifter.load(path)
    other_layout = small_config("semgan", "wholebody133")
    save_lifter(tmp_path / "wb.safetensors", build_model(other_layout), other_layout)
    (tmp_path / "wb.json").replace(path.with_suffix(".json"))
    with pytest.raises(ValueError, match="do not match the network"):
        Lifter.load(path)
    path.with_suffix(".json").write_text('{"format": "something.else", "format_version": 1}')
    with pytest.raises(ValueError, match="not a lifter config"):
        Lifter.load(path)


# ------------------------------------------------------------------------------------------------------------------
# The Lifter API
# ------------------------------------------------------------------------------------------------------------------


@pytest.fixture()
def lifter_h36m17():
    torch.manual_seed(0)
    config = small_config("semgan", "h36m17")
    return Lifter(build_model(config), config, device="cpu")


@pytest.mark.parametrize("perspective_correction", [True, False])
def test_lift_shapes_status_and_placement(lifter_h36m17, perspective_correction):
    rng = np.random.default_rng(3)
    K = K_matrix()
    kp2d = project(random_people(H36M17, 3, rng), K).astype(np.float32)
    conf = rng.uniform(0.0, 1.0, (3, 17)).astype(np.float32)
    lifter_h36m17.perspective_correction = perspective_correction
    result = lifter_h36m17.lift(kp2d, conf, K)
    assert isinstance(result, LiftResult)
    assert result.positions.shape == (3, 17, 3) and result.root_relative.shape == (3, 17, 3)
    assert result.error.shape == (3, 17) and result.status.dtype == np.uint8
    np.testing.assert_array_equal(result.status, np.where(conf > 0.3, JointStatus.OBSERVED, JointStatus.INFERRED))
    np.testing.assert_allclose(result.root_relative[:, 0], 0.0, atol=1e-6)  # pelvis at the origin
    np.testing.assert_allclose(result.positions, result.root_relative + result.root_translation[:, None], atol=1e-5)
    # The placed skeleton reprojects onto the keypoints as well as its shape allows, measured in the view it was
    # lifted in (each person's virtual camera with the perspective correction, tests in test_lifting_perspective).
    view, R = virtual_views(kp2d, conf, K, H36M17) if perspective_correction else (kp2d, np.eye(3)[None])
    pose_in_view = np.einsum("pij,pkj->pki", R, result.root_relative)
    np.testing.assert_allclose(result.root_translation,
                               rotate_back(solve_root_translation(view, conf, pose_in_view, K), R), rtol=1e-5,
                               atol=1e-5)



@pytest.mark.parametrize("kind,layout,gravity", [("semgan", "wholebody133", False), ("semgan", "h36m17", False),
                                                 ("semgcn", "h36m17", False), ("simplebaseline", "h36m17", False),
                                                 ("semgan", "h36m17", True), ("simplebaseline", "h36m17", True)])
def test_frozen_inference_graph_matches_the_eager_one_at_any_batch_size(kind, layout, gravity):
    """Inference runs a trace made at batch 1; it must compute what the eager modules compute for any batch, with
    and without the flip test (and with a gravity input, known for some people and not for others).
    """
    torch.manual_seed(1)
    config = small_config(kind, layout, gravity=gravity)
    lifter = Lifter(build_model(config), config, device="cpu")
    joints = config.skeleton.num_joints
    for flip_test in (True, False):
        lifter.flip_test = flip_test
        eager = LiftGraph(lifter.model, config, flip_test=flip_test)
        for batch in (1, 3, 7):
            kp2d = 300.0 + 80.0 * torch.randn(batch, joints, 2)
            conf = (torch.rand(batch, joints) > 0.2).float()
            K = torch.tensor([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]]).expand(batch, 3, 3)
            gravity = gravity_input(torch.nn.functional.normalize(torch.randn(batch, 3), dim=-1),
                                    torch.rand(batch) > 0.5)
            with torch.no_grad():
                expected, frozen = eager(kp2d, conf, K, gravity), lifter.predict(kp2d, conf, K, gravity)
            assert frozen[0].shape == (batch, joints, 3)
            for a, b in zip(expected, frozen, strict=True):
                torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def test_lift_nobody(lifter_h36m17):
    result = lifter_h36m17.lift(np.zeros((0, 17, 2)), np.zeros((0, 17)), K_matrix())
    assert result.positions.shape == (0, 17, 3) and result.status.shape == (0, 17) and result.error.shape == (0, 17)


def test_lift_rejects_bad_input(lifter_h36m17):
    kp2d, conf = np.zeros((1, 17, 2)), np.ones((1, 17))
    with pytest.raises(ValueError, match=r"\(P, 17, 2\)"):
        lifter_h36m17.lift(np.zeros((1, 133, 2)), np.ones((1, 133)), K_matrix())
    with pytest.raises(ValueError, match="conf must have shape"):
        lifter_h36m17.lift(kp2d, np.ones((1, 16)), K_matrix())
    bad = kp2d.copy()
    bad[0, 3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        lifter_h36m17.lift(bad, conf, K_matrix())
    with pytest.raises(ValueError, match="positive focal"):
        lifter_h36m17.lift(kp2d, conf, np.zeros((3, 3)))


def test_lift_refuses_what_would_give_nan(lifter_h36m17):
    """Regression (fuzzing): a focal length of 1e-300 passed the check but is 0 in the float32 graph, so every
    position came out NaN; confidences outside the 2D contract's [0, 1] were taken as they were."""
    kp2d, conf = np.full((1, 17, 2), 300.0), np.ones((1, 17))
    for focal in (1e-300, 1e300):
        with pytest.raises(ValueError, match="positive focal lengths"):
            lifter_h36m17.lift(kp2d, conf, K_matrix(f=focal))
    for bad in (-0.5, 1.5):
        with pytest.raises(ValueError, match=r"conf must lie in \[0, 1\]"):
            lifter_h36m17.lift(kp2d, np.full((1, 17), bad), K_matrix())
    assert np.isfinite(lifter_h36m17.lift(kp2d * 1e30, conf, K_matrix()).positions).all()  # far out, still finite
    # camera coordinates beyond float32: the perspective correction lifts along the rays' directions, which stay
    # finite; without it the camera coordinates overflow and the lift says so instead of returning NaN
    assert np.isfinite(lifter_h36m17.lift(kp2d * 1e30, conf, K_matrix(f=1e-30)).positions).all()
    lifter_h36m17.perspective_correction = False
    try:
        with pytest.raises(ValueError, match="no finite 3D pose"):
            lifter_h36m17.lift(kp2d * 1e30, conf, K_matrix(f=1e-30))
    finally:
        lifter_h36m17.perspective_correction = True


def test_flip_test_time_augmentation_is_mirror_equivariant(lifter_h36m17):
    """Mirroring the image mirrors the lifted skeleton exactly (x negated, left and right swapped)."""
    rng = np.random.default_rng(4)
    K = K_matrix(cx=320.0)
    kp2d = project(random_people(H36M17, 2, rng), K)
    conf = rng.uniform(0.2, 1.0, (2, 17))
    mirrored_kp2d = kp2d[:, list(H36M17.flip)].copy()
    mirrored_kp2d[..., 0] = 2 * 320.0 - mirrored_kp2d[..., 0]
    mirrored_conf = conf[:, list(H36M17.flip)]
    result = lifter_h36m17.lift(kp2d, conf, K)
    mirrored = lifter_h36m17.lift(mirrored_kp2d, mirrored_conf, K)
    np.testing.assert_allclose(mirrored.root_relative, H36M17.flip_points(result.root_relative), atol=1e-5)
    np.testing.assert_allclose(mirrored.error, result.error[:, list(H36M17.flip)], atol=1e-6)
    lifter_h36m17.flip_test = False  # without the augmentation an untrained network is not equivariant
    plain = lifter_h36m17.lift(kp2d, conf, K)
    assert not np.allclose(lifter_h36m17.lift(mirrored_kp2d, mirrored_conf, K).root_relative,
                           H36M17.flip_points(plain.root_relative), atol=1e-3)


def test_device_resolution(caplog):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with caplog.at_level(logging.WARNING):
            assert resolve_device("cuda") == torch.device("cpu")
        assert "not available" in caplog.text
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")



def test_shipped_weights_load_and_lift():
    assert DEFAULT_WEIGHTS.is_file(), "the shipped wholebody133 lifter is missing"
    assert DEFAULT_WEIGHTS.stat().st_size < 10 * 2**20
    lifter = Lifter.load(device="cpu")
    assert lifter.layout.name == "wholebody133" and lifter.config.model == "semgan"
    result = lifter.lift(np.full((1, 133, 2), 300.0) + np.random.default_rng(0).normal(0, 40, (1, 133, 2)),
                         np.ones((1, 133)), K_matrix())
    assert np.isfinite(result.positions).all() and result.positions[0, :, 2].mean() > 0
