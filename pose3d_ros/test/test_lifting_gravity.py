"""The lifter's gravity input (issue #17): the world's up direction in the (virtual) camera frame, dropped at random
in training; old weights without it; Lifter.lift's attitude handling; the warm start that adds the input."""

import json
import logging

import numpy as np
import pytest
import torch

from pose3d_ros.camera import project, rotate_pixels, up_from_pitch_roll
from pose3d_ros.lifting import Lifter
from pose3d_ros.lifting.config import LifterConfig
from pose3d_ros.lifting.models import build_model
from pose3d_ros.lifting.normalization import flip_gravity, gravity_input, joint_features
from pose3d_ros.lifting.training import TrainOptions, prepare_samples, train_lifter
from pose3d_ros.lifting.weights_io import save_lifter, warm_start
from pose3d_ros.skeleton import H36M17
from pose3d_ros.weights_file import SHIPPED_WEIGHTS_DIR

K = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
SMALL = {"semgan": dict(dim=16, depth=1, heads=2, decoder_layers=1), "semgcn": dict(hidden=16, blocks=1),
         "simplebaseline": dict(hidden=64, blocks=1, dropout=0.0)}


def small_lifter(gravity=True, model="semgan", **options) -> Lifter:
    torch.manual_seed(0)
    config = LifterConfig.create(model, "h36m17", confidence=True, gravity=gravity, **SMALL[model])
    return Lifter(build_model(config), config, device="cpu", **options)


def pitched_views(count: int, seed: int) -> dict:
    """Upright mannequins (H36M-17, random yaw and arms) seen by cameras pitched -60..60 degrees (up and down), the
    pelvis on the optical axis: from the 2D alone a view from above and one from below look much alike."""
    rng = np.random.default_rng(seed)
    rest = np.array([[0, 0, 0], [-.13, 0, 0], [-.13, .45, 0], [-.13, .9, 0], [.13, 0, 0], [.13, .45, 0], [.13, .9, 0],
                     [0, -.25, 0], [0, -.5, 0], [0, -.6, 0], [0, -.7, 0], [.18, -.48, 0], [.45, -.48, 0],
                     [.7, -.48, 0], [-.18, -.48, 0], [-.45, -.48, 0], [-.7, -.48, 0]])  # y down: a level camera's
    poses = np.repeat(rest[None], count, axis=0)
    poses[:, [12, 13, 15, 16]] += rng.normal(0, 0.15, (count, 4, 3))
    yaw, pitch = rng.uniform(-np.pi, np.pi, count), np.radians(rng.uniform(-60.0, 60.0, count))
    turn = np.zeros((count, 3, 3))
    turn[:, 0, 0], turn[:, 0, 2], turn[:, 1, 1] = np.cos(yaw), np.sin(yaw), 1.0
    turn[:, 2, 0], turn[:, 2, 2] = -np.sin(yaw), np.cos(yaw)
    tilt = np.zeros((count, 3, 3))  # a camera pitched down by `pitch` sees the level frame turned about x
    tilt[:, 0, 0], tilt[:, 1, 1], tilt[:, 1, 2] = 1.0, np.cos(pitch), -np.sin(pitch)
    tilt[:, 2, 1], tilt[:, 2, 2] = np.sin(pitch), np.cos(pitch)
    pose3d = np.einsum("nij,njk,nlk->nli", tilt, turn, poses) + np.array([0.0, 0.0, 4.0])
    up = np.einsum("nij,j->ni", tilt, [0.0, -1.0, 0.0])
    return {"kp2d": project(pose3d, K).astype(np.float32), "conf": np.ones((count, 17), np.float32),
            "K": np.broadcast_to(K, (count, 3, 3)).astype(np.float32), "pose3d": pose3d.astype(np.float32),
            "up": up.astype(np.float32)}


def test_pitched_views_have_the_up_direction_their_pitch_gives():
    data = pitched_views(5, 0)
    pitch = -np.degrees(np.arcsin(-data["up"][:, 2]))  # up_from_pitch_roll: z = -sin(pitch down)
    for up, angle in zip(data["up"], pitch, strict=True):
        np.testing.assert_allclose(up, up_from_pitch_roll(-angle), atol=1e-6)


def test_gravity_channels_follow_the_confidence_pattern():
    config = LifterConfig.create("semgan", "h36m17", confidence=True, gravity=True)
    assert config.inputs.channels == 4 + 4
    assert LifterConfig.from_dict(config.to_dict()) == config
    old = config.to_dict()
    del old["inputs"]["gravity"]  # files written before the gravity input
    assert LifterConfig.from_dict(old).inputs.gravity is False
    up = torch.tensor([[0.0, -1.0, 0.0], [0.3, -0.9, -0.3]])
    gravity = gravity_input(up, torch.tensor([True, False]))
    torch.testing.assert_close(gravity, torch.tensor([[0.0, -1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]]))
    torch.testing.assert_close(flip_gravity(gravity_input(up, torch.tensor([True, True])))[1],
                               torch.tensor([-0.3, -0.9, -0.3, 1.0]))
    coords, conf = torch.randn(2, 17, 2), torch.ones(2, 17)
    features = joint_features(coords, conf, H36M17, config.inputs, gravity)
    assert features.shape == (2, 17, 8)
    torch.testing.assert_close(features[:, :, 4:], gravity[:, None].expand(-1, 17, -1))  # on every joint
    with pytest.raises(ValueError, match="gravity input"):
        joint_features(coords, conf, H36M17, config.inputs)


def test_old_weights_without_the_gravity_input_load_and_ignore_an_attitude():
    """The shipped whole-body lifter predates the gravity input (its JSON has no "gravity" key)."""
    path = SHIPPED_WEIGHTS_DIR / "lifter_semgan_wholebody133.safetensors"
    assert "gravity" not in json.loads(path.with_suffix(".json").read_text())["config"]["inputs"]
    lifter = Lifter.load(path, device="cpu")
    assert not lifter.uses_gravity and lifter.config.inputs.channels == 5
    kp2d = np.random.default_rng(1).uniform(200.0, 400.0, (2, 133, 2)).astype(np.float32)
    conf = np.ones((2, 133), np.float32)
    plain = lifter.lift(kp2d, conf, K)
    given = lifter.lift(kp2d, conf, K, up=up_from_pitch_roll(35.0))
    np.testing.assert_array_equal(given.positions, plain.positions)


def test_the_shipped_h36m17_lifter_takes_the_gravity_input():
    lifter = Lifter.load(SHIPPED_WEIGHTS_DIR / "lifter_semgan_h36m17.safetensors", device="cpu")
    assert lifter.uses_gravity and lifter.config.inputs.channels == 4 + 4
    data = pitched_views(3, 1)
    known = lifter.lift(data["kp2d"], data["conf"], K, up=data["up"])
    assert np.abs(known.positions - lifter.lift(data["kp2d"], data["conf"], K).positions).max() > 1e-4


def test_training_drops_the_gravity_input_at_random_and_learns_to_use_it(tmp_path):
    """Half of the samples lose the up direction in training; the network still lifts without it, and better with
    it (here the 2D leaves the camera's pitch open)."""
    train, val = prepare_samples(pitched_views(800, 2), H36M17), prepare_samples(pitched_views(300, 3), H36M17)
    keep = torch.rand(len(train), generator=torch.Generator().manual_seed(0)) >= 0.5
    known = train.gravity(keep)[:, 3]
    assert 0.4 < known.mean() < 0.6 and (train.gravity(keep)[known == 0] == 0).all()
    config = LifterConfig.create("semgan", "h36m17", gravity=True, dim=32, depth=1, heads=2, decoder_layers=1)
    options = TrainOptions(epochs=6, batch_size=50, lr=3e-3, max_val_samples=300, gravity_dropout=0.5)
    _, history = train_lifter(config, train, val, options, tmp_path, progress=False)
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    unknown = history[-1]["val_mpjpe_gravity_unknown_mm"]
    assert history[-1]["val_mpjpe_mm"] < 0.9 * unknown  # the input is used
    assert unknown < history[0]["val_mpjpe_gravity_unknown_mm"]  # and it still learns without it


def test_lift_turns_the_up_direction_into_each_persons_virtual_camera():
    """The whole lift, up direction included, is a rotation of the lift of the same person seen by a camera turned
    about its centre (the up direction turned with it)."""
    lifter = small_lifter()
    data = pitched_views(3, 4)
    angle = np.radians(25.0)
    turn = np.array([[np.cos(angle), 0.0, -np.sin(angle)], [0.0, 1.0, 0.0], [np.sin(angle), 0.0, np.cos(angle)]])
    turned_kp2d = rotate_pixels(data["kp2d"], K, np.broadcast_to(turn, (3, 3, 3))).astype(np.float32)
    first = lifter.lift(data["kp2d"], data["conf"], K, up=data["up"])
    second = lifter.lift(turned_kp2d, data["conf"], K, up=data["up"] @ turn.T)
    np.testing.assert_allclose(second.root_relative @ turn, first.root_relative, atol=2e-4)
    unknown = lifter.lift(data["kp2d"], data["conf"], K)
    assert np.abs(unknown.root_relative - first.root_relative).max() > 1e-4  # the input reaches the network


def test_an_upside_down_attitude_is_refused_once_and_lifted_as_unknown(caplog):
    lifter = small_lifter()
    data = pitched_views(2, 5)
    unknown = lifter.lift(data["kp2d"], data["conf"], K)
    with caplog.at_level(logging.WARNING, logger="pose3d_ros.lifting.lifter"):
        upside_down = lifter.lift(data["kp2d"], data["conf"], K, up=up_from_pitch_roll(0.0, 150.0))
        lifter.lift(data["kp2d"], data["conf"], K, up=up_from_pitch_roll(0.0, 180.0))
    np.testing.assert_array_equal(upside_down.positions, unknown.positions)
    assert sum("upside down" in record.message for record in caplog.records) == 1
    straight_down = lifter.lift(data["kp2d"], data["conf"], K, up=up_from_pitch_roll(90.0))  # a ceiling camera
    assert np.abs(straight_down.positions - unknown.positions).max() > 1e-5
    nan = lifter.lift(data["kp2d"], data["conf"], K, up=np.full(3, np.nan))
    np.testing.assert_array_equal(nan.positions, unknown.positions)
    per_person = lifter.lift(data["kp2d"], data["conf"], K, up=np.stack([up_from_pitch_roll(90.0), [np.nan] * 3]))
    np.testing.assert_array_equal(per_person.positions[0], straight_down.positions[0])
    np.testing.assert_array_equal(per_person.positions[1], unknown.positions[1])
    with pytest.raises(ValueError, match="must not be zero"):
        lifter.lift(data["kp2d"], data["conf"], K, up=np.zeros(3))


@pytest.mark.parametrize("model", ["semgan", "semgcn", "simplebaseline"])
def test_warm_start_adds_the_gravity_input_to_a_trained_lifter_without_changing_it(tmp_path, model):
    old = small_lifter(gravity=False, model=model)
    save_lifter(tmp_path / "old.safetensors", old.model, old.config)
    new_config = LifterConfig.create(model, "h36m17", confidence=True, gravity=True, **SMALL[model])
    torch.manual_seed(1)
    network = build_model(new_config)
    warm_start(network, new_config, tmp_path / "old.safetensors")
    new = Lifter(network, new_config, device="cpu")
    data = pitched_views(4, 6)
    expected = old.lift(data["kp2d"], data["conf"], K).positions
    np.testing.assert_allclose(new.lift(data["kp2d"], data["conf"], K).positions, expected, atol=1e-5)
    np.testing.assert_allclose(new.lift(data["kp2d"], data["conf"], K, up=data["up"]).positions, expected,
                               atol=1e-5)  # the new channels start at zero
    other = LifterConfig.create(model, "h36m17", gravity=True, **SMALL[model])  # without the confidence channel
    with pytest.raises(ValueError, match="gravity aside"):
        warm_start(build_model(other), other, tmp_path / "old.safetensors")
